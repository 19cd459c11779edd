// The SERVER span of an incoming HTTP request, one rule for the management API (request-span.ts) and the gateway
// (server/gateway/tracing.ts): a client's W3C traceparent/tracestate make it a child (an invalid one starts a new
// trace); only the method, the path without its query (API keys may ride there) and the host are recorded.
import type { IncomingMessage } from 'node:http';
import { type Attributes, type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';

export const w3cPropagator = new W3CTraceContextPropagator();

const requestGetter: TextMapGetter<IncomingMessage> = {
  get: (req, key) => req.headers[key],
  keys: (req) => Object.keys(req.headers),
};

/** The request's SERVER span, named by its method until a route names it, and the context its children take. */
export function startServerSpan(tracer: Tracer, req: IncomingMessage): { span: Span; context: Context } {
  const parent = w3cPropagator.extract(ROOT_CONTEXT, req, requestGetter);
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: queryAt < 0 ? url : url.slice(0, queryAt) };
  const host = req.headers.host;
  // `api.example.com:8080` → `api.example.com`, `[::1]:80` → `[::1]`.
  if (host !== undefined) attributes[ATTR_SERVER_ADDRESS] = host.replace(/:\d*$/, '');
  const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a span with the response status it answered; a 5xx is an error. */
export function endWithStatus(span: Span, status: number): void {
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
