// A local reply of the request phase goes through the response callbacks of the replying filter and of the filters
// before it, last to first, as Envoy sends it (FilterManager::sendLocalReplyViaFilterChain):
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters
// They see, and may change, the reply's status, headers and body. The headers are Envoy's Utility::sendLocalReply
// set: `:status`, the module's additional headers (added as addCopy adds), then `content-length` and, when there
// is a body and no content type, `content-type: text/plain`. A filter the host answered for (VM failure, refused
// configuration) is passed by, as a failed VM runs no callback. A new local reply from a response headers callback
// while the reply is encoded is sent as it is and the filters left are skipped (Envoy's sendDirectLocalReply, the
// response having started); one from a body callback is ignored (Envoy would reset the stream: see docs/gateway.md).
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HttpStream } from './proxy-wasm/http-stream.ts';
import type { LocalReply } from './proxy-wasm/types.ts';

/** The response headers Envoy builds for a local reply, `:status` first. */
export function localReplyHeaders(reply: LocalReply): HeaderMap {
  const headers = new HeaderMap();
  headers.add(':status', String(reply.status));
  for (const [name, value] of reply.headers) headers.add(name, value);
  if (reply.body.length > 0) {
    headers.replace('content-length', String(reply.body.length));
    if (headers.first('content-type') === undefined) headers.add('content-type', 'text/plain');
  }
  return headers;
}

/**
 * Runs a local reply through the response callbacks of the first `count` streams (in chain order: the replying
 * filter and those before it), last to first: response headers with `:status` first (end of stream when the body
 * is empty), then the body as one final chunk. Returns the reply as they left it (status from `:status`, headers
 * without it, body). Synchronous unless a stream pauses (awaits an http_call) in its response headers callback:
 * then a promise, the remaining streams running after it resumes. The filter chain calls this on every local
 * reply, so the common case allocates no promise.
 */
export function encodeLocalReplyThrough(streams: readonly HttpStream[], count: number, reply: LocalReply): LocalReply | Promise<LocalReply> {
  return encodeHeadersFrom(streams, count, count - 1, localReplyHeaders(reply), reply);
}

function encodeHeadersFrom(
  streams: readonly HttpStream[], count: number, first: number, headers: HeaderMap, reply: LocalReply,
): LocalReply | Promise<LocalReply> {
  const endOfStream = reply.body.length === 0;
  for (let i = first; i >= 0; i--) {
    const stream = streams[i] as HttpStream;
    if (stream.hasFailed) continue;
    const outcome = stream.onResponseHeaders(headers, endOfStream);
    if (outcome.action === 'localReply') return directReply(outcome);
    if (outcome.action === 'pause') {
      return outcome.resume.then((settled) => (settled.action === 'localReply'
        ? directReply(settled)
        : encodeHeadersFrom(streams, count, i - 1, headers, reply)));
    }
  }
  return encodeBody(streams, count, headers, reply);
}

/** A local reply sent while another is encoded: as it is, past the filters left. */
function directReply(reply: LocalReply): LocalReply {
  const headers = localReplyHeaders(reply);
  headers.remove(':status');
  return { ...reply, headers: headers.toList() };
}

function encodeBody(streams: readonly HttpStream[], count: number, headers: HeaderMap, reply: LocalReply): LocalReply {
  let body = reply.body;
  if (body.length > 0) {
    for (let i = count - 1; i >= 0; i--) {
      const stream = streams[i] as HttpStream;
      if (stream.hasFailed) continue;
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
