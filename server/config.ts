import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { JwtAuthConfig } from './auth/authenticator.ts';
import type { DomainSettings } from './domain/context.ts';
import { parseKey } from './platform-keys.ts';

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
  /** How often JWKS URLs of JWT plans are re-fetched (rotated keys then reach the data planes). @default 300 */
  jwksRefreshSeconds?: number | undefined;
  /** GATEWAY_KEYS plans' trusted public JWKs per issuer (`GATEWAY_JWT_KEYS`). */
  gatewayJwtKeys?: Record<string, Record<string, unknown>[]> | undefined;
  /** HMAC key of API-key digests (`KEY_DIGEST_SECRET`, base64 of 32 bytes). @default DATA_DIR/key-digest.key, created on first start */
  keyDigestSecret?: Buffer | undefined;
  /** AES-256-GCM key of secrets at rest (`SECRETS_KEY`, base64 of 32 bytes). @default DATA_DIR/secrets.key, created on first start */
  secretsKey?: Buffer | undefined;
  /** How often closed minutes of request analytics are written to the database; 0 = only at shutdown. @default 10000 */
  analyticsFlushIntervalMs?: number | undefined;
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
    jwksRefreshSeconds: nonNegativeInt(env, 'JWKS_REFRESH_SECONDS', 300) || 300,
    gatewayJwtKeys: env.GATEWAY_JWT_KEYS ? parseGatewayJwtKeys(env.GATEWAY_JWT_KEYS) : undefined,
    keyDigestSecret: env.KEY_DIGEST_SECRET ? parseKey(env.KEY_DIGEST_SECRET, 'KEY_DIGEST_SECRET') : undefined,
    secretsKey: env.SECRETS_KEY ? parseKey(env.SECRETS_KEY, 'SECRETS_KEY') : undefined,
    analyticsFlushIntervalMs: nonNegativeInt(env, 'ANALYTICS_FLUSH_INTERVAL_MS', 10_000),
    settings: {
      apiKeyQuotaPerUser: nonNegativeInt(env, 'API_KEY_QUOTA_PER_USER', 10),
      apiKeyRenewGraceSeconds: nonNegativeInt(env, 'API_KEY_RENEW_GRACE_SECONDS', 0),
    },
  };
}
