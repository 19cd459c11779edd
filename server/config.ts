import type { JwtAuthConfig } from './auth/authenticator.ts';
import type { DomainSettings } from './domain/context.ts';

/** Everything the platform needs to start; built from the environment by main.ts, or by tests directly. */
export interface PlatformConfig {
  /** Interface to listen on. @default '0.0.0.0' */
  host: string;
  /** 0 picks a free port. @default 9090 */
  managementPort: number;
  /** @default 8080 */
  gatewayPort: number;
  /** @default 18000 */
  xdsPort: number;
  /** Run the embedded gateway in this process (off when only Envoys or remote gateways serve traffic). @default true */
  embeddedGateway: boolean;
  /** The embedded gateway's admin port (/metrics, /ready); Envoy's admin keeps 9901. null = none. @default 9902 */
  gatewayAdminPort: number | null;
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

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

/** The environment contract of the design brief; nothing else in the server reads process.env. */
export function configFromEnv(env: Env): PlatformConfig {
  const username = env.ADMIN_USERNAME;
  const password = env.ADMIN_PASSWORD;
  if ((username && !password) || (!username && password)) {
    throw new Error('ADMIN_USERNAME and ADMIN_PASSWORD must be set together');
  }
  return {
    host: env.HOST || '0.0.0.0',
    managementPort: port(env, 'MANAGEMENT_PORT', 9090),
    gatewayPort: port(env, 'GATEWAY_PORT', 8080),
    xdsPort: port(env, 'XDS_PORT', 18000),
    embeddedGateway: !['false', '0', 'no'].includes((env.EMBEDDED_GATEWAY ?? '').toLowerCase()),
    gatewayAdminPort: port(env, 'GATEWAY_ADMIN_PORT', 9902),
    dataDir: env.DATA_DIR || './data',
    databaseUrl: env.DATABASE_URL || undefined,
    admin: username && password ? { username, password } : undefined,
    jwtAuth: env.AUTH_JWT_ISSUER
      ? { issuer: env.AUTH_JWT_ISSUER, audience: env.AUTH_JWT_AUDIENCE, jwksUrl: env.AUTH_JWT_JWKS_URL }
      : undefined,
    logLevel: env.LOG_LEVEL || 'info',
    settings: {
      apiKeyQuotaPerUser: nonNegativeInt(env, 'API_KEY_QUOTA_PER_USER', 10),
      apiKeyRenewGraceSeconds: nonNegativeInt(env, 'API_KEY_RENEW_GRACE_SECONDS', 0),
    },
  };
}
