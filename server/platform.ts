import type { Server } from 'node:http';
import { createAuthenticator } from './auth/authenticator.ts';
import type { PlatformConfig } from './config.ts';
import { openDatabase, type DatabaseHandle } from './db/client.ts';
import { ChangeFeed, type DomainContext } from './domain/context.ts';
import { randomPassword } from './domain/secrets.ts';
import { ensureAdmin, type AdminBootstrap } from './domain/users.ts';
import { toSchema } from './graphql/schema/index.ts';
import { createGraphQLServer } from './graphql/yoga.ts';
import { createLogger, type Logger } from './logger.ts';
import { createPolicyModuleHandler, loadPolicyModules, type PolicyModule } from './policy-modules.ts';
import { createRestHandler } from './rest/handler.ts';
import { restRoutes } from './rest/routes.ts';
import { closeServer, createManagementServer, listen, type RouteHandler } from './management-server.ts';

export interface Platform {
  ports: { management: number; gateway: number | null; xds: number | null };
  database: DatabaseHandle;
  /** How the admin user came to be at this start (a generated password is here, once). */
  admin: AdminBootstrap;
  changes: ChangeFeed;
  /** The compiled policy modules served at /policies/<name>.wasm. */
  policyModules: ReadonlyMap<string, PolicyModule>;
  logger: Logger;
  close(): Promise<void>;
}

export interface PlatformOptions {
  logger?: Logger;
  now?: () => Date;
}

/** Composition root: opens storage, bootstraps the admin, starts the servers. Returns them started. */
export async function createPlatform(config: PlatformConfig, options: PlatformOptions = {}): Promise<Platform> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const changes = new ChangeFeed();
  const domain: Omit<DomainContext, 'actor'> = {
    db: database.db,
    changes,
    now: options.now ?? (() => new Date()),
    settings: config.settings,
  };
  const admin = await ensureAdmin(domain, config.admin ?? null, randomPassword);

  const authenticate = createAuthenticator({ db: database.db, jwt: config.jwtAuth });
  const graphql = createGraphQLServer({ schema: toSchema(), authenticate, domain, logger });

  const policyModules = loadPolicyModules();
  const rest = createRestHandler({ routes: restRoutes, authenticate, domain, logger });

  // Order: cheap exact paths first; then GraphQL (owns /graphql only); REST last, because it also
  // answers its unprefixed legacy paths and must not shadow anything above.
  const handlers: RouteHandler[] = [
    (req, res) => {
      if (req.url !== '/healthz') return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return true;
    },
    async (req, res) => {
      if (!req.url?.startsWith('/graphql')) return false;
      await graphql.handle(req, res);
      return true;
    },
    createPolicyModuleHandler(policyModules),
    rest,
  ];
  const management: Server = createManagementServer(handlers, logger);
  const managementPort = await listen(management, config.managementPort, config.host);
  logger.info({ port: managementPort, driver: database.driver }, 'management api listening');

  return {
    ports: { management: managementPort, gateway: null, xds: null },
    database,
    admin,
    changes,
    policyModules,
    logger,
    close: async () => {
      await closeServer(management);
      await database.close();
    },
  };
}
