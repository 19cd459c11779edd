// The host-side state of one HTTP stream (one request/response) inside one plugin. Members a request rarely
// uses (trailers, pending calls, custom properties) are created on first use: one stream is created per request.
import { HeaderMap } from './header-map.ts';
import type { LocalReply, RequestInfo } from './types.ts';

const EMPTY = new Uint8Array(0);

/** What an http call's response needs of the stream that made the call (HttpStream; declared here, not imported, so
 * the state stays a leaf below the stream). */
export interface StreamOwner {
  afterHttpCallResponse(trapped: boolean): void;
}

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
  owner: StreamOwner | null = null;
  // Header map lifetime, as Envoy's Context holds its map pointers: the request map from on_request_headers until
  // that callback returns Continue (or the module continues the stream), the response map likewise; in on_log the
  // access log's copies are readable. Outside those the maps answer BadArgument and header properties NotFound.
  requestHeadersLive = false;
  responseHeadersLive = false;
  isLogPhase = false;

  private requestHeadersMap: HeaderMap | null;

  constructor(
    public contextId: number,
    /** null: an empty map created on first use (the headers callback normally brings the request's own). */
    requestHeaders: HeaderMap | null,
    public info: RequestInfo,
    public timeNanos: bigint,
  ) {
    this.requestHeadersMap = requestHeaders;
  }

  /** Makes this state a fresh one for another stream (HttpStream objects are reused across requests). */
  reset(contextId: number, info: RequestInfo, timeNanos: bigint): void {
    this.contextId = contextId;
    this.info = info;
    this.timeNanos = timeNanos;
    this.requestHeadersMap = null;
    this.requestTrailersMap = null;
    this.responseTrailersMap = null;
    this.responseHeadersMap = null;
    this.pendingCallTokens = null;
    this.customProperties = null;
    this.requestBody = EMPTY;
    this.responseBody = EMPTY;
    this.requestBodyEnded = false;
    this.responseBodyEnded = false;
    this.localReply = null;
    this.continueRequested = false;
    this.isClosed = false;
    this.owner = null;
    this.requestHeadersLive = false;
    this.responseHeadersLive = false;
    this.isLogPhase = false;
  }

  /** The request map a module may read now (live, or the access log's copy in on_log), else null. */
  get readableRequestHeaders(): HeaderMap | null {
    return this.requestHeadersLive || this.isLogPhase ? this.requestHeaders : null;
  }

  /** The response map a module may read now, else null (in on_log only when there was a response). */
  get readableResponseHeaders(): HeaderMap | null {
    if (this.responseHeadersLive) return this.responseHeaders;
    return this.isLogPhase ? this.responseHeadersMap : null;
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
