// A local reply goes back through the response callbacks of the filters before the one that replied, as Envoy's
// encoder filters see local replies:
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters
// An earlier filter's response phase sees, and may change, the reply's status, headers and body. The filter that
// replied is not called again (its module produced the response); a local reply from an earlier filter while the
// first is encoded is ignored (the first reply wins, as for two replies on one stream).
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HttpStream } from './proxy-wasm/http-stream.ts';
import type { LocalReply } from './proxy-wasm/types.ts';

/**
 * Runs a local reply through the response callbacks of the first `count` streams (the plugins before the one that
 * replied, in chain order), last to first: response headers with `:status` first (end of stream when the body is
 * empty), then the body as one final chunk. Returns the reply as they left it (status from `:status`, headers,
 * body). Synchronous unless a stream pauses (awaits an http_call) in its response headers callback: then a
 * promise, the remaining streams running after it resumes. The filter chain calls this on every local reply, so
 * the common case allocates no promise.
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
