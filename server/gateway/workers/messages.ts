// The messages between the gateway's main thread (worker-gateway.ts) and its worker threads (gateway-worker.ts).
// Everything here is structured-cloneable plain data: snapshots are proto3 JSON already.
import type { Snapshot } from '../../envoy/resources.ts';
import type { MetricsState } from '../gateway-metrics.ts';
import type { TracingConfig } from '../../telemetry/tracing-config.ts';
import type { GatewayRequestRecord } from '../telemetry.ts';

/** What a worker starts with (workerData). */
export interface WorkerInit {
  readonly index: number;
  /** Its own descriptor of the shared traffic socket (listen-socket.ts). */
  readonly fd: number;
  /** The configuration to serve before accepting (the gateway's current one), or null before the first. */
  readonly snapshot: Snapshot | null;
  readonly listenerName: string | undefined;
  readonly logLevel: string;
  /** The gateway's proxy shared data (SharedMemoryData), one store for every worker. */
  readonly sharedData: SharedArrayBuffer;
  /** Whether to send request records (the gateway has an onRequestComplete). */
  readonly wantsRecords: boolean;
  /** Each worker exports its own spans (a tracer cannot cross threads); null: no tracing. */
  readonly tracing: TracingConfig | null;
}

/** Requests from main; each carries an id its reply repeats. */
export type MainRequest =
  | { type: 'prepare'; id: number; snapshot: Snapshot }
  | { type: 'commit'; id: number; prepared: number }
  | { type: 'discard'; id: number; prepared: number }
  | { type: 'metrics'; id: number }
  /** Sends the records held (before the reply, so main has them when the reply arrives). */
  | { type: 'flush-records'; id: number }
  | { type: 'close'; id: number };

export type WorkerReply =
  | { type: 'reply'; id: number; ok: true; metrics?: MetricsState }
  | { type: 'reply'; id: number; ok: false; error: string };

/** Unrequested messages from a worker. */
export type WorkerEvent =
  /** Posted just before it opens its descriptor: from then on the worker closes it, never main. */
  | { type: 'adopting' }
  | { type: 'started'; version: string | null }
  | { type: 'records'; records: GatewayRequestRecord[] }
  /** One pino line, logged again on main (its destination, its redaction). */
  | { type: 'log'; line: string };

export type WorkerMessage = WorkerReply | WorkerEvent;
