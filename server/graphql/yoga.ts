import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Authenticator } from '../auth/authenticator.ts';
import type { DomainContext } from '../domain/context.ts';
import type { DeploymentStatusReader } from '../domain/deployment-status.ts';
import { isDatabaseUnavailable, translateDatabaseError } from '../domain/db-errors.ts';
import { DomainError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import type { GraphQLContext } from './builder.ts';

export interface GraphQLServerOptions {
  schema: GraphQLSchema;
  authenticate: Authenticator;
  /** The domain context without an actor; each request gets its own actor. */
  domain: Omit<DomainContext, 'actor'>;
  logger: Logger;
  /** What the data planes are being served (owned by the xDS runner). */
  deploymentStatus: DeploymentStatusReader;
  /** @default 12 */
  maxDepth?: number;
  /** @default 20_000 */
  maxCost?: number;
}

export type GraphQLServer = YogaServerInstance<Record<string, never>, GraphQLContext>;

export function createGraphQLServer(options: GraphQLServerOptions): GraphQLServer {
  const log = options.logger.child({ component: 'graphql' });
  return createYoga<Record<string, never>, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    // Order: depth is checked before cost so absurdly deep queries fail with the clearer message.
    plugins: [
      maxDepthPlugin({ n: options.maxDepth ?? 12, ignoreIntrospection: true }),
      costLimitPlugin({ maxCost: options.maxCost ?? 20_000, ignoreIntrospection: true }),
    ],
    context: async ({ request }): Promise<GraphQLContext> => {
      const actor = await options.authenticate(request.headers.get('authorization'));
      if (!actor) {
        throw new GraphQLError('Authentication required', {
          extensions: {
            code: 'UNAUTHENTICATED',
            http: { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="apip", charset="UTF-8"' } },
          },
        });
      }
      return { actor, domain: { ...options.domain, actor }, deploymentStatus: options.deploymentStatus };
    },
    maskedErrors: {
      maskError: (error, message) => {
        const thrown = rootCause(error);
        // Reads reach the database outside write(): give their input refusals the same treatment.
        const original = thrown instanceof DomainError ? thrown : (translateDatabaseError(thrown) ?? thrown);
        const location = error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {};
        if (original instanceof DomainError) {
          return new GraphQLError(original.message, { ...location, extensions: { code: original.code } });
        }
        // GraphQL's own errors (syntax, validation, the 401 above) are already safe to show.
        if (original instanceof GraphQLError) return original;
        if (isDatabaseUnavailable(original)) {
          log.warn({ err: original }, 'database unavailable');
          return new GraphQLError('Service unavailable: the database cannot be reached. Retry later.', {
            ...location,
            extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: { 'Retry-After': '5' } } },
          });
        }
        log.error({ err: original }, 'unexpected error in resolver');
        return new GraphQLError(message, { ...location, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
  });
}

/** Executors and plugins wrap errors in GraphQLErrors, sometimes twice: find what was really thrown. */
function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}
