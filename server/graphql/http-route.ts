import type { Authenticator } from '../auth/authenticator.ts';
import { answerUnread, clientAddress, refuseRequest, type RefusalBody } from '../auth/refuse-request.ts';
import { isDatabaseUnavailable } from '../domain/db-errors.ts';
import type { RouteHandler } from '../management-server.ts';
import { annotateRequest, graphqlAttributes, nameRequest } from '../telemetry/request-span.ts';
import { serveGraphiql } from './graphiql.ts';
import type { GraphQLServer } from './yoga.ts';

export interface GraphQLRouteOptions {
  graphql: GraphQLServer;
  authenticate: Authenticator;
}

const endpoint = '/graphql';

/** GraphQL-over-HTTP's error shape, for the answers given before yoga. */
function errorsJson(message: string, code: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

const graphqlRefusal: RefusalBody = { contentType: 'application/json; charset=utf-8', text: errorsJson };

/** Only JSON bodies: a form or text/plain POST is what a cross-site page can send without a CORS preflight. */
function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';
}

/**
 * /graphql on the management server. The caller is authenticated here, before yoga reads a byte of the body:
 * anonymous documents are never parsed. GraphiQL's page and assets and CORS preflights need no credentials.
 */
export function createGraphQLRoute(options: GraphQLRouteOptions): RouteHandler {
  return async (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname !== endpoint && !pathname.startsWith(`${endpoint}/`)) return false;
    if (serveGraphiql(req, res, pathname, endpoint)) return true;
    if (pathname !== endpoint) return false;
    nameRequest(req, endpoint);
    if (req.method === 'OPTIONS') {
      await options.graphql.handle(req, res, { actor: null });
      return true;
    }
    if (req.method === 'POST' && !isJson(req.headers['content-type'])) {
      await answerUnread(req, res, 415, { 'content-type': graphqlRefusal.contentType }, errorsJson('GraphQL requests must be POSTed as application/json', 'UNSUPPORTED_MEDIA_TYPE'));
      return true;
    }
    let outcome: Awaited<ReturnType<Authenticator>>;
    try {
      outcome = await options.authenticate(req.headers.authorization, clientAddress(req));
    } catch (error: unknown) {
      // Users are read from the database: unreachable, this is the same 503 resolvers give (see yoga.ts).
      if (!isDatabaseUnavailable(error)) throw error;
      const retry = { 'content-type': graphqlRefusal.contentType, 'retry-after': '5' };
      await answerUnread(req, res, 503, retry, errorsJson('Service unavailable: the database cannot be reached. Retry later.', 'SERVICE_UNAVAILABLE'));
      return true;
    }
    if (outcome.kind !== 'authenticated') {
      await refuseRequest(req, res, outcome, graphqlRefusal);
      return true;
    }
    const onOperation = (name: string | null, type: string) => {
      annotateRequest(req, name === null ? { [graphqlAttributes.operationType]: type } : { [graphqlAttributes.operationName]: name, [graphqlAttributes.operationType]: type });
    };
    await options.graphql.handle(req, res, { actor: outcome.actor, onOperation });
    return true;
  };
}
