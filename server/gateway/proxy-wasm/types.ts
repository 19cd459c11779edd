// Public types of the proxy-wasm host (see plugin.ts for the API).

/** Ordered header pairs; names lowercase, HTTP/2 pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`)
 *  first for requests and `:status` for responses, as Envoy presents them to filters. */
export type HeaderList = Array<[name: string, value: string]>;

/** The pino-shaped logger the host writes to (a pino instance satisfies it). */
export interface PolicyLogger {
  level?: string;
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Where the host (and so every policy) reads the current time. Tests pass a manual clock. */
export interface Clock {
  /** Nanoseconds since the Unix epoch. */
  nowNanos(): bigint;
}

/** What the gateway knows about a request beyond its headers; feeds the host properties. */
import type { ConnectionTls } from '../connection-tls.ts';

export interface RequestInfo {
  /** xds.route_name: `<api-id>/<METHOD>/<path-template>`. */
  routeName?: string;
  /** xds.cluster_name of the matched route's upstream. */
  clusterName?: string;
  /** source.address, `ip:port`. */
  sourceAddress?: string;
  /** destination.address, `ip:port`. */
  destinationAddress?: string;
  /** request.protocol, e.g. `HTTP/1.1`. */
  protocol?: string;
  /** connection.id */
  connectionId?: number;
  /** connection.mtls, tls_version, requested_server_name and the peer certificate's; null without TLS. */
  connectionTls?: ConnectionTls | null;
  /** request.time in nanoseconds since the epoch; defaults to the clock at stream creation. */
  timeNanos?: bigint;
}

/** A request sent by a module through proxy_http_call, resolved by the host's cluster resolver. */
export interface HttpCallRequest {
  cluster: string;
  /** Includes `:method`, `:path` and `:authority`. */
  headers: HeaderList;
  body: Uint8Array;
  trailers: HeaderList;
  timeoutMs: number;
}

export interface HttpCallResponse {
  /** Includes `:status`. */
  headers: HeaderList;
  body: Uint8Array;
  trailers: HeaderList;
}

/** Performs a module's proxy_http_call; rejecting makes the module see a failed call (no headers). */
export type HttpCaller = (request: HttpCallRequest) => Promise<HttpCallResponse>;

/** A local reply: the module (or the host, on failure) answered instead of the upstream. */
export interface LocalReply {
  action: 'localReply';
  status: number;
  headers: HeaderList;
  body: Uint8Array;
  /** Envoy's response code details: the module's own, or `wasm_trap` / `wasm_fail_closed` / `wasm_stalled`. */
  details: string;
}

/** Outcome of a headers callback. `pause`: the module awaits an http_call; `resume` settles with the final word. */
export type HeadersOutcome =
  | { action: 'continue' }
  | LocalReply
  | { action: 'pause'; resume: Promise<{ action: 'continue' } | LocalReply> };

/** Outcome of a body callback. `buffer`: the module wants the whole body before deciding (call again with more). */
export type BodyOutcome = { action: 'continue' } | { action: 'buffer' } | LocalReply;
