// The embedded data plane: serves HTTP traffic with the configuration of the latest snapshot that could be
// built, from any SnapshotSource (the ADS server in-process, or an ADS client of a remote control plane). When
// the source stops producing, the last configuration keeps serving.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Snapshot, SnapshotSource } from '../envoy/resources.ts';
import { createAdminServer } from './admin-server.ts';
import { DownstreamServer } from './downstream-server.ts';
import { ConfigHolder } from './config-holder.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { type ModuleFetcher, ModuleCache } from './module-cache.ts';
import { createProxyHandler } from './proxy.ts';
import type { GatewayRequestRecord } from './telemetry.ts';
import { createFetchHttpCaller } from './proxy-wasm/fetch-http-call.ts';
import { SharedDataRegistry } from './proxy-wasm/shared-data.ts';
import { SharedQueues } from './proxy-wasm/shared-queues.ts';
import type { HttpCaller } from './proxy-wasm/types.ts';
import { buildRuntimeConfig, type RuntimeConfig } from './runtime-config.ts';
import { UpstreamPools } from './upstream-pools.ts';
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
  /** OpenTelemetry tracer of every request (server/telemetry/tracing.ts; one per worker thread). @default no tracing */
  tracer?: Tracer;
}

export type { GatewayRequestRecord } from './telemetry.ts';

export interface Gateway {
  readonly port: number;
  /** null without an admin server. */
  readonly adminPort: number | null;
  /** The version of the snapshot being served, or null before the first one. */
  readonly version: string | null;
  /** Builds and swaps in a snapshot (what the source subscription does); rejects when it cannot be built. */
  apply(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger.child({ component: 'gateway' });
  const host = options.host ?? '127.0.0.1';
  const metrics = new GatewayMetrics();
  const pools = new UpstreamPools();
  const modules = new ModuleCache(options.fetchModule);
  // Shared data (throttle and quota counters) and queues belong to this data plane, as to one Envoy: two
  // gateways in one process never share counters.
  const shared = { data: new SharedDataRegistry(), queues: new SharedQueues() };
  const holder = new ConfigHolder({
    onDisposed: (_, live) => {
      pools.retain(live.flatMap((config) => [...config.clusters.values()]));
      modules.retain(new Set(live.flatMap((config) => [...config.digests])));
    },
  });
  // Policies' proxy_http_call goes to an endpoint of the named cluster of the configuration being served.
  const httpCall = options.httpCall ?? createFetchHttpCaller((name) => {
    const cluster = holder.current?.clusters.get(name);
    const endpoint = cluster?.pick();
    if (cluster === undefined || endpoint === undefined) return undefined;
    return `${cluster.tls === null ? 'http' : 'https'}://${endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}`;
  });

  // Builds run one at a time, in arrival order: each builds on the previous configuration (plugin reuse).
  let queue: Promise<unknown> = Promise.resolve();
  let isClosed = false;
  const apply = (snapshot: Snapshot): Promise<void> => {
    const run = queue.then(async () => {
      if (isClosed) return;
      let config: RuntimeConfig;
      try {
        config = await buildRuntimeConfig(snapshot, {
          modules, previous: holder.current, logger, httpCall, shared,
          ...(options.listenerName === undefined ? {} : { listenerName: options.listenerName }),
        });
      } catch (error: unknown) {
        metrics.configRejected();
        logger.error({ version: snapshot.version, err: error, serving: holder.current?.version ?? null }, 'snapshot rejected, keeping the last good configuration');
        throw error;
      }
      holder.swap(config);
      metrics.configApplied(config.version);
      logger.info({ version: config.version, filters: config.filters.length, clusters: config.clusters.size }, 'configuration applied');
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const handler = createProxyHandler({
    holder, pools, metrics, logger, random: options.random ?? Math.random, onRequestComplete: options.onRequestComplete, tracer: options.tracer,
  });
  // TLS, HTTP/2 and WebSocket upgrades as the served listener says (downstream-server.ts). Node's default
  // keep-alive timeout (5 s) is shorter than most clients' pools; Envoy's idle timeout is 1 h.
  const server = new DownstreamServer({
    current: () => holder.current?.downstream ?? null, onRequest: handler, onUpgrade: handler.upgrade, keepAliveTimeoutMs: 60_000,
  });
  const port = await server.listen(options.port, host);
  const admin = options.adminPort === undefined || options.adminPort === null
    ? null
    : createAdminServer(metrics, () => holder.current !== null);
  const adminPort = admin === null ? null : await listen(admin, options.adminPort ?? 0, options.adminHost ?? '127.0.0.1');

  // Subscribe after listening, so that a snapshot already there is applied once, now. The listener returns the
  // apply promise: an ADS client awaits it to ACK or NACK.
  const initial = options.source.current();
  const unsubscribe = options.source.subscribe((snapshot) => {
    const applied = apply(snapshot);
    // A source that ignores the returned promise (the in-process SnapshotCache) must not see an unhandled
    // rejection; the failure is logged in apply, and a source that awaits the promise still sees it.
    applied.catch(() => undefined);
    return applied;
  });
  if (initial !== null) await apply(initial).catch(() => undefined);
  logger.info({ port, adminPort }, 'gateway listening');

  return {
    port,
    adminPort,
    get version() { return holder.current?.version ?? null; },
    apply,
    close: async () => {
      isClosed = true;
      unsubscribe();
      await Promise.all([server.close(), admin === null ? Promise.resolve() : closeServer(admin)]);
      await queue;
      holder.close();
      pools.close();
    },
  };
}
