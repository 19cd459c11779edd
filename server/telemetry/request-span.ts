// The SERVER span of a management request, and how handlers name what they matched (the GraphQL operation, the
// REST route) without knowing about tracing: the management server registers the span per request; nameRequest
// does nothing on an untraced request. Keyed by the request object (a WeakMap), so servers never share anything.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { endWithStatus, startServerSpan } from './server-span.ts';

/** The GraphQL operation's name and type (`query`, `mutation`, `subscription`), semantic-convention names. */
export const graphqlAttributes = { operationName: 'graphql.operation.name', operationType: 'graphql.operation.type' } as const;

const spans = new WeakMap<IncomingMessage, Span>();

/**
 * A SERVER span for `req` (server-span.ts), ended with the status when the response is over: never a body, a
 * credential or the Authorization header.
 */
export function traceRequest(tracer: Tracer, req: IncomingMessage, res: ServerResponse): void {
  const { span } = startServerSpan(tracer, req);
  spans.set(req, span);
  res.once('close', () => {
    spans.delete(req);
    if (!res.headersSent) {
      span.setAttribute('error.type', 'connection_closed');
      span.end();
      return;
    }
    endWithStatus(span, res.statusCode);
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
