// What createGateway takes and returns, for both thread models (gateway.ts in-thread, workers/ on threads).
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Snapshot, SnapshotSource } from '../envoy/resources.ts';
import type { TracingConfig } from '../telemetry/tracing-config.ts';
import type { ModuleFetcher } from './module-cache.ts';
import type { GatewayRequestRecord } from './telemetry.ts';
import type { HttpCaller } from './proxy-wasm/types.ts';
import type { RandomSource } from './weighted-choice.ts';

export interface GatewayOptions {
  source: SnapshotSource;
  /** Traffic port; 0 picks a free one. */
  port: number;
  /** @default "127.0.0.1" */
  host?: string;
  logger: Logger;
  /** Admin port (/metrics, /ready); 0 picks a free one. @default no admin server */
  adminPort?: number | null;
  /** Interface of the admin port: operators' only, unlike the traffic port. @default "127.0.0.1" */
  adminHost?: string;
  /** proxy_http_call transport for policies. @default fetch to an endpoint of the named cluster */
  httpCall?: HttpCaller;
  /** Where policy modules are fetched from. @default fetch over HTTP(S) */
  fetchModule?: ModuleFetcher;
  /** Weighted cluster draws. @default Math.random */
  random?: RandomSource;
  /** The listener to serve. @default the first listener with an HttpConnectionManager */
  listenerName?: string;
  /** Called once per finished request (forwarded, local reply, 404, upstream failure, client gone), after the
   *  response ended, for analytics. Must not throw (a throw is logged); costs nothing when unset. */
  onRequestComplete?: (record: GatewayRequestRecord) => void;
  /** Worker threads serving traffic, each with its own module instances and upstream pools (Envoy's
   *  `--concurrency`); 0 serves on the calling thread. `httpCall`, `fetchModule` and `random` are functions, which
   *  cannot cross threads: they are refused with workers > 0. @default 0 (embedding and tests; `npm start` and
   *  `npm run gateway` default to one per core) */
  workers?: number;
  /** OpenTelemetry tracer of every request, in-thread (workers: 0). @default no tracing */
  tracer?: Tracer;
  /** With workers > 0: how each worker thread builds its own tracer (server/telemetry/tracing-config.ts, plain
   *  data: a tracer cannot cross threads). @default no tracing */
  tracing?: TracingConfig | null;
}

export interface Gateway {
  readonly port: number;
  /** null without an admin server. */
  readonly adminPort: number | null;
  /** The version of the snapshot being served, or null before the first one. */
  readonly version: string | null;
  /** Builds and swaps in a snapshot (what the source subscription does); rejects when it cannot be built. */
  apply(snapshot: Snapshot): Promise<void>;
  /** Resolves once every finished request was passed to onRequestComplete (worker threads send them in batches). */
  flushRecords(): Promise<void>;
  close(): Promise<void>;
}

