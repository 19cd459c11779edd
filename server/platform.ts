import type { Server } from 'node:http';
import { addAccessLogService } from './analytics/als-service.ts';
import { DroppedRecords } from './analytics/dropped-records.ts';
import { AnalyticsRecorder } from './analytics/recorder.ts';
import { startRequestStatsRetention } from './analytics/retention.ts';
import type { RequestRecord } from './analytics/request-record.ts';
import { createAuthenticator } from './auth/authenticator.ts';
import { assertXdsTransport, defaultXdsConfig, type PlatformConfig } from './config.ts';
import { openPlatformPki, pkiSourceOf, type PlatformPki } from './pki/platform-pki.ts';
import { clientAddress, refuseRequest } from './auth/refuse-request.ts';
import { openDatabase, type DatabaseHandle } from './db/client.ts';
import { secureDataDir } from './data-dir.ts';
import { prepareKeysAtRest } from './domain/keys-at-rest.ts';
import { loadPlatformKeys } from './platform-keys.ts';
import { canReadMetrics } from './domain/access/index.ts';
import { addRequestStats } from './domain/analytics.ts';
import { ChangeFeed, type DomainContext, type PlatformKeys } from './domain/context.ts';
import type { DeploymentStatusReader } from './domain/deployment-status.ts';
import { randomPassword } from './domain/secrets.ts';
import { ensureAdmin, type AdminBootstrap } from './domain/users.ts';
import { toSchema } from './graphql/schema/index.ts';
import { createGraphQLRoute } from './graphql/http-route.ts';
import { createGraphQLServer } from './graphql/yoga.ts';
import { createGateway, type Gateway } from './gateway/gateway.ts';
import { createLogger, type Logger } from './logger.ts';
import { createTracing } from './telemetry/tracing.ts';
import { createPolicyModuleHandler, loadPolicyModules, type PolicyModule } from './policy-modules.ts';
import { createRestHandler } from './rest/handler.ts';
import { restRoutes } from './rest/routes.ts';
import { ManagementMetrics } from './management-metrics.ts';
import { closeServer, createManagementServer, listen, type RouteHandler } from './management-server.ts';
import { type ChangeNotify, startChangeNotify } from './db/change-notify.ts';
import { type AdsServer, startAdsServer } from './xds/ads-server.ts';
import { createSnapshotPipeline } from './xds/pipeline.ts';
import { deploymentStatusOf } from './xds/deployment-status.ts';
import type { SnapshotSource } from './envoy/resources.ts';
import { SnapshotRunner, type SnapshotPipeline } from './xds/runner.ts';
import { SnapshotCache } from './xds/snapshot-cache.ts';

export interface Platform {
  ports: { management: number; gateway: number | null; xds: number | null; gatewayAdmin: number | null };
  /** Where each port listens (`host:port`), for operators to see what is exposed. */
  addresses: { management: string; gateway: string | null; xds: string; gatewayAdmin: string | null };
  /** Whether data planes must present a client certificate on the xDS port. */
  isXdsMutualTls: boolean;
  /** The platform CA: issues data planes' xDS client certificates (the CLI and GraphQL use the same CA). */
  pki: PlatformPki;
  database: DatabaseHandle;
  /** The keys held outside the database (digest key, secrets box). */
  keys: PlatformKeys;
  /** How the admin user came to be at this start (a generated password is here, once). */
  admin: AdminBootstrap;
  changes: ChangeFeed;
  /** The compiled policy modules served at /policies/<name>.wasm. */
  policyModules: ReadonlyMap<string, PolicyModule>;
  /** Envoy configuration snapshots, as served over ADS; the embedded gateway consumes them in-process. */
  snapshots: SnapshotSource;
  /** Rebuilds the snapshot from the database now (after any build in flight). */
  rebuildSnapshot(): Promise<void>;
  /** Request analytics fed by the embedded gateway and Envoy's access-log service; `flush()` writes every pending minute now. */
  analytics: { flush(): Promise<void>; dropped: DroppedRecords };
  logger: Logger;
  close(): Promise<void>;
}

export interface PlatformOptions {
  logger?: Logger;
  now?: () => Date;
  /** Replaces the model → snapshot steps (tests). @default the real loader, translator and validator */
  snapshotPipeline?: SnapshotPipeline<unknown>;
  /** Snapshot rebuild timings. @default SnapshotRunner's defaults */
  snapshotTiming?: { debounceMs?: number; refreshIntervalMs?: number };
}

/** A host data planes on this machine can reach when we listen on every interface. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function address(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Composition root: opens storage, bootstraps the admin, starts the servers. Returns them started. */
export async function createPlatform(config: PlatformConfig, options: PlatformOptions = {}): Promise<Platform> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const xdsConfig = config.xds ?? defaultXdsConfig;
  assertXdsTransport(config.xdsHost, xdsConfig);
  // DATA_DIR owner-only before anything is written to it (key files, PGlite), and again after PGlite opened it.
  secureDataDir(config.dataDir);
  const keys = loadPlatformKeys({ keyDigestSecret: config.keyDigestSecret, secretsKey: config.secretsKey, dataDir: config.dataDir });
  // The CA lives beside the database files (or in the given files), never in the database.
  const pki = await openPlatformPki(pkiSourceOf(config.dataDir, xdsConfig.caFiles), [config.xdsHost, ...xdsConfig.serverNames]);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  if (!config.databaseUrl) secureDataDir(config.dataDir);
  try {
    const converted = await prepareKeysAtRest(database.db, keys);
    if (converted.rekeyedDigests + converted.sealedSecrets > 0) logger.info(converted, 'stored keys and secrets converted to keyed digests and sealed values');
  } catch (error: unknown) {
    await database.close();
    throw error;
  }
  const changes = new ChangeFeed();
  const now = options.now ?? (() => new Date());
  const domain: Omit<DomainContext, 'actor'> = { db: database.db, changes, now, settings: config.settings, keys, dataPlaneCertificates: pki };
  const admin = await ensureAdmin(domain, config.admin ?? null, randomPassword);

  const authenticate = createAuthenticator({ db: database.db, jwt: config.jwtAuth, throttle: config.loginThrottle });
  // Bound once the xDS runner and ADS server exist (below); GraphQL is built before them.
  let readDeployment: DeploymentStatusReader = () => ({ version: null, problems: [], apis: [], dataPlanes: [] });
  const graphql = createGraphQLServer({
    schema: toSchema(),
    domain,
    logger,
    deploymentStatus: () => readDeployment(),
    limits: config.graphqlLimits,
    corsOrigins: config.corsOrigins,
  });

  const policyModules = loadPolicyModules();
  const rest = createRestHandler({ routes: restRoutes, authenticate, domain, logger });

  const metrics = new ManagementMetrics();
  const dropped = new DroppedRecords();
  // Spans of management requests and of the embedded gateway, to OTLP; none at all without an endpoint.
  const tracing = createTracing(config.tracing ?? null);

  // Order: cheap exact paths first; then GraphQL (owns /graphql only); REST last, because it also
  // answers its unprefixed legacy paths and must not shadow anything above.
  const handlers: RouteHandler[] = [
    (req, res) => {
      if (req.url !== '/healthz') return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return true;
    },
    // Prometheus scrapes with basic_auth like any client; the figures are operational, but not public.
    async (req, res) => {
      if (req.url !== '/metrics') return false;
      const outcome = await authenticate(req.headers.authorization, clientAddress(req));
      if (outcome.kind !== 'authenticated') {
        await refuseRequest(req, res, outcome, { contentType: 'application/json', text: (message) => JSON.stringify({ status: 'error', message }) });
        return true;
      }
      if (!canReadMetrics(outcome.actor)) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', message: 'Not allowed' }));
        return true;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render(readDeployment(), dropped));
      return true;
    },
    // Authenticates before yoga reads the body; serves GraphiQL and its assets without credentials.
    createGraphQLRoute({ graphql, authenticate }),
    createPolicyModuleHandler(policyModules),
    rest,
  ];
  const management: Server = createManagementServer(handlers, logger, metrics, tracing?.tracer);
  const managementPort = await listen(management, config.managementPort, config.managementHost);
  logger.info({ host: config.managementHost, port: managementPort, driver: database.driver }, 'management api listening');

  // Data planes get configuration from their first request: the first snapshot is built before xDS listens.
  // It is built after the management server listens, since the wasm filters name its URL.
  const snapshots = new SnapshotCache();
  const pipeline: SnapshotPipeline<unknown> =
    options.snapshotPipeline ??
    createSnapshotPipeline({
      policyModules,
      controlPlaneUrl: `http://${reachableHost(config.managementHost)}:${managementPort}`,
      listenerPort: config.gatewayPort,
      downstreamTls: config.gatewayTls,
      jwksRefreshSeconds: config.jwksRefreshSeconds,
      gatewayJwtKeys: config.gatewayJwtKeys,
      keys,
      basicAuthIterationsPerSecond: config.basicAuthIterationsPerSecond,
      tracing: config.tracing,
    });
  const runner = new SnapshotRunner<unknown>({
    db: database.db,
    changes,
    cache: snapshots,
    pipeline,
    logger,
    now,
    ...options.snapshotTiming,
  });
  await runner.start();
  // Per-minute request counters from every data plane: Envoy streams access logs to the xDS port, the embedded
  // gateway reports in-process; closed minutes are added to the database (see docs/analytics.md).
  const analytics = new AnalyticsRecorder({
    sink: async (increments) => {
      const result = await addRequestStats(database.db, increments);
      dropped.add('unknown_api', result.dropped.unknownApi);
      dropped.add('unknown_plan', result.dropped.unknownPlan);
      dropped.add('unknown_application', result.dropped.unknownApplication);
      if (result.droppedHandles.length > 0) logger.debug({ handles: result.droppedHandles }, 'analytics of unknown apis dropped');
    },
    logger,
    flushIntervalMs: config.analyticsFlushIntervalMs ?? 10_000,
    maxKeysPerMinute: config.analyticsMaxKeysPerMinute,
    dropped,
  });
  const retention = await startRequestStatsRetention({ db: database.db, days: config.requestStatsRetentionDays ?? 30, logger, now });
  /**
   * Every finished request a data plane reports: counted for analytics, and a token the jwt policy could not verify
   * (an unknown kid after the IdP rotated its keys) makes the JWKS URLs be fetched again (rate-limited).
   */
  const observe = (record: RequestRecord) => {
    analytics.record(record);
    if (record.details === 'apip_jwt_invalid' && record.api !== null) pipeline.keysMayHaveRotated?.(record.api);
  };
  const ads: AdsServer = await startAdsServer({
    snapshots,
    logger,
    port: config.xdsPort,
    host: config.xdsHost,
    tls: xdsConfig.isPlaintext ? null : { caCertificate: pki.caCertificate, ...pki.server },
    maxStreamsPerNode: xdsConfig.maxAdsStreamsPerNode,
    addServices: (server) =>
      addAccessLogService(server, {
        record: observe,
        logger,
        isMutualTls: !xdsConfig.isPlaintext,
        maxStreamsPerNode: xdsConfig.maxAccessLogStreamsPerNode,
        onRefused: (reason, entries) => dropped.add(reason, entries),
      }),
  });
  readDeployment = () => deploymentStatusOf(snapshots.current()?.version ?? null, runner.problems(), ads.status(), runner.reachability());
  // Other replicas on the same Postgres learn of our commits, and we of theirs. PGlite is one process only.
  let changeNotify: ChangeNotify | null = null;
  if (database.driver === 'postgres' && config.databaseUrl) {
    changeNotify = await startChangeNotify({
      url: config.databaseUrl,
      onRemoteChange: () => runner.requestRebuild('remote'),
      logger,
    });
    const notify = changeNotify.notify;
    changes.subscribe(() => notify());
  }

  // The embedded data plane reads the same snapshots Envoy gets over ADS, in-process.
  const gateway: Gateway | null = config.embeddedGateway
    ? await createGateway({
        source: snapshots,
        port: config.gatewayPort,
        host: config.gatewayHost,
        logger,
        adminPort: config.gatewayAdminPort,
        adminHost: config.gatewayAdminHost,
        onRequestComplete: observe,
        ...(tracing === null ? {} : { tracer: tracing.tracer, tracing: config.tracing ?? null }),
        workers: config.gatewayWorkers ?? 0,
      })
    : null;
  if (gateway) logger.info({ port: gateway.port, adminPort: gateway.adminPort }, 'embedded gateway listening');

  return {
    ports: { management: managementPort, gateway: gateway?.port ?? null, xds: ads.port, gatewayAdmin: gateway?.adminPort ?? null },
    addresses: {
      management: address(config.managementHost, managementPort),
      gateway: gateway ? address(config.gatewayHost, gateway.port) : null,
      xds: address(config.xdsHost, ads.port),
      gatewayAdmin: gateway?.adminPort ? address(config.gatewayAdminHost, gateway.adminPort) : null,
    },
    isXdsMutualTls: !xdsConfig.isPlaintext,
    pki,
    database,
    keys,
    admin,
    changes,
    policyModules,
    snapshots,
    rebuildSnapshot: () => runner.rebuild('change'),
    analytics: {
      flush: async () => {
        await gateway?.flushRecords();
        await analytics.flush({ all: true });
      },
      dropped,
    },
    logger,
    close: async () => {
      await gateway?.close();
      await changeNotify?.close();
      await runner.close();
      await ads.close();
      // After every data plane stopped reporting, before the database closes.
      await analytics.close();
      retention.close();
      await closeServer(management);
      // Every span ended by now is exported before close returns.
      await tracing?.shutdown();
      await database.close();
    },
  };
}
