import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Actor, DomainContext } from '../domain/context.ts';
import type { DeploymentStatusReader } from '../domain/deployment-status.ts';
import { isDatabaseUnavailable, translateDatabaseError } from '../domain/db-errors.ts';
import { DomainError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import type { GraphQLContext } from './builder.ts';
import { introspectionByRolePlugin } from './introspection-by-role.ts';
import { createBurstLog, parseOverflowGuardPlugin } from './parse-overflow-guard.ts';
import { requestErrorStatusPlugin } from './request-error-status.ts';
import { type OperationReporter, operationReportPlugin } from './operation-report.ts';

/** Bounds on an authenticated caller's document, checked before execution (each refusal is a 400). */
export interface GraphQLLimits {
  /** Lexer tokens; also bounds nesting, so the parser's stack. @default 2000 */
  maxTokens: number;
  /** Aliased fields per operation. @default 15 */
  maxAliases: number;
  /** @default 12 */
  maxDepth: number;
  /** @default 20_000 */
  maxCost: number;
}

export const defaultGraphQLLimits: GraphQLLimits = { maxTokens: 2000, maxAliases: 15, maxDepth: 12, maxCost: 20_000 };

export interface GraphQLServerOptions {
  schema: GraphQLSchema;
  /** The domain context without an actor; each request gets its own actor. */
  domain: Omit<DomainContext, 'actor'>;
  logger: Logger;
  /** What the data planes are being served (owned by the xDS runner). */
  deploymentStatus: DeploymentStatusReader;
  /** @default defaultGraphQLLimits */
  limits?: Partial<GraphQLLimits> | undefined;
  /** Origins whose pages may call /graphql with credentials (`CORS_ORIGINS`). None: no CORS headers at all. */
  corsOrigins?: readonly string[] | undefined;
}

/**
 * What the management server's GraphQL route passes in: the caller, authenticated before yoga reads the body.
 * Null only for CORS preflights, which yoga answers without executing anything.
 */
export interface GraphQLServerContext {
  actor: Actor | null;
  /** Told which operation executes (the request's trace). */
  onOperation?: OperationReporter | undefined;
}

export type GraphQLServer = YogaServerInstance<GraphQLServerContext, GraphQLContext>;

/** Largest body yoga reads from an authenticated caller (the token limit refuses far smaller documents). */
const maxRequestBodyBytes = 1024 * 1024;

export function createGraphQLServer(options: GraphQLServerOptions): GraphQLServer {
  const log = options.logger.child({ component: 'graphql' });
  const limits = { ...defaultGraphQLLimits, ...options.limits };
  const corsOrigins = new Set(options.corsOrigins ?? []);
  return createYoga<GraphQLServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // Served by ./graphiql.ts from local assets; yoga's own page loads them from a CDN.
    graphiql: false,
    logging: false,
    maxRequestBodySize: maxRequestBodyBytes,
    // Only listed origins get CORS headers (yoga's default reflects any Origin with credentials).
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (origin === null || !corsOrigins.has(origin)) return false;
      return { origin: [origin], credentials: true, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type', 'accept'], maxAge: 600 };
    },
    // Order: tokens bound the parse, and the overflow guard wraps that parser; aliases and depth are checked
    // before cost so absurd documents fail with the clearer message; the role gate last adds its rule; then every
    // refused document is a 400.
    plugins: [
      maxTokensPlugin({ n: limits.maxTokens }),
      parseOverflowGuardPlugin(createBurstLog(log)),
      maxAliasesPlugin({ n: limits.maxAliases }),
      maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true }),
      costLimitPlugin({ maxCost: limits.maxCost, ignoreIntrospection: true }),
      introspectionByRolePlugin(),
      requestErrorStatusPlugin(),
      // Reporting only: the operation that passed every check above.
      operationReportPlugin(),
    ],
    context: ({ actor }): GraphQLContext => {
      // Unreachable through the management server (it answers 401 first); kept so that yoga fails closed.
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
