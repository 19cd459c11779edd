// The host-side state of one HTTP stream (one request/response) inside one plugin.
import { HeaderMap } from './header-map.ts';
import type { LocalReply, RequestInfo } from './types.ts';

export class StreamState {
  readonly requestTrailers = new HeaderMap();
  readonly responseTrailers = new HeaderMap();
  responseHeaders = new HeaderMap();
  requestBody: Uint8Array = new Uint8Array(0);
  responseBody: Uint8Array = new Uint8Array(0);
  requestBodyEnded = false;
  responseBodyEnded = false;
  /** Set by proxy_send_local_response; the chain stops there. */
  localReply: LocalReply | null = null;
  /** Set by proxy_continue_stream while the stream is paused. */
  continueRequested = false;
  /** Set by proxy_close_stream. */
  isClosed = false;
  /** proxy_http_call tokens still awaiting a response. */
  readonly pendingCalls = new Set<number>();
  /** Values written with proxy_set_property, by NUL-joined path. */
  readonly properties = new Map<string, Uint8Array>();

  constructor(
    readonly contextId: number,
    public requestHeaders: HeaderMap,
    readonly info: RequestInfo,
    readonly timeNanos: bigint,
  ) {}
}
