// The SERVER span of a management request, and how handlers name what they matched (the GraphQL operation, the
// REST route) without knowing about tracing: the management server registers the span per request; nameRequest
// does nothing on an untraced request. Keyed by the request object (a WeakMap), so servers never share anything.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Attributes, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVER_ADDRESS, ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';

/** The GraphQL operation's name and type (`query`, `mutation`, `subscription`), semantic-convention names. */
export const graphqlAttributes = { operationName: 'graphql.operation.name', operationType: 'graphql.operation.type' } as const;

const propagator = new W3CTraceContextPropagator();
const spans = new WeakMap<IncomingMessage, Span>();

const requestGetter: TextMapGetter<IncomingMessage> = {
  get: (req, key) => req.headers[key],
  keys: (req) => Object.keys(req.headers),
};

/**
 * A SERVER span for `req` (a client's W3C traceparent makes it a child; an invalid one starts a new trace), ended
 * with the status when the response is over. Only the method, path (no query), host and status are recorded
 * here: never a body, a credential or the Authorization header.
 */
export function traceRequest(tracer: Tracer, req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: queryAt < 0 ? url : url.slice(0, queryAt) };
  const host = req.headers.host;
  if (host !== undefined) attributes[ATTR_SERVER_ADDRESS] = host.replace(/:\d*$/, '');
  const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, propagator.extract(ROOT_CONTEXT, req, requestGetter));
  spans.set(req, span);
  res.once('close', () => {
    spans.delete(req);
    if (!res.headersSent) {
      span.setAttribute('error.type', 'connection_closed');
      span.end();
      return;
    }
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/** The route that answers `req` (`POST /graphql`, `GET /apis/{id}`): the span's name and http.route. */
export function nameRequest(req: IncomingMessage, route: string, attributes: Attributes = {}): void {
  const span = spans.get(req);
  if (span === undefined) return;
  span.updateName(`${req.method ?? 'GET'} ${route}`);
  span.setAttributes({ [ATTR_HTTP_ROUTE]: route, ...attributes });
}

/** Adds to the span of `req`, if traced (the GraphQL operation, once yoga knows it). */
export function annotateRequest(req: IncomingMessage, attributes: Attributes): void {
  spans.get(req)?.setAttributes(attributes);
}
