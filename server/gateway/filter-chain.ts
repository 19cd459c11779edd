// The HTTP filter chain of one request, over the proxy-wasm host's streams. Order is Envoy's: decoder callbacks
// (request headers, request body) in chain order, encoder callbacks (response headers, response body) in reverse
// order; https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#filter-ordering
// The first local reply stops the chain and the upstream is not called. This runs HttpStreams directly rather
// than the host's ChainStream because it also needs the body phases and filters that failed to load (which
// answer in their place in the chain).
import { failClosedReply } from './proxy-wasm/failures.ts';
import type { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HttpStream } from './proxy-wasm/http-stream.ts';
import type { Plugin } from './proxy-wasm/plugin.ts';
import type { LocalReply, RequestInfo } from './proxy-wasm/types.ts';

/** One wasm filter of the runtime configuration: a running plugin, or one whose module could not be loaded. */
export type ChainFilter =
  | { readonly kind: 'plugin'; readonly name: string; readonly plugin: Plugin }
  | { readonly kind: 'failed'; readonly name: string; readonly reason: string };

export type PhaseOutcome = { action: 'continue' } | LocalReply;
/** Body data to pass on (`null` while a filter buffers), or a local reply. */
export type BodyPhaseOutcome = { action: 'data'; data: Uint8Array | null } | LocalReply;

const CONTINUE: PhaseOutcome = { action: 'continue' };

export class FilterChainRun {
  private readonly streams: HttpStream[] = [];
  /** A filter that could not load: requests reaching it fail closed. */
  private readonly failure: LocalReply | null = null;

  constructor(filters: readonly ChainFilter[], info: RequestInfo) {
    for (const filter of filters) {
      if (filter.kind === 'failed') {
        this.failure = failClosedReply();
        break;
      }
      this.streams.push(filter.plugin.createHttpContext(info));
    }
  }

  /** Decoder headers callbacks in chain order. Synchronous unless a filter pauses (it awaits an http_call): then
   *  a promise of the outcome, the remaining filters running after it resumes. */
  requestHeaders(headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    return this.requestHeadersFrom(0, headers, endOfStream);
  }

  private requestHeadersFrom(first: number, headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    const streams = this.streams;
    for (let i = first; i < streams.length; i++) {
      const outcome = (streams[i] as HttpStream).onRequestHeaders(headers, endOfStream);
      if (outcome.action === 'continue') continue;
      if (outcome.action === 'localReply') return outcome;
      return outcome.resume.then((settled) => (settled.action === 'localReply' ? settled : this.requestHeadersFrom(i + 1, headers, endOfStream)));
    }
    return this.failure ?? CONTINUE;
  }

  requestBody(chunk: Uint8Array, endOfStream: boolean): BodyPhaseOutcome {
    let data = chunk;
    for (const stream of this.streams) {
      const outcome = stream.onRequestBody(data, endOfStream);
      if (outcome.action === 'localReply') return outcome;
      if (outcome.action === 'buffer') return { action: 'data', data: null };
      data = stream.requestBody;
    }
    return { action: 'data', data };
  }

  /** Encoder headers callbacks in reverse order; synchronous unless a filter pauses, as requestHeaders. */
  responseHeaders(headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    return this.responseHeadersFrom(this.streams.length - 1, headers, endOfStream);
  }

  private responseHeadersFrom(first: number, headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    const streams = this.streams;
    for (let i = first; i >= 0; i--) {
      const outcome = (streams[i] as HttpStream).onResponseHeaders(headers, endOfStream);
      if (outcome.action === 'continue') continue;
      if (outcome.action === 'localReply') return outcome;
      return outcome.resume.then((settled) => (settled.action === 'localReply' ? settled : this.responseHeadersFrom(i - 1, headers, endOfStream)));
    }
    return CONTINUE;
  }

  responseBody(chunk: Uint8Array, endOfStream: boolean): BodyPhaseOutcome {
    let data = chunk;
    for (let i = this.streams.length - 1; i >= 0; i--) {
      const stream = this.streams[i];
      if (stream === undefined) continue;
      const outcome = stream.onResponseBody(data, endOfStream);
      if (outcome.action === 'localReply') return outcome;
      if (outcome.action === 'buffer') return { action: 'data', data: null };
      data = stream.responseBody;
    }
    return { action: 'data', data };
  }

  /** proxy_on_done / on_log / on_delete for every stream; always called once per request. */
  done(): void {
    for (const stream of this.streams) stream.onDone();
  }
}
