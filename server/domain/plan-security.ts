import { importJWK, importSPKI, importX509, type JWK } from 'jose';
import { z } from 'zod';
import type { Executor } from '../db/client.ts';
import { missingAuthorizationServers } from './authorization-servers.ts';
import { type FieldIssue, joinPath } from './errors.ts';
import { clientHeaderName, headerName as httpHeaderName } from './http-primitives.ts';
import { isSealed, type SecretBox } from './secret-box.ts';
import { defaultMaxTokenLifetime, tokenLifetime } from './token-lifetime.ts';

/**
 * Per-type security options of a plan (seed 000, "Types of plans"), validated with zod. The stored form
 * (`plans.security_config`) is the parsed options object of the plan's type; the OAuth2 client secret is
 * kept there for the gateway's introspection calls but is never part of a readable `PlanSecurity`.
 */

export const planSecurityTypes = ['KEYLESS', 'API_KEY', 'JWT', 'OAUTH2'] as const;
export type PlanSecurityType = (typeof planSecurityTypes)[number];

/** Algorithms the jwt policy verifies (design brief, same list as its params in policy-registry.ts); `none` is never accepted. */
export const jwtAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'ES256',
  'ES384',
  'HS256',
  'HS384',
  'HS512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

export const jwtKeyResolvers = ['GIVEN_KEY', 'GATEWAY_KEYS', 'JWKS_URL'] as const;
export type JwtKeyResolver = (typeof jwtKeyResolvers)[number];

export const apiKeyLocations = ['HEADER', 'QUERY'] as const;
export type ApiKeyLocation = (typeof apiKeyLocations)[number];

const headerName = httpHeaderName('Must be a valid HTTP header name');
// The key's header is read from clients, and the gateway drops request headers whose name has `_`.
const keyHeaderName = clientHeaderName('Must be a valid HTTP header name', 'Must not contain an underscore: the gateway drops request headers whose name has one');
// Identity headers are the platform's own; a plan may not make a client's claim look like one (design brief).
const claimHeaderName = headerName.refine((v) => !v.toLowerCase().startsWith('x-apip-'), 'Headers starting with x-apip- are reserved');
const queryParamName = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'Must be 1-128 URL-safe characters');
const claimName = z.string().min(1, 'Must not be empty').max(256, 'Must be at most 256 characters');
const scopes = z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/, 'Must be a scope token (RFC 6749 3.3)')).max(100).default([]);
const httpUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'Must be an http(s) URL');

const apiKeyOptionsSchema = z.strictObject({
  /** Where the gateway reads the key. @default 'HEADER' */
  keyLocation: z.enum(apiKeyLocations).default('HEADER'),
  /** Header or query parameter name holding the key. @default 'x-api-key' (or 'api-key' in the query) */
  keyName: z.string().optional(),
  /** Keep the key on the request sent upstream. @default false */
  propagateKey: z.boolean().default(false),
})
  .transform((o, ctx) => {
    const keyName = o.keyName ?? (o.keyLocation === 'HEADER' ? 'x-api-key' : 'api-key');
    const check = (o.keyLocation === 'HEADER' ? keyHeaderName : queryParamName).safeParse(keyName);
    if (!check.success) {
      ctx.addIssue({ code: 'custom', path: ['keyName'], message: check.error.issues[0]?.message ?? 'Invalid name' });
      return z.NEVER;
    }
    return { keyLocation: o.keyLocation, keyName, propagateKey: o.propagateKey };
  });

const claimToHeader = z.strictObject({ claim: claimName, header: claimHeaderName });

const jwtOptionsSchema = z
  .strictObject({
    /** Allow-list of signature algorithms. @default ['RS256'] */
    signatureAlgorithms: z.array(z.enum(jwtAlgorithms)).min(1, 'At least one algorithm').default(['RS256']),
    keyResolver: z.enum(jwtKeyResolvers),
    /** PEM (public key or certificate), JWK JSON, or an `ssh-rsa` key; only with GIVEN_KEY. */
    givenKey: z.string().max(16_384).optional(),
    /** Only with JWKS_URL. */
    jwksUrl: httpUrl.optional(),
    /** @default null: azp, then aud, then client_id */
    clientIdClaim: claimName.nullable().default(null),
    /** @default 'sub' */
    userClaim: claimName.default('sub'),
    requiredScopes: scopes,
    /** All required scopes (true) or at least one (false). @default false */
    strictScopes: z.boolean().default(false),
    /** Claims copied into request headers. @default [] */
    extractClaims: z.array(claimToHeader).max(50).default([]),
    /** Keep the Authorization header on the upstream request. @default false */
    propagateAuthHeader: z.boolean().default(false),
    /** Clock skew tolerated on exp/nbf/iat. @default 0 */
    leewaySeconds: z.number().int().min(0).max(600).default(0),
    /** Refuse tokens without an `exp` claim. @default true (plans stored before it existed read as false) */
    requireExpiration: z.boolean().default(true),
    /**
     * The longest token lifetime (exp - iat) admitted, a Go-style duration; null: no bound.
     * @default '24h' when requireExpiration, else null (plans stored before it existed read as null)
     */
    maxTokenLifetime: tokenLifetime.nullable().optional(),
  })
  .superRefine((o, ctx) => {
    if (o.keyResolver === 'GIVEN_KEY' && !o.givenKey) ctx.addIssue({ code: 'custom', path: ['givenKey'], message: 'Required when keyResolver is GIVEN_KEY' });
    if (o.keyResolver !== 'GIVEN_KEY' && o.givenKey !== undefined) ctx.addIssue({ code: 'custom', path: ['givenKey'], message: 'Only allowed when keyResolver is GIVEN_KEY' });
    if (o.keyResolver === 'JWKS_URL' && !o.jwksUrl) ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'Required when keyResolver is JWKS_URL' });
    if (o.keyResolver !== 'JWKS_URL' && o.jwksUrl !== undefined) ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'Only allowed when keyResolver is JWKS_URL' });
    if (new Set(o.signatureAlgorithms).size !== o.signatureAlgorithms.length) {
      ctx.addIssue({ code: 'custom', path: ['signatureAlgorithms'], message: 'Algorithms must be distinct' });
    }
    // A token without exp has no lifetime to bound: the bound only makes sense with exp required.
    if (!o.requireExpiration && o.maxTokenLifetime != null) {
      ctx.addIssue({ code: 'custom', path: ['maxTokenLifetime'], message: 'Requires requireExpiration: a token without exp has no lifetime to bound' });
    }
  })
  .transform((o) => ({ ...o, maxTokenLifetime: o.maxTokenLifetime === undefined ? (o.requireExpiration ? defaultMaxTokenLifetime : null) : o.maxTokenLifetime }));

/** `asv_` + 26 base32 characters (server/domain/ids.ts). */
const authorizationServerId = z.string().regex(/^asv_[0-9a-z]{26}$/, 'Must be the id of an authorization server');

/**
 * OAuth2 (RFC 7662 introspection). Either `authorizationServerId` (an authorization server defined once,
 * server/domain/authorization-servers.ts: URL, client credentials, timeout and cache bound live there), or the
 * original inline form `introspectionUrl` + `clientId` + `clientSecret` (+ `cacheTtlSeconds`), kept for
 * compatibility: the deployment model turns an inline plan into an implicit server of its own
 * (`plan:<planId>`). docs/authorization-servers.md.
 */
const oauth2OptionsSchema = z
  .strictObject({
    /** An authorization server; excludes the inline options. */
    authorizationServerId: authorizationServerId.optional(),
    /** Inline form: RFC 7662 introspection endpoint of the authorization server. */
    introspectionUrl: httpUrl.optional(),
    /** Inline form. */
    clientId: z.string().min(1, 'Must not be empty').max(256).optional(),
    /** Inline form. Write-only: stored for introspection, never returned. Omit on update to keep the current one. */
    clientSecret: z.string().min(1, 'Must not be empty').max(1024).optional(),
    /** Inline form: how long an introspection answer is reused; 0 = no cache. @default 0 */
    cacheTtlSeconds: z.number().int().min(0).max(86_400).optional(),
    requiredScopes: scopes,
    /** @default false */
    strictScopes: z.boolean().default(false),
    /** Introspection member holding the client id. @default null: `client_id` */
    clientIdClaim: claimName.nullable().default(null),
    /** Introspection members copied into request headers. @default [] */
    extractClaims: z.array(claimToHeader).max(50).default([]),
    /** Keep the Authorization header on the upstream request. @default false */
    propagateAuthHeader: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    if (o.authorizationServerId !== undefined) {
      for (const key of ['introspectionUrl', 'clientId', 'clientSecret', 'cacheTtlSeconds'] as const) {
        if (o[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'Not allowed with authorizationServerId: set it on the authorization server' });
      }
    }
    // The inline form's required fields are checked in parsePlanSecurity (reported even when other fields fail).
  })
  .transform((o) => {
    const common = {
      requiredScopes: o.requiredScopes,
      strictScopes: o.strictScopes,
      clientIdClaim: o.clientIdClaim,
      extractClaims: o.extractClaims,
      propagateAuthHeader: o.propagateAuthHeader,
    };
    if (o.authorizationServerId !== undefined) return { authorizationServerId: o.authorizationServerId, ...common };
    return {
      introspectionUrl: o.introspectionUrl!,
      clientId: o.clientId!,
      ...(o.clientSecret === undefined ? {} : { clientSecret: o.clientSecret }),
      cacheTtlSeconds: o.cacheTtlSeconds ?? 0,
      ...common,
    };
  });

export type ApiKeyOptions = z.output<typeof apiKeyOptionsSchema>;
export type JwtOptions = z.output<typeof jwtOptionsSchema>;
/**
 * OAuth2 options as stored: with `authorizationServerId`, or inline (`introspectionUrl`, `clientId`, the secret,
 * `cacheTtlSeconds`). Plans stored before authorization servers existed lack `clientIdClaim` / `extractClaims`.
 */
/** What an OAUTH2 plan asks of an active token, read from stored options (older plans lack the claim fields). */
export function oauth2TokenRules(o: StoredOAuth2Options) {
  return {
    requiredScopes: o.requiredScopes,
    strictScopes: o.strictScopes,
    clientIdClaim: o.clientIdClaim ?? null,
    extractClaims: o.extractClaims ?? [],
    propagateAuthHeader: o.propagateAuthHeader,
  };
}

export interface StoredOAuth2Options {
  authorizationServerId?: string;
  introspectionUrl?: string;
  clientId?: string;
  clientSecret?: string;
  cacheTtlSeconds?: number;
  requiredScopes: string[];
  strictScopes: boolean;
  clientIdClaim?: string | null;
  extractClaims?: { claim: string; header: string }[];
  propagateAuthHeader: boolean;
}
/** OAuth2 options as read: the secret is replaced by whether one is set; inline-only fields are null with a server. */
export interface OAuth2Options {
  authorizationServerId: string | null;
  introspectionUrl: string | null;
  clientId: string | null;
  /** Inline form only: a plan with an authorization server has no secret of its own (false). */
  hasClientSecret: boolean;
  cacheTtlSeconds: number | null;
  requiredScopes: string[];
  strictScopes: boolean;
  clientIdClaim: string | null;
  extractClaims: { claim: string; header: string }[];
  propagateAuthHeader: boolean;
}

/** A plan's readable security: the type and that type's options (the others null). */
export interface PlanSecurity {
  type: PlanSecurityType;
  apiKey: ApiKeyOptions | null;
  jwt: (Omit<JwtOptions, 'givenKey'> & { givenKey: string | null }) | null;
  oauth2: OAuth2Options | null;
}

/** What callers send: the type plus the options object of that type (defaults fill the rest). */
export interface PlanSecurityInput {
  type: PlanSecurityType;
  apiKey?: Record<string, unknown> | null | undefined;
  jwt?: Record<string, unknown> | null | undefined;
  oauth2?: Record<string, unknown> | null | undefined;
}

export type StoredSecurityConfig = Record<string, unknown>;

const optionKeys = { API_KEY: 'apiKey', JWT: 'jwt', OAUTH2: 'oauth2' } as const;

/**
 * Validates `input` (at `prefix`, e.g. `security`) into the stored options of its type. `previous` is the
 * stored config of the plan being updated: an OAuth2 client secret omitted on update is kept from it.
 */
export async function parsePlanSecurity(
  input: PlanSecurityInput,
  prefix: string,
  previous: { type: PlanSecurityType; config: StoredSecurityConfig } | null,
): Promise<{ config: StoredSecurityConfig; issues: FieldIssue[] }> {
  const issues: FieldIssue[] = [];
  if (!planSecurityTypes.includes(input.type)) {
    return { config: {}, issues: [{ path: joinPath(prefix, ['type']), message: `Must be one of ${planSecurityTypes.join(', ')}` }] };
  }
  // Options of another type than the chosen one are a mistake worth reporting, not silently dropped.
  for (const [type, key] of Object.entries(optionKeys)) {
    if (type !== input.type && input[key] != null) {
      issues.push({ path: joinPath(prefix, [key]), message: `Only allowed when type is ${type}` });
    }
  }
  if (input.type === 'KEYLESS') return { config: {}, issues };
  const key = optionKeys[input.type];
  const schema = { apiKey: apiKeyOptionsSchema, jwt: jwtOptionsSchema, oauth2: oauth2OptionsSchema }[key];
  // A missing OAuth2 secret (inline form only) is reported with the other problems: on update it is kept from `previous`.
  const keptSecret = previous?.type === 'OAUTH2' ? previous.config.clientSecret : undefined;
  if (input.type === 'OAUTH2' && input.oauth2?.authorizationServerId == null) {
    for (const field of ['introspectionUrl', 'clientId'] as const) {
      if (input.oauth2?.[field] === undefined) issues.push({ path: joinPath(prefix, ['oauth2', field]), message: 'Required' });
    }
    if (input.oauth2?.clientSecret == null && typeof keptSecret !== 'string') issues.push({ path: joinPath(prefix, ['oauth2', 'clientSecret']), message: 'Required' });
  }
  const result = schema.safeParse(input[key] ?? {}, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'Required' : undefined),
  });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const at = joinPath(prefix, [key, ...issue.path]);
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) issues.push({ path: `${at}.${k}`, message: `Not an option of ${input.type}` });
      } else {
        issues.push({ path: at, message: issue.message });
      }
    }
    return { config: {}, issues };
  }
  const config: Record<string, unknown> = { ...result.data };
  if (input.type === 'OAUTH2' && config.authorizationServerId === undefined && config.clientSecret === undefined && typeof keptSecret === 'string') config.clientSecret = keptSecret;
  if (input.type === 'JWT') {
    const jwt = result.data as JwtOptions;
    if (jwt.givenKey !== undefined) {
      const problem = await checkGivenKey(jwt.givenKey, jwt.signatureAlgorithms);
      if (problem) issues.push({ path: joinPath(prefix, ['jwt', 'givenKey']), message: problem });
    }
  }
  return { config, issues };
}

/**
 * The OAuth2 half of plan validation that needs the database: the plan's `authorizationServerId` must name an
 * existing authorization server. Call with the parsed config, in the transaction that stores it.
 */
export async function checkOAuth2References(
  db: Executor,
  type: PlanSecurityType,
  config: StoredSecurityConfig,
  prefix: string,
): Promise<FieldIssue[]> {
  const serverId = type === 'OAUTH2' ? config.authorizationServerId : undefined;
  if (typeof serverId !== 'string') return [];
  const missing = await missingAuthorizationServers(db, [serverId]);
  return missing.length === 0 ? [] : [{ path: joinPath(prefix, ['oauth2', 'authorizationServerId']), message: `No authorization server '${serverId}'` }];
}

/** The readable form of stored options: the OAuth2 secret and a symmetric (oct) JWT key never leave the domain. */
export function toPlanSecurity(type: PlanSecurityType, config: StoredSecurityConfig): PlanSecurity {
  const security: PlanSecurity = { type, apiKey: null, jwt: null, oauth2: null };
  if (type === 'API_KEY') security.apiKey = config as ApiKeyOptions;
  if (type === 'JWT') {
    const jwt = config as JwtOptions;
    const givenKey = jwt.givenKey === undefined || isSealed(jwt.givenKey) || isSymmetricKey(jwt.givenKey) ? null : jwt.givenKey;
    // Plans stored before these options existed admit tokens without exp, for any lifetime, as they always did.
    security.jwt = { ...jwt, givenKey, requireExpiration: jwt.requireExpiration ?? false, maxTokenLifetime: jwt.maxTokenLifetime ?? null };
  }
  if (type === 'OAUTH2') {
    const o = config as unknown as StoredOAuth2Options;
    security.oauth2 = {
      authorizationServerId: o.authorizationServerId ?? null,
      introspectionUrl: o.introspectionUrl ?? null,
      clientId: o.clientId ?? null,
      hasClientSecret: typeof o.clientSecret === 'string',
      cacheTtlSeconds: o.authorizationServerId === undefined ? (o.cacheTtlSeconds ?? 0) : null,
      ...oauth2TokenRules(o),
    };
  }
  return security;
}

function isSymmetricKey(key: string): boolean {
  const jwk = parseJwk(key);
  return jwk?.kty === 'oct';
}

function parseJwk(key: string): JWK | null {
  if (!key.trimStart().startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(key);
    return value !== null && typeof value === 'object' && typeof (value as JWK).kty === 'string' ? (value as JWK) : null;
  } catch {
    return null;
  }
}

/** Algorithm families by key type, so a key is checked against an algorithm it can actually serve. */
function algorithmFor(kind: 'RSA' | 'EC' | 'OKP' | 'oct' | 'any', algorithms: readonly JwtAlgorithm[]): JwtAlgorithm | undefined {
  const fits = (a: JwtAlgorithm) =>
    kind === 'any' ||
    (kind === 'RSA' && /^(RS|PS)/.test(a)) ||
    (kind === 'EC' && a.startsWith('ES')) ||
    (kind === 'OKP' && a === 'EdDSA') ||
    (kind === 'oct' && a.startsWith('HS'));
  return algorithms.find(fits);
}

/** Checks a GIVEN_KEY value with jose (PEM, certificate, JWK) or by structure (ssh-rsa); null when usable. */
async function checkGivenKey(key: string, algorithms: readonly JwtAlgorithm[]): Promise<string | null> {
  const trimmed = key.trim();
  try {
    if (trimmed.startsWith('ssh-rsa ')) {
      const blob = Buffer.from(trimmed.split(/\s+/)[1] ?? '', 'base64');
      const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
      if (blob.subarray(4, 4 + len).toString('latin1') !== 'ssh-rsa') return 'Not a valid ssh-rsa public key';
      return algorithmFor('RSA', algorithms) ? null : 'An ssh-rsa key needs an RS or PS algorithm in signatureAlgorithms';
    }
    const isCertificate = trimmed.startsWith('-----BEGIN CERTIFICATE-----');
    if (isCertificate || trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
      // PEM does not say its key type up front: it is usable when some allowed asymmetric algorithm imports it.
      for (const alg of algorithms.filter((a) => !a.startsWith('HS'))) {
        try {
          await (isCertificate ? importX509(trimmed, alg) : importSPKI(trimmed, alg));
          return null;
        } catch {
          // try the next algorithm
        }
      }
      return 'The key could not be read for the allowed asymmetric algorithms';
    }
    const jwk = parseJwk(trimmed);
    if (jwk) {
      if (jwk.d !== undefined) return 'Must be a public key, not a private one';
      const kty = jwk.kty as 'RSA' | 'EC' | 'OKP' | 'oct';
      const alg = algorithmFor(kty, algorithms);
      if (!alg) return `A ${jwk.kty} key does not fit any algorithm in signatureAlgorithms`;
      await importJWK(jwk, alg);
      return null;
    }
  } catch {
    return 'The key could not be read for the allowed algorithms';
  }
  return 'Must be a PEM public key or certificate, a JWK, or an ssh-rsa key';
}

/**
 * The secrets of stored options, as a map from field to whether it holds a secret: the inline OAuth2 client secret
 * and a symmetric (oct) JWT key are kept sealed (secret-box.ts); public keys stay readable.
 */
function secretFieldsOf(type: PlanSecurityType, config: StoredSecurityConfig): ('clientSecret' | 'givenKey')[] {
  if (type === 'OAUTH2' && typeof config.clientSecret === 'string') return ['clientSecret'];
  if (type === 'JWT' && typeof config.givenKey === 'string' && (isSealed(config.givenKey) || isSymmetricKey(config.givenKey))) return ['givenKey'];
  return [];
}

/** Stored options with their secrets sealed (already sealed values, e.g. a kept OAuth2 secret, stay as they are). */
export function sealSecurityConfig(box: SecretBox, type: PlanSecurityType, config: StoredSecurityConfig): StoredSecurityConfig {
  const out = { ...config };
  for (const field of secretFieldsOf(type, config)) {
    const value = out[field] as string;
    if (!isSealed(value)) out[field] = box.seal(value);
  }
  return out;
}

/** Stored options with their secrets opened: only for the data planes' configuration (deployment.ts). */
export function openSecurityConfig(box: SecretBox, type: PlanSecurityType, config: StoredSecurityConfig): StoredSecurityConfig {
  const out = { ...config };
  for (const field of secretFieldsOf(type, config)) {
    const value = out[field] as string;
    if (isSealed(value)) out[field] = box.open(value);
  }
  return out;
}
