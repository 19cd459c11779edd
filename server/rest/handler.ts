import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticator.ts';
import { answerUnread, clientAddress, refuseRequest, type RefusalBody } from '../auth/refuse-request.ts';
import { assertPasswordCurrent, canManageApis } from '../domain/access/index.ts';
import type { Actor, DomainContext } from '../domain/context.ts';
import { ForbiddenError, ValidationError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import type { RouteHandler } from '../management-server.ts';
import { nameRequest } from '../telemetry/request-span.ts';
import { BodyParseError, PayloadTooLargeError, readBody, UnsupportedMediaTypeError } from './body.ts';
import { errorBody, errorResponse } from './errors.ts';
import { createRouter, type Route } from './router.ts';

export const restPrefix = '/api/management/v0.9';

export interface RestHandlerOptions {
  routes: readonly Route[];
  authenticate: Authenticator;
  domain: Omit<DomainContext, 'actor'>;
  logger: Logger;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, contentType?: string): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  if (contentType !== undefined) {
    res.writeHead(status, { 'content-type': contentType, ...headers }).end(String(body));
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const restRefusal: RefusalBody = { contentType: 'application/json', text: (message) => JSON.stringify(errorBody(message)) };

/** The anonymous caller of `public` routes: reads nothing of the domain (those routes never call it). */
const anonymous: Actor = { userId: null, username: 'anonymous', role: 'consumer' };

/** The request's body, a parse failure worded as the route says (the reference words it per endpoint). */
async function readRouteBody(req: IncomingMessage, route: Route): Promise<unknown> {
  try {
    return await readBody(req);
  } catch (error: unknown) {
    if (error instanceof BodyParseError && route.parseFailureMessage) throw new ValidationError(error.issues, route.parseFailureMessage(error.detail));
    throw error;
  }
}

/**
 * The v0.9 REST layer as a management-server handler. Routes answer under `/api/management/v0.9`, and
 * unprefixed for old clients with `Deprecation: true` and a `Link` to the successor path.
 */
export function createRestHandler(options: RestHandlerOptions): RouteHandler {
  const router = createRouter(options.routes);
  const log = options.logger.child({ component: 'rest' });

  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const prefixed = url.pathname === restPrefix || url.pathname.startsWith(`${restPrefix}/`);
    const path = prefixed ? url.pathname.slice(restPrefix.length) || '/' : url.pathname;
    const match = router.match(req.method ?? 'GET', path);
    if (match === null) {
      if (!prefixed) return false; // not ours: let the next handler (or the 404) answer
      send(res, 404, errorBody(`No route for ${req.method} ${url.pathname}`));
      return true;
    }
    const headers: Record<string, string> = prefixed
      ? {}
      : { Deprecation: 'true', Link: `<${restPrefix}${path}${url.search}>; rel="successor-version"` };
    if (match === 'method-not-allowed') {
      send(res, 405, errorBody(`Method ${req.method} not allowed on ${url.pathname}`), headers);
      return true;
    }

    nameRequest(req, `${prefixed ? restPrefix : ''}${match.route.path}`);
    const access = match.route.access ?? 'authenticated';
    try {
      // Inside the try: authentication reads users from the database, which may be unreachable (503).
      const outcome = access === 'public' ? { kind: 'authenticated' as const, actor: anonymous } : await options.authenticate(req.headers.authorization, clientAddress(req));
      if (outcome.kind !== 'authenticated') {
        await refuseRequest(req, res, outcome, restRefusal, headers);
        return true;
      }
      const actor = outcome.actor;
      // REST offers no password change: a user who must change its password is refused everything here.
      if (access !== 'public') assertPasswordCurrent(actor);
      // Checked before the body is read, as GraphQL's `manager` scope is: a consumer learns nothing from validation.
      if (access === 'manager' && !canManageApis(actor)) {
        throw new ForbiddenError('This operation requires the admin or developer role');
      }
      const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readRouteBody(req, match.route);
      const result = await match.route.handle({
        params: match.params,
        query: url.searchParams,
        body,
        domain: { ...options.domain, actor },
      });
      send(res, result.status, result.body, { ...headers, ...result.headers }, result.contentType);
    } catch (error: unknown) {
      // The rest of the body stays unread (the connection is closed when it is large).
      if (error instanceof PayloadTooLargeError || error instanceof UnsupportedMediaTypeError) {
        const status = error instanceof PayloadTooLargeError ? 413 : 415;
        await answerUnread(req, res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(errorBody(error.message)));
        return true;
      }
      const mapped = errorResponse(error, match.route.validationMessage);
      if (mapped.unexpected) log.error({ err: error, method: req.method, path }, 'unexpected error in rest route');
      const retry: Record<string, string> = mapped.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(mapped.retryAfterSeconds) };
      send(res, mapped.status, mapped.body, { ...headers, ...retry });
    }
    return true;
  };
}
