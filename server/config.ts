import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { JwtAuthConfig } from './auth/authenticator.ts';
import type { LoginThrottleOptions } from './auth/login-throttle.ts';
import type { DomainSettings } from './domain/context.ts';
import type { GraphQLLimits } from './graphql/yoga.ts';
import { parseKey } from './platform-keys.ts';
import type { IrDownstreamTls } from './xds/ir.ts';
import { type TracingConfig, tracingConfigFromEnv } from './telemetry/tracing-config.ts';

/** Everything the platform needs to start; built from the environment by main.ts, or by tests directly. */
export interface PlatformConfig {
  /** Interface of the management API (GraphQL, REST, /metrics). @default '127.0.0.1' */
  managementHost: string;
  /** Interface of the xDS port (ADS and the access-log service). @default '127.0.0.1' */
  xdsHost: string;
  /** Interface of the embedded gateway's traffic port: the one meant for clients. @default '0.0.0.0' */
  gatewayHost: string;
  /** Interface of the embedded gateway's admin port (/metrics, /ready). @default '127.0.0.1' */
  gatewayAdminHost: string;
  /** How the xDS port authenticates data planes. @default mutual TLS under a CA kept in DATA_DIR/pki */
  xds?: XdsConfig | undefined;
  /** 0 picks a free port. @default 9090 */
  managementPort: number;
  /** @default 8080 */
  gatewayPort: number;
  /** @default 18000 */
  xdsPort: number;
  /** TLS (and mTLS) of the gateway listener, embedded and Envoy alike (`GATEWAY_TLS_*`). @default plaintext */
  gatewayTls?: IrDownstreamTls | undefined;
  /** Run the embedded gateway in this process (off when only Envoys or remote gateways serve traffic). @default true */
  embeddedGateway: boolean;
  /** The embedded gateway's admin port (/metrics, /ready); Envoy's admin keeps 9901. null = none. @default 9902 */
  gatewayAdminPort: number | null;
  /** Worker threads serving the embedded gateway's traffic (`GATEWAY_WORKERS`; 0 = on the management thread).
   *  @default os.availableParallelism() from the environment; 0 when a PlatformConfig leaves it out (tests) */
  gatewayWorkers?: number | undefined;
  /** PGlite directory (or `memory://`) when databaseUrl is unset. @default './data' */
  dataDir: string;
  /** postgres://… selects Postgres. */
  databaseUrl?: string | undefined;
  /** When set, this admin exists with this password at start-up. */
  admin?: { username: string; password: string } | undefined;
  /** Bearer JWTs accepted on the management API. */
  jwtAuth?: JwtAuthConfig | undefined;
  /** @default 'info' */
  logLevel: string;
  settings: DomainSettings;
  /** How often JWKS URLs of JWT plans are re-fetched (rotated keys then reach the data planes). @default 300 */
  jwksRefreshSeconds?: number | undefined;
  /** GATEWAY_KEYS plans' trusted public JWKs per issuer (`GATEWAY_JWT_KEYS`). */
  gatewayJwtKeys?: Record<string, Record<string, unknown>[]> | undefined;
  /** HMAC key of API-key digests (`KEY_DIGEST_SECRET`, base64 of 32 bytes). @default DATA_DIR/key-digest.key, created on first start */
  keyDigestSecret?: Buffer | undefined;
  /** Uncached basic-auth checks per second per data plane, in PBKDF2 iterations (`BASIC_AUTH_ITERATIONS_PER_SECOND`). @default 300000 */
  basicAuthIterationsPerSecond?: number | undefined;
  /** AES-256-GCM key of secrets at rest (`SECRETS_KEY`, base64 of 32 bytes). @default DATA_DIR/secrets.key, created on first start */
  secretsKey?: Buffer | undefined;
  /** How often closed minutes of request analytics are written to the database; 0 = only at shutdown. @default 10000 */
  analyticsFlushIntervalMs?: number | undefined;
  /** Distinct (API, plan, application) rows one minute may gain per flush window; more records are dropped. @default 10000 */
  analyticsMaxKeysPerMinute?: number | undefined;
  /** Days of request_stats kept; older rows are deleted at start and hourly. 0 = kept forever. @default 30 */
  requestStatsRetentionDays?: number | undefined;
  /** Origins whose pages may call /graphql with credentials (`CORS_ORIGINS`). @default none: no CORS headers */
  corsOrigins?: readonly string[] | undefined;
  /**
   * Failed-login throttling (`LOGIN_MAX_FAILURES`, `LOGIN_MAX_FAILURES_PER_ADDRESS`, `LOGIN_WINDOW_SECONDS`).
   * @default 10 per user name, 100 per address, per 15 minutes
   */
  loginThrottle?: LoginThrottleOptions | undefined;
  /** Bounds on GraphQL documents. @default defaultGraphQLLimits */
  graphqlLimits?: Partial<GraphQLLimits> | undefined;
  /** OpenTelemetry traces (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_SAMPLER`, …). @default none: no spans at all */
  tracing?: TracingConfig | null | undefined;
}

/** The xDS port's transport security and bounds. */
export interface XdsConfig {
  /** Plaintext gRPC, for loopback development only (refused unless xdsHost is a loopback address). @default false */
  isPlaintext: boolean;
  /** The platform CA given as files (replicas sharing one CA); else it is created under DATA_DIR/pki. */
  caFiles?: { certFile: string; keyFile: string } | undefined;
  /** Extra names (DNS or IP) in the server certificate, for data planes that reach the xDS port remotely. @default [] */
  serverNames: string[];
  /** ADS streams one data plane may hold. @default 4 */
  maxAdsStreamsPerNode: number;
  /** Access-log streams one data plane may hold (Envoy opens one per worker thread). @default 64 */
  maxAccessLogStreamsPerNode: number;
}

export const defaultXdsConfig: XdsConfig = { isPlaintext: false, serverNames: [], maxAdsStreamsPerNode: 4, maxAccessLogStreamsPerNode: 64 };

/** 127.0.0.0/8, ::1 and localhost: the only hosts plaintext xDS may listen on. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** Fails closed: plaintext xDS would hand every secret of the configuration to anyone who can reach the port. */
export function assertXdsTransport(xdsHost: string, xds: XdsConfig): void {
  if (xds.isPlaintext && !isLoopbackHost(xdsHost)) {
    throw new Error(`XDS_PLAINTEXT=true is allowed only when XDS_HOST is a loopback address (127.0.0.1, ::1, localhost), not '${xdsHost}'; data planes elsewhere need client certificates (npm run dataplane:cert)`);
  }
}

type Env = Record<string, string | undefined>;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name} must be a port number (0-65535), got '${raw}'`);
  }
  return value;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const value = nonNegativeInt(env, name, fallback);
  if (value === 0) throw new Error(`${name} must be at least 1`);
  return value;
}

/** `GATEWAY_WORKERS`: the embedded gateway's worker threads (`npm start`, `npm run gateway`); one per core by
 *  default, as Envoy's `--concurrency`; 0 serves traffic on the main thread. */
export function gatewayWorkersFromEnv(env: Env): number {
  return nonNegativeInt(env, 'GATEWAY_WORKERS', availableParallelism());
}

function isTrue(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '' || ['false', '0', 'no'].includes(raw)) return false;
  if (['true', '1', 'yes'].includes(raw)) return true;
  throw new Error(`${name} must be true or false, got '${env[name]}'`);
}

/** XDS_*: transport security of the xDS port; shared by `npm start` and the certificate CLI. */
export function xdsConfigFromEnv(env: Env): XdsConfig {
  const certFile = env.XDS_CA_CERT_FILE || undefined;
  const keyFile = env.XDS_CA_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('XDS_CA_CERT_FILE and XDS_CA_KEY_FILE must be set together');
  return {
    isPlaintext: isTrue(env, 'XDS_PLAINTEXT'),
    caFiles: certFile && keyFile ? { certFile, keyFile } : undefined,
    serverNames: (env.XDS_SERVER_NAMES ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''),
    maxAdsStreamsPerNode: positiveInt(env, 'XDS_MAX_ADS_STREAMS_PER_NODE', defaultXdsConfig.maxAdsStreamsPerNode),
    maxAccessLogStreamsPerNode: positiveInt(env, 'XDS_MAX_ACCESS_LOG_STREAMS_PER_NODE', defaultXdsConfig.maxAccessLogStreamsPerNode),
  };
}

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

/**
 * `CORS_ORIGINS`: comma-separated origins (`https://console.example.com`), compared exactly with the browser's
 * Origin header, so each must be a bare origin; `*` is refused (credentials are never shared with every site).
 */
export function parseCorsOrigins(value: string | undefined): string[] {
  const origins = (value ?? '').split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (parsed === null || parsed.origin !== origin) {
      throw new Error(`CORS_ORIGINS: '${origin}' is not an origin such as https://console.example.com (scheme, host and port only)`);
    }
  }
  return origins;
}

/**
 * `GATEWAY_JWT_KEYS`: inline JSON, or the path of a JSON or YAML file, holding `{ "<issuer>": [JWK, …] }`. Every key
 * must be a public key with a `kid` (unique across issuers: tokens pick their key by kid); a private key is refused
 * here rather than published to data planes.
 */
export function parseGatewayJwtKeys(value: string, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): Record<string, Record<string, unknown>[]> {
  const text = value.trim();
  let parsed: unknown;
  try {
    parsed = text.startsWith('{') ? JSON.parse(text) : parseYaml(readFile(text));
  } catch (error: unknown) {
    throw new Error(`GATEWAY_JWT_KEYS: cannot read ${text.startsWith('{') ? 'the inline JSON' : `'${text}'`}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('GATEWAY_JWT_KEYS must map issuers to lists of JWKs');
  const kids = new Set<string>();
  const keys: Record<string, Record<string, unknown>[]> = {};
  for (const [issuer, list] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new Error(`GATEWAY_JWT_KEYS: '${issuer}' must be a list of JWKs`);
    keys[issuer] = list.map((jwk: unknown, i) => {
      const at = `GATEWAY_JWT_KEYS: ${issuer}[${i}]`;
      if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error(`${at} must be a JWK object`);
      const { kty, kid, d, k } = jwk as Record<string, unknown>;
      if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw new Error(`${at}: kty must be RSA, EC or OKP (public keys only)`);
      if (d !== undefined || k !== undefined) throw new Error(`${at} is a private key; give its public part`);
      if (typeof kid !== 'string' || kid === '') throw new Error(`${at} needs a kid`);
      if (kids.has(kid)) throw new Error(`${at}: kid '${kid}' is used twice`);
      kids.add(kid);
      return jwk as Record<string, unknown>;
    });
  }
  return keys;
}

const clientCertModes = ['none', 'optional', 'required'] as const;

/**
 * GATEWAY_TLS_*: the listener's certificate and key files (both or neither), and client certificates (mTLS):
 * `GATEWAY_TLS_CLIENT_CERT` none | optional | required, verified against `GATEWAY_TLS_CLIENT_CA_FILE` (required as
 * soon as certificates are asked for; given alone, it means `required`: fail closed). `checkFile` runs on each path
 * when this process serves them itself (the embedded gateway); Envoy reads the same paths on its own machine.
 */
export function gatewayTlsFromEnv(env: Env, checkFile?: (name: string, path: string) => void): IrDownstreamTls | undefined {
  const certFile = env.GATEWAY_TLS_CERT_FILE || undefined;
  const keyFile = env.GATEWAY_TLS_KEY_FILE || undefined;
  const clientCaFile = env.GATEWAY_TLS_CLIENT_CA_FILE || undefined;
  const mode = env.GATEWAY_TLS_CLIENT_CERT || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together');
  if (mode !== undefined && !(clientCertModes as readonly string[]).includes(mode)) {
    throw new Error(`GATEWAY_TLS_CLIENT_CERT must be none, optional or required, got '${mode}'`);
  }
  const clientCert = (mode ?? (clientCaFile === undefined ? 'none' : 'required')) as IrDownstreamTls['clientCert'];
  if (certFile === undefined || keyFile === undefined) {
    if (clientCaFile !== undefined || mode !== undefined) throw new Error('GATEWAY_TLS_CLIENT_CA_FILE and GATEWAY_TLS_CLIENT_CERT need GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE');
    return undefined;
  }
  if (clientCert !== 'none' && clientCaFile === undefined) throw new Error(`GATEWAY_TLS_CLIENT_CERT=${clientCert} needs GATEWAY_TLS_CLIENT_CA_FILE (the CA client certificates are verified against)`);
  if (checkFile) {
    checkFile('GATEWAY_TLS_CERT_FILE', certFile);
    checkFile('GATEWAY_TLS_KEY_FILE', keyFile);
    if (clientCaFile !== undefined && clientCert !== 'none') checkFile('GATEWAY_TLS_CLIENT_CA_FILE', clientCaFile);
  }
  return { certFile, keyFile, ...(clientCert === 'none' ? {} : { clientCaFile }), clientCert };
}

function checkReadable(name: string, path: string): void {
  try {
    accessSync(path, fsConstants.R_OK);
  } catch (error: unknown) {
    throw new Error(`${name}: cannot read '${path}' (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** The environment contract of the design brief; nothing else in the server reads process.env. */
export function configFromEnv(env: Env): PlatformConfig {
  const username = env.ADMIN_USERNAME;
  const password = env.ADMIN_PASSWORD;
  if ((username && !password) || (!username && password)) {
    throw new Error('ADMIN_USERNAME and ADMIN_PASSWORD must be set together');
  }
  const xdsHost = env.XDS_HOST || '127.0.0.1';
  const xds = xdsConfigFromEnv(env);
  assertXdsTransport(xdsHost, xds);
  const embeddedGateway = !['false', '0', 'no'].includes((env.EMBEDDED_GATEWAY ?? '').toLowerCase());
  return {
    // Only the gateway's traffic port is for everyone; the rest stay on loopback unless an operator opens them.
    managementHost: env.MANAGEMENT_HOST || '127.0.0.1',
    xdsHost,
    gatewayHost: env.GATEWAY_HOST || '0.0.0.0',
    gatewayAdminHost: env.GATEWAY_ADMIN_HOST || '127.0.0.1',
    xds,
    managementPort: port(env, 'MANAGEMENT_PORT', 9090),
    gatewayPort: port(env, 'GATEWAY_PORT', 8080),
    xdsPort: port(env, 'XDS_PORT', 18000),
    embeddedGateway,
    gatewayTls: gatewayTlsFromEnv(env, embeddedGateway ? checkReadable : undefined),
    gatewayAdminPort: port(env, 'GATEWAY_ADMIN_PORT', 9902),
    gatewayWorkers: gatewayWorkersFromEnv(env),
    dataDir: env.DATA_DIR || './data',
    databaseUrl: env.DATABASE_URL || undefined,
    admin: username && password ? { username, password } : undefined,
    jwtAuth: env.AUTH_JWT_ISSUER
      ? { issuer: env.AUTH_JWT_ISSUER, audience: env.AUTH_JWT_AUDIENCE, jwksUrl: env.AUTH_JWT_JWKS_URL }
      : undefined,
    logLevel: env.LOG_LEVEL || 'info',
    jwksRefreshSeconds: nonNegativeInt(env, 'JWKS_REFRESH_SECONDS', 300) || 300,
    gatewayJwtKeys: env.GATEWAY_JWT_KEYS ? parseGatewayJwtKeys(env.GATEWAY_JWT_KEYS) : undefined,
    keyDigestSecret: env.KEY_DIGEST_SECRET ? parseKey(env.KEY_DIGEST_SECRET, 'KEY_DIGEST_SECRET') : undefined,
    basicAuthIterationsPerSecond: env.BASIC_AUTH_ITERATIONS_PER_SECOND ? positiveInt(env, 'BASIC_AUTH_ITERATIONS_PER_SECOND', 300_000) : undefined,
    secretsKey: env.SECRETS_KEY ? parseKey(env.SECRETS_KEY, 'SECRETS_KEY') : undefined,
    analyticsFlushIntervalMs: nonNegativeInt(env, 'ANALYTICS_FLUSH_INTERVAL_MS', 10_000),
    analyticsMaxKeysPerMinute: positiveInt(env, 'ANALYTICS_MAX_KEYS_PER_MINUTE', 10_000),
    requestStatsRetentionDays: nonNegativeInt(env, 'REQUEST_STATS_RETENTION_DAYS', 30),
    corsOrigins: parseCorsOrigins(env.CORS_ORIGINS),
    loginThrottle: {
      maxFailures: positiveInt(env, 'LOGIN_MAX_FAILURES', 10),
      maxFailuresPerAddress: positiveInt(env, 'LOGIN_MAX_FAILURES_PER_ADDRESS', 100),
      windowMs: positiveInt(env, 'LOGIN_WINDOW_SECONDS', 900) * 1000,
    },
    tracing: tracingConfigFromEnv(env),
    settings: {
      apiKeyQuotaPerUser: nonNegativeInt(env, 'API_KEY_QUOTA_PER_USER', 10),
      apiKeyRenewGraceSeconds: nonNegativeInt(env, 'API_KEY_RENEW_GRACE_SECONDS', 0),
    },
  };
}
