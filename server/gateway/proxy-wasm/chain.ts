// Runs several plugins in order for one request, as Envoy's HTTP connection manager runs its filter chain:
// request callbacks in chain order, response callbacks in reverse order (encoder filters run last-to-first,
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#filter-ordering).
// The first local reply stops the chain; the upstream must then not be called. The reply then goes back through
// the response callbacks of the plugins before the one that replied, last to first, as Envoy runs encoder filters
// on a local reply (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters): an earlier
// plugin's response phase sees, and may change, the reply's status, headers and body (encodeLocalReply). The
// plugin that replied is not called again (its module produced the response); a local reply from an earlier plugin
// while the first is encoded is ignored (the first reply wins, as for two replies on one stream).
import { HeaderMap } from './header-map.ts';
import type { HttpStream } from './http-stream.ts';
import type { Plugin } from './plugin.ts';
import type { HeaderList, HeadersOutcome, LocalReply, RequestInfo } from './types.ts';

export type ChainOutcome = { action: 'continue' } | LocalReply;

async function settle(outcome: HeadersOutcome): Promise<ChainOutcome> {
  return outcome.action === 'pause' ? outcome.resume : outcome;
}

export class ChainStream {
  readonly requestHeaders: HeaderMap;
  readonly responseHeaders = new HeaderMap();

  constructor(private readonly streams: HttpStream[], requestHeaders: HeaderList | HeaderMap) {
    this.requestHeaders = requestHeaders instanceof HeaderMap ? requestHeaders : new HeaderMap(requestHeaders);
  }

  /** Request headers through every plugin in order; stops at the first local reply, which then goes through the
   *  response callbacks of the plugins before it (see encodeLocalReply). */
  async onRequestHeaders(endOfStream: boolean): Promise<ChainOutcome> {
    for (let i = 0; i < this.streams.length; i++) {
      const stream = this.streams[i];
      if (stream === undefined) continue;
      const outcome = await settle(stream.onRequestHeaders(this.requestHeaders, endOfStream));
      if (outcome.action === 'localReply') return encodeLocalReplyThrough(this.streams, i, outcome);
    }
    return { action: 'continue' };
  }

  /** Response headers through every plugin in reverse order; mutates `headers` in place. */
  async onResponseHeaders(headers: HeaderList | HeaderMap, endOfStream: boolean): Promise<ChainOutcome> {
    const map = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
    this.responseHeaders.setAll(map.toList());
    for (let i = this.streams.length - 1; i >= 0; i--) {
      const stream = this.streams[i];
      if (stream === undefined) continue;
      const outcome = await settle(stream.onResponseHeaders(this.responseHeaders, endOfStream));
      if (outcome.action === 'localReply') return outcome;
    }
    return { action: 'continue' };
  }

  /** Ends every plugin's stream (proxy_on_done / on_log / on_delete). */
  onDone(): void {
    for (const stream of this.streams) stream.onDone();
  }
}

/**
 * Runs a local reply through the response callbacks of `earlier` (the streams of the plugins before the one that
 * replied, in chain order), last to first: response headers with `:status` first (end of stream when the body is
 * empty), then the body as one final chunk. Returns the reply as they left it (status from `:status`, headers,
 * body). Envoy runs encoder filters on local replies:
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters
 */
export async function encodeLocalReply(earlier: readonly HttpStream[], reply: LocalReply): Promise<LocalReply> {
  return encodeLocalReplyThrough(earlier, earlier.length, reply);
}

/**
 * encodeLocalReply over the first `count` streams of `streams`, synchronous unless one of them pauses (awaits an
 * http_call) in its response headers callback: then a promise, the remaining streams running after it resumes.
 * The gateway's filter chain calls this on every local reply, so the common case allocates no promise.
 */
export function encodeLocalReplyThrough(streams: readonly HttpStream[], count: number, reply: LocalReply): LocalReply | Promise<LocalReply> {
  if (count === 0) return reply;
  const headers = new HeaderMap();
  headers.add(':status', String(reply.status));
  for (const [name, value] of reply.headers) headers.add(name, value);
  return encodeHeadersFrom(streams, count, count - 1, headers, reply);
}

function encodeHeadersFrom(
  streams: readonly HttpStream[], count: number, first: number, headers: HeaderMap, reply: LocalReply,
): LocalReply | Promise<LocalReply> {
  const endOfStream = reply.body.length === 0;
  for (let i = first; i >= 0; i--) {
    const outcome = (streams[i] as HttpStream).onResponseHeaders(headers, endOfStream);
    // A local reply while a local reply is encoded is ignored: the first reply wins.
    if (outcome.action === 'pause') return outcome.resume.then(() => encodeHeadersFrom(streams, count, i - 1, headers, reply));
  }
  return encodeBody(streams, count, headers, reply);
}

function encodeBody(streams: readonly HttpStream[], count: number, headers: HeaderMap, reply: LocalReply): LocalReply {
  let body = reply.body;
  if (body.length > 0) {
    for (let i = count - 1; i >= 0; i--) {
      const stream = streams[i] as HttpStream;
      const outcome = stream.onResponseBody(body, true);
      if (outcome.action !== 'localReply') body = stream.responseBody;
    }
  }
  const status = Number(headers.get(':status'));
  headers.remove(':status');
  return {
    ...reply,
    status: Number.isInteger(status) && status >= 200 && status <= 599 ? status : reply.status,
    headers: headers.toList(),
    body,
  };
}

/** Plugins in chain order (index 0 runs first on the request; its configuration should strip identity headers). */
export class PolicyChain {
  constructor(readonly plugins: readonly Plugin[]) {}

  start(requestHeaders: HeaderList | HeaderMap, info: RequestInfo = {}): ChainStream {
    return new ChainStream(this.plugins.map((plugin) => plugin.createHttpContext(info)), requestHeaders);
  }
}

export function createPolicyChain(plugins: readonly Plugin[]): PolicyChain {
  return new PolicyChain(plugins);
}
