// What the filters of one request read beyond its headers (proxy-wasm properties: addresses, protocol, TLS,
// request.time), computed only when a module asks: most never read the addresses.
import type { IncomingMessage } from 'node:http';
import { type ConnectionTls, connectionTlsOf } from './connection-tls.ts';
import type { RequestInfo } from './proxy-wasm/types.ts';

/** What the filters read beyond headers; computed only when a module asks (most never read the addresses). */
export class LazyRequestInfo implements RequestInfo {
  private time: bigint | undefined;
  private tls: ConnectionTls | null | undefined;

  constructor(private readonly req: IncomingMessage, readonly routeName: string, readonly clusterName: string) {}

  get sourceAddress(): string {
    return `${this.req.socket.remoteAddress ?? ''}:${this.req.socket.remotePort ?? 0}`;
  }

  get destinationAddress(): string {
    return `${this.req.socket.localAddress ?? ''}:${this.req.socket.localPort ?? 0}`;
  }

  get protocol(): string {
    // Envoy names h2 `HTTP/2`; node's compat API says 2.0.
    return this.req.httpVersion === '2.0' ? 'HTTP/2' : `HTTP/${this.req.httpVersion}`;
  }

  get connectionTls(): ConnectionTls | null {
    if (this.tls === undefined) this.tls = connectionTlsOf(this.req.socket);
    return this.tls;
  }

  /** request.time: one value for every filter of the request (Envoy's stream start time). */
  get timeNanos(): bigint {
    return (this.time ??= BigInt(Date.now()) * 1_000_000n);
  }
}
