import { pbkdf2 as pbkdf2Callback, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { FieldIssue } from './errors.ts';
import { isRecord } from '../json/is-record.ts';

/**
 * The policies the control plane knows: every attachment (`{name, version, params}` on an API, an operation
 * or a plan) is checked here before it is stored, so the xDS translator only ever sees valid params.
 * Param names follow docs/policies.md (what each module's plugin configuration is generated from).
 */
export interface PolicyDefinition {
  /** Canonical name on the wire (`api-key`). */
  name: string;
  /** v0.9 reference-implementation names accepted where the params are compatible (`api-key-auth`). */
  aliases: readonly string[];
  /** The one major version we ship; attachments must name it exactly (`v1`). */
  majorVersion: 'v1';
  description: string;
  paramsSchema: z.ZodType<Record<string, unknown>>;
  /** Secret fields of the params: write-only for everyone (see `maskSecretParams`, `restoreSecretParams`). */
  writeOnly: readonly WriteOnlyField[];
}

/** A secret field of the items of a list param, items told apart by `identity` (basic-auth: users[].passwordHash by username). */
export interface WriteOnlyField {
  list: string;
  identity: string;
  field: string;
}

/** An attachment as given by a client; the validator tolerates wrong types (REST bodies are arbitrary JSON). */
export interface PolicyAttachmentInput {
  name: unknown;
  version: unknown;
  executionCondition?: unknown;
  params?: unknown;
}

// RFC 9110 token: what a header name (and, conservatively, a query parameter name) may be.
const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// No control characters except horizontal tab (RFC 9110 field-value).
// eslint-disable-next-line no-control-regex
const headerValuePattern = /^[^\x00-\x08\x0a-\x1f\x7f]*$/;
/** Go-style duration as v0.9 writes them: `500ms`, `1m`, `1h30m`. */
export const durationPattern = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration, or null when it is not one. */
export function parseDurationMs(value: string): number | null {
  if (!durationPattern.test(value)) return null;
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (unitMs[m[2] ?? 'ms'] ?? 1);
  return total;
}

const headerName = z.string().regex(tokenPattern, 'must be a valid header name');
const headerValue = z.string().regex(headerValuePattern, 'must not contain control characters');
const header = z.strictObject({ name: headerName, value: headerValue });
const headerSection = z.strictObject({ headers: z.array(header).min(1, 'must list at least one header') });
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' });
const scopes = z.array(z.string().min(1, 'must not be empty'));

// Throttle windows: at least a second (RateLimit-Reset and Retry-After are whole seconds), at most 400 days,
// the bounds the throttle module accepts for windowMs.
const maxWindowMs = 400 * 86_400_000;
const throttleDuration = z.string().refine((v) => {
  const ms = parseDurationMs(v);
  return ms !== null && ms >= 1000 && ms <= maxWindowMs;
}, 'must be a duration between 1s and 9600h (e.g. "1m", "1h")');

const jwtAlgorithm = z.enum(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256', 'HS256', 'HS384', 'HS512', 'EdDSA'], {
  error: 'must be one of RS256, RS384, RS512, ES256, ES384, PS256, HS256, HS384, HS512, EdDSA (never none)',
});

const apiKeyParams = z.strictObject({
  key: z.string().min(1, 'must not be empty').regex(tokenPattern, 'must be a valid header or query parameter name'),
  in: z.enum(['header', 'query'], { error: 'must be header or query' }).default('header'),
  valuePrefix: z.string().optional(),
  propagateCredential: z.boolean().optional(),
});

const jwtParams = z.strictObject({
  header: headerName.optional(),
  issuer: z.string().min(1).optional(),
  audiences: z.array(z.string().min(1)).optional(),
  jwksUrl: httpUrl.optional(),
  algorithms: z.array(jwtAlgorithm).min(1, 'must list at least one algorithm').optional(),
  requiredScopes: scopes.optional(),
  requiredClaims: z.record(z.string(), z.string()).optional(),
  claimsToHeaders: z.array(z.strictObject({ claim: z.string().min(1), header: headerName })).optional(),
  clockSkewSeconds: z.number().int().min(0).max(600).optional(),
  propagateCredential: z.boolean().optional(),
});

const setHeadersParams = z
  .strictObject({ request: headerSection.optional(), response: headerSection.optional() })
  .refine((p) => p.request !== undefined || p.response !== undefined, 'must set request or response headers');

const throttleParams = z
  .strictObject({
    limits: z
      .array(
        z.strictObject({
          requests: z.number().int('must be an integer').min(1, 'must be at least 1'),
          duration: throttleDuration,
          scope: z.enum(['route', 'api', 'application', 'subscription'], {
            error: 'must be route, api, application or subscription',
          }).optional(),
          /** Explicit counter key, to share one counter across routes (docs/policies.md#throttle). */
          key: z.string().min(1).optional(),
        }),
      )
      .optional(),
    planQuota: z.boolean().optional(),
    stopOnQuotaReach: z.boolean().optional(),
  })
  .refine((p) => (p.limits?.length ?? 0) > 0 || p.planQuota === true, {
    message: 'must list at least one limit or set planQuota',
    path: ['limits'],
  });

const subscriptionValidationParams = z.strictObject({
  header: headerName.default('Subscription-Key'),
  propagateCredential: z.boolean().optional(),
});

// basic-auth: users with salted PBKDF2-HMAC-SHA256 hashes, never clear passwords (docs/policies.md#basic-auth).
// A client gives `password`; what is stored (and read back) is `passwordHash`; a client may send a `passwordHash`
// back unchanged (the round trip of a read). The gateway module verifies the hash on the first request of each
// credential (then caches it), so the iteration count is bounded by what one verification may cost on a request
// path: 1,000 iterations take about 1 ms in the wasm module on the 2-vCPU development container (node:crypto,
// with native SHA-256, about 0.3 ms). Each hash carries its own count, so raising it later keeps old hashes valid.
/** PBKDF2 iterations of newly stored basic-auth password hashes. */
export const BASIC_AUTH_PBKDF2_ITERATIONS = 100_000;
/** The bounds the basic-auth module accepts (policies/basic-auth/index.ts). */
const maxPbkdf2Iterations = 1_000_000;
const basicAuthSaltBytes = 16;
const basicAuthKeyBytes = 32;
const passwordHashPattern = /^pbkdf2-sha256\$([1-9][0-9]{0,6})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** True when `text` is canonical unpadded base64url of `min`..`max` bytes. */
function isBase64Url(text: string, min: number, max: number): boolean {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text && bytes.length >= min && bytes.length <= max;
}

/** True when `value` is `pbkdf2-sha256$<iterations>$<salt>$<derived key>` within the module's bounds. */
export function isBasicAuthPasswordHash(value: string): boolean {
  const m = passwordHashPattern.exec(value);
  return m !== null && Number(m[1]) <= maxPbkdf2Iterations && isBase64Url(m[2]!, 8, 64) && isBase64Url(m[3]!, 16, 64);
}

const pbkdf2 = promisify(pbkdf2Callback);

/**
 * `pbkdf2-sha256$<iterations>$<salt>$<derived key>` of `password` with a fresh random 16-byte salt. Asynchronous: at
 * the default work factor one hash is ~0.1 s of CPU, which must not hold the management API's event loop.
 */
export async function hashBasicAuthPassword(password: string, iterations: number = BASIC_AUTH_PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(basicAuthSaltBytes);
  const key = await pbkdf2(password, salt, iterations, basicAuthKeyBytes, 'sha256');
  return `pbkdf2-sha256$${iterations}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

// eslint-disable-next-line no-control-regex
const noControl = /^[^\x00-\x1f\x7f]*$/;
const basicAuthUser = z
  .strictObject({
    // RFC 7617: the user-id cannot contain a colon.
    username: z.string().min(1, 'must not be empty').max(256).regex(/^[^:]*$/, 'must not contain ":"').regex(noControl, 'must not contain control characters'),
    password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters').optional(),
    passwordHash: z.string().refine(isBasicAuthPasswordHash, 'must be pbkdf2-sha256$<iterations 1..1000000>$<salt base64url>$<derived key base64url>').optional(),
  })
  .superRefine((user, ctx) => {
    if ((user.password === undefined) === (user.passwordHash === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'give exactly one of password or passwordHash' });
    }
  });

const basicAuthParams = z
  .strictObject({
    realm: z.string().min(1).max(256).regex(/^[^"\\]*$/, 'must not contain " or \\').regex(noControl, 'must not contain control characters').optional(),
    users: z.array(basicAuthUser).min(1, 'must list at least one user').max(1000, 'must list at most 1000 users'),
  })
  .superRefine((params, ctx) => {
    const seen = new Set<string>();
    params.users.forEach((user, i) => {
      if (seen.has(user.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `duplicate username '${user.username}'` });
      seen.add(user.username);
    });
  });

/**
 * Params as they are stored, from validated params: secrets a policy must not keep are replaced (basic-auth: each
 * `password` by its salted `passwordHash`). Every writer of policy attachments (APIs, operations, plans) calls it
 * before opening its transaction, so the hashing holds no lock.
 */
export async function normalizePolicyParams(name: string, params: Record<string, unknown> | null | undefined): Promise<Record<string, unknown> | null> {
  if (params === null || params === undefined) return null;
  if (canonicalPolicyName(name) !== 'basic-auth' || !Array.isArray(params.users)) return params;
  return {
    ...params,
    users: await Promise.all(
      params.users.map(async (user: unknown) => {
        if (typeof user !== 'object' || user === null) return user;
        const { password, ...rest } = user as Record<string, unknown>;
        return typeof password === 'string' ? { ...rest, passwordHash: await hashBasicAuthPassword(password) } : rest;
      }),
    ),
  };
}

/** `normalizePolicyParams` over a list of attachments. */
export async function normalizePolicies<P extends { name: string; params?: Record<string, unknown> | null | undefined }>(policies: readonly P[]): Promise<P[]> {
  return Promise.all(policies.map(async (p) => ({ ...p, params: await normalizePolicyParams(p.name, p.params) })));
}

const corsParams = z.strictObject({
  allowedOrigins: z.array(z.string().min(1)).min(1, 'must list at least one origin'),
  allowedMethods: z.array(z.string().min(1)).optional(),
  allowedHeaders: z.array(z.string().min(1)).optional(),
  exposedHeaders: z.array(z.string().min(1)).optional(),
  allowCredentials: z.boolean().optional(),
  maxAgeSeconds: z.number().int().min(0).optional(),
});

const respondParams = z.strictObject({
  statusCode: z.number().int().min(100, 'must be an HTTP status 100-599').max(599, 'must be an HTTP status 100-599').default(200),
  body: z.string().optional(),
  headers: z.array(header).optional(),
});

const hostRewriteParams = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name with an optional port'),
});

/**
 * An `oauth2` attachment introspects with an authorization server defined once (server/domain/authorization-servers.ts,
 * which holds the URL, client credentials, timeout and cache bound); docs/authorization-servers.md.
 */
const oauth2Params = z.strictObject({
  authorizationServerId: z.string().regex(/^asv_[0-9a-z]{26}$/, 'must be the id of an authorization server'),
  requiredScopes: scopes.optional(),
  strictScopes: z.boolean().optional(),
  claimsToHeaders: z.array(z.strictObject({ claim: z.string().min(1), header: headerName })).optional(),
  propagateCredential: z.boolean().optional(),
});

function definition(
  name: string,
  aliases: readonly string[],
  description: string,
  paramsSchema: z.ZodType<Record<string, unknown>>,
  writeOnly: readonly WriteOnlyField[] = [],
): PolicyDefinition {
  return { name, aliases, majorVersion: 'v1', description, paramsSchema, writeOnly };
}

/** The catalogue of design.md, canonical names first in each entry. */
export const policyDefinitions: readonly PolicyDefinition[] = [
  definition('api-key', ['api-key-auth'], 'API key from a header or query parameter; 401 on failure.', apiKeyParams),
  definition('jwt', ['jwt-auth'], 'Bearer JWT: signature, exp/nbf/iss/aud, scopes, required claims, claims to headers.', jwtParams),
  definition('set-headers', [], 'Sets (overwrites) request and response headers.', setHeadersParams),
  definition('throttle', ['basic-ratelimit'], 'Request limits per route or API, plan and subscription quotas.', throttleParams),
  definition('subscription-validation', [], 'Subscription-Key header to an active subscription and its plan quota.', subscriptionValidationParams),
  definition('basic-auth', [], 'HTTP Basic credentials checked against users stored as salted PBKDF2 hashes.', basicAuthParams, [
    { list: 'users', identity: 'username', field: 'passwordHash' },
  ]),
  definition('cors', [], 'CORS preflight answers and response headers.', corsParams),
  definition('respond', [], 'Answers directly with a fixed status, headers and body; the upstream is not called.', respondParams),
  definition('host-rewrite', [], 'Rewrites the Host header sent upstream.', hostRewriteParams),
  definition('oauth2', [], 'OAuth2 bearer tokens checked by token introspection, with scopes.', oauth2Params),
];

const byName = new Map<string, PolicyDefinition>();
for (const def of policyDefinitions) {
  byName.set(def.name, def);
  for (const alias of def.aliases) byName.set(alias, def);
}

/** The definition a name or alias refers to. */
export function findPolicyDefinition(name: string): PolicyDefinition | undefined {
  return byName.get(name);
}

/** The canonical name of a policy name or alias (`basic-ratelimit` -> `throttle`), or undefined when unknown. */
export function canonicalPolicyName(name: string): string | undefined {
  return byName.get(name)?.name;
}

/** JSON Schema of a definition's params (for `policyDefinitions` in GraphQL and the docs). */
export function paramsJsonSchema(def: PolicyDefinition): Record<string, unknown> {
  return z.toJSONSchema(def.paramsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

const majorOnly = /^v\d+$/;
const fullVersion = /^v?\d+\.\d+(\.\d+)?([-+].*)?$/;


/** `params.limits[0].requests` from a zod path. */
function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return out;
}

/**
 * Every problem of one attachment: known name (or alias), major-only version that the registry has, and
 * params against the definition's schema. `pathPrefix` is where the attachment sits (`spec.policies[0]`).
 */
export function validatePolicyAttachment(policy: PolicyAttachmentInput, pathPrefix: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { name, version, executionCondition, params } = policy;
  let def: PolicyDefinition | undefined;
  if (typeof name !== 'string' || name.length === 0) {
    issues.push({ path: `${pathPrefix}.name`, message: 'Policy name is required' });
  } else {
    def = findPolicyDefinition(name);
    if (!def) {
      issues.push({
        path: `${pathPrefix}.name`,
        message: `Unknown policy '${name}'; known policies: ${policyDefinitions.map((d) => d.name).join(', ')}`,
      });
    }
  }
  if (typeof version !== 'string' || version.length === 0) {
    issues.push({ path: `${pathPrefix}.version`, message: 'Policy version is required' });
  } else if (!majorOnly.test(version)) {
    issues.push({
      path: `${pathPrefix}.version`,
      message: fullVersion.test(version)
        ? `Version must be major-only (e.g. v1); full semantic versions such as '${version}' are not accepted`
        : 'Version must be major-only (e.g. v1)',
    });
  } else if (def && version !== def.majorVersion) {
    issues.push({
      path: `${pathPrefix}.version`,
      message: `Policy '${def.name}' has no version ${version}; available: ${def.majorVersion}`,
    });
  }
  if (executionCondition !== undefined && executionCondition !== null && typeof executionCondition !== 'string') {
    issues.push({ path: `${pathPrefix}.executionCondition`, message: 'Execution condition must be a string' });
  }
  if (params !== undefined && params !== null && !isRecord(params)) {
    issues.push({ path: `${pathPrefix}.params`, message: 'Params must be an object' });
  } else if (def) {
    const result = def.paramsSchema.safeParse(params ?? {}, {
      error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
    });
    if (!result.success) {
      for (const issue of result.error.issues) {
        const at = joinPath(`${pathPrefix}.params`, issue.path);
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) issues.push({ path: `${at}.${key}`, message: `is not a parameter of ${def.name}` });
        } else {
          issues.push({ path: at, message: issue.message });
        }
      }
    }
  }
  return issues;
}

/**
 * What a read shows in place of a write-only param field. Sent back unchanged (or with the field left out), it keeps
 * the stored value: a client can round-trip what it read without knowing the secret, and never learns it.
 */
export const WRITE_ONLY_MARKER = '(write-only)';

/** Params as anyone may read them: every write-only field replaced by the marker. */
export function maskSecretParams(name: string, params: Record<string, unknown> | null): Record<string, unknown> | null {
  return mapWriteOnly(name, params, (item, field) => (item[field.field] === undefined ? item : { ...item, [field.field]: WRITE_ONLY_MARKER }));
}

/**
 * Params of a write with kept secrets filled in: an item of a write-only list that gives neither its secret nor a
 * clear replacement (basic-auth: no `password`, `passwordHash` absent or the marker) takes the stored value of the
 * item with the same identity in `previous` (the owner's attachments of the same kind before the write). An item
 * with nothing to keep is left as given, so validation reports it.
 */
export function restoreSecretParams(
  name: string,
  params: Record<string, unknown> | null | undefined,
  previous: readonly { name: string; params: Record<string, unknown> | null }[],
): Record<string, unknown> | null | undefined {
  if (params === null || params === undefined) return params;
  const kind = canonicalPolicyName(name);
  return mapWriteOnly(name, params, (item, field) => {
    const given = item[field.field];
    if ((given !== undefined && given !== WRITE_ONLY_MARKER) || item.password !== undefined) return item;
    for (const p of previous) {
      if (canonicalPolicyName(p.name) !== kind) continue;
      const list = p.params?.[field.list];
      const match = Array.isArray(list) ? (list as unknown[]).find((x) => isRecord(x) && x[field.identity] === item[field.identity]) : undefined;
      if (isRecord(match) && typeof match[field.field] === 'string') return { ...item, [field.field]: match[field.field] };
    }
    return item;
  }) as Record<string, unknown>;
}

function mapWriteOnly(
  name: string,
  params: Record<string, unknown> | null,
  map: (item: Record<string, unknown>, field: WriteOnlyField) => Record<string, unknown>,
): Record<string, unknown> | null {
  const fields = findPolicyDefinition(name)?.writeOnly ?? [];
  if (params === null || fields.length === 0) return params;
  let out = params;
  for (const field of fields) {
    const list = out[field.list];
    if (!Array.isArray(list)) continue;
    out = { ...out, [field.list]: list.map((item: unknown) => (isRecord(item) ? map(item, field) : item)) };
  }
  return out;
}
