// The host-side state of one HTTP stream (one request/response) inside one plugin. Members a request rarely
// uses (trailers, pending calls, custom properties) are created on first use: one stream is created per request.
import { HeaderMap } from './header-map.ts';
import type { HttpStream } from './http-stream.ts';
import type { LocalReply, RequestInfo } from './types.ts';

const EMPTY = new Uint8Array(0);

export class StreamState {
  private requestTrailersMap: HeaderMap | null = null;
  private responseTrailersMap: HeaderMap | null = null;
  private responseHeadersMap: HeaderMap | null = null;
  private pendingCallTokens: Set<number> | null = null;
  private customProperties: Map<string, Uint8Array> | null = null;
  requestBody: Uint8Array = EMPTY;
  responseBody: Uint8Array = EMPTY;
  requestBodyEnded = false;
  responseBodyEnded = false;
  /** Set by proxy_send_local_response; the chain stops there. */
  localReply: LocalReply | null = null;
  /** Set by proxy_continue_stream while the stream is paused. */
  continueRequested = false;
  /** Set by proxy_close_stream. */
  isClosed = false;
  /** The live HttpStream of this state (null once it is done), so http call responses reach it. */
  owner: HttpStream | null = null;

  private requestHeadersMap: HeaderMap | null;

  constructor(
    readonly contextId: number,
    /** null: an empty map created on first use (the headers callback normally brings the request's own). */
    requestHeaders: HeaderMap | null,
    readonly info: RequestInfo,
    readonly timeNanos: bigint,
  ) {
    this.requestHeadersMap = requestHeaders;
  }

  get requestHeaders(): HeaderMap {
    return (this.requestHeadersMap ??= new HeaderMap());
  }

  set requestHeaders(headers: HeaderMap) {
    this.requestHeadersMap = headers;
  }

  get requestTrailers(): HeaderMap {
    return (this.requestTrailersMap ??= new HeaderMap());
  }

  get responseTrailers(): HeaderMap {
    return (this.responseTrailersMap ??= new HeaderMap());
  }

  get responseHeaders(): HeaderMap {
    return (this.responseHeadersMap ??= new HeaderMap());
  }

  set responseHeaders(headers: HeaderMap) {
    this.responseHeadersMap = headers;
  }

  /** proxy_http_call tokens still awaiting a response. */
  get pendingCalls(): Set<number> {
    return (this.pendingCallTokens ??= new Set<number>());
  }

  /** How many proxy_http_call responses are still awaited (no allocation). */
  get pendingCallCount(): number {
    return this.pendingCallTokens === null ? 0 : this.pendingCallTokens.size;
  }

  /** Values written with proxy_set_property, by NUL-joined path. */
  get properties(): Map<string, Uint8Array> {
    return (this.customProperties ??= new Map<string, Uint8Array>());
  }

  /** A value written with proxy_set_property, without creating the map. */
  customProperty(path: string): Uint8Array | undefined {
    return this.customProperties === null ? undefined : this.customProperties.get(path);
  }
}
