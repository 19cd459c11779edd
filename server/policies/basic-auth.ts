import { createHash, pbkdf2 as pbkdf2Callback, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { FieldIssue } from '../domain/errors.ts';
import type { IrTables } from '../xds/ir.ts';
import { type PolicyKindModule, fail, fromParsedParams, ok, routesObject, sameSettings, anyAttachment } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';

/**
 * The basic-auth module (policies/basic-auth, docs/policies.md#basic-auth): HTTP Basic credentials checked against
 * user sets of salted PBKDF2 hashes. An attachment (API, operation or plan policy) becomes one route or plan entry
 * naming one user set; the set travels inside the settings (`userList`) and the module's `users` table is built
 * from the entries that use it, so no table beside the routes and `planPolicies` is needed.
 *
 * Params are as stored by the control plane (server/domain/policy-registry.ts `normalizePolicyParams`): `{ realm?, users: [{ username,
 * passwordHash }] }`. A clear `password` never reaches here (the domain hashes it before storing); one that does is
 * refused rather than hashed, so the data plane never depends on a secret it would have to re-salt per snapshot.
 */

/** One user of a set, as the module reads it: `hash` is `pbkdf2-sha256$<iterations>$<salt>$<derived key>`. */
export type BasicAuthUser = { username: string; hash: string };

/** Per-route (and per-plan, in `planPolicies`) settings of the basic-auth module. */
export type BasicAuthRouteSettings = {
  /** Name of the user set (the module's `users.<name>`); null: a pass-through entry that checks nothing itself. */
  users: string | null;
  /** The set's users, in the order given; empty for a pass-through entry. */
  userList: BasicAuthUser[];
  /** `WWW-Authenticate: Basic realm="<realm>"`. */
  realm: string;
  propagateCredential: boolean;
};

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    'basic-auth': BasicAuthRouteSettings;
  }
}

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

const params = z
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

const entryJson = z.object({ users: z.string(), realm: z.string().optional(), propagateCredential: z.boolean().optional() });
const configuration = moduleConfiguration({
  pbkdf2IterationsPerSecond: z.number().int().min(1).max(1e9).optional(),
  users: z.record(z.string(), z.array(z.object({ username: z.string().min(1), hash: z.string().regex(passwordHashPattern) }))),
  planPolicies: z.record(z.string(), entryJson).optional(),
  routes: z.record(z.string(), entryJson).optional(),
});

/** The module's `routes.<route>` / `planPolicies.<plan id>` entry. */
export type BasicAuthEntryConfig = { users: string; realm: string; propagateCredential: boolean };

/** What `basicAuthFilter.pluginConfiguration` returns (without `stripIdentityHeaders`). */
export type BasicAuthPluginConfiguration = {
  users: Record<string, BasicAuthUser[]>;
  planPolicies: Record<string, BasicAuthEntryConfig>;
  routes: Record<string, BasicAuthEntryConfig>;
};


/**
 * The name of an attachment's user set: the API's handle and a digest of the users, so one attachment's set has one
 * stable name from snapshot to snapshot (stored hashes do not change), and identical sets share it.
 */
export function basicAuthUserSetName(api: string, users: readonly BasicAuthUser[]): string {
  return `${api}/basic-auth/${createHash('sha256').update(JSON.stringify(users)).digest('hex').slice(0, 16)}`;
}

/** A route entry adding no check of its own: only the plan's `planPolicies` apply (the module applies them on every route). */
export function basicAuthPassThrough(): BasicAuthRouteSettings {
  return { users: null, userList: [], realm: '', propagateCredential: false };
}

function entryConfig(s: BasicAuthRouteSettings): BasicAuthEntryConfig {
  return { users: s.users!, realm: s.realm, propagateCredential: s.propagateCredential };
}

/** The `planPolicies` basic-auth settings of the translated plans, sorted by plan id. */
function planEntries(tables: IrTables): [string, BasicAuthRouteSettings][] {
  const out: [string, BasicAuthRouteSettings][] = [];
  for (const id of Object.keys(tables.planPolicies ?? {}).sort()) {
    const settings = (tables.planPolicies[id] as Record<string, unknown> | undefined)?.['basic-auth'] as BasicAuthRouteSettings | undefined;
    if (settings !== undefined && settings.users !== null) out.push([id, settings]);
  }
  return out;
}

/** docs/policies.md#basic-auth; params after the domain hashed them (`normalizePolicyParams`). */
export const basicAuthFilter: PolicyKindModule<'basic-auth'> = {
  kind: 'basic-auth',
  definition: {
    name: 'basic-auth',
    aliases: [],
    description: 'HTTP Basic credentials checked against users stored as salted PBKDF2 hashes.',
    params,
    attachTo: anyAttachment,
    writeOnly: [{ list: 'users', identity: 'username', field: 'passwordHash' }],
  },
  fromParams: fromParsedParams('basic-auth', params, (p, ctx) => {
    const issues: FieldIssue[] = [];
    const userList: BasicAuthUser[] = [];
    p.users.forEach((user, i) => {
      if (user.password !== undefined) issues.push({ path: `params.users[${i}].password`, message: 'a clear password is never served; the control plane stores passwordHash' });
      else userList.push({ username: user.username, hash: user.passwordHash! });
    });
    if (issues.length > 0) return fail(issues);
    return ok({ users: basicAuthUserSetName(ctx.api, userList), userList, realm: p.realm ?? ctx.api, propagateCredential: false });
  }),
  /**
   * Both apply on one route (an API-level and an operation-level attachment): one Authorization header cannot
   * satisfy two different user sets in general, so they must be the same attachment content (fail closed otherwise).
   * A pass-through entry gives way to a real one.
   */
  merge(earlier, later) {
    if (earlier.users === null) return later;
    if (later.users === null) return earlier;
    return sameSettings(earlier, later) ? earlier : 'two different basic-auth policies apply to this route';
  },
  /**
   * The module's configuration without `stripIdentityHeaders`: the user sets the entries use, the plans'
   * `planPolicies` (from `tables.planPolicies`) and the routes' entries. Pass-through entries are left out: the
   * module applies plan policies on every route, with or without an entry.
   */
  pluginConfiguration(routes, tables): BasicAuthPluginConfiguration {
    const plans = planEntries(tables);
    const used = [...plans.map(([, s]) => s), ...[...routes.values()].filter((s) => s.users !== null)];
    const users: Record<string, BasicAuthUser[]> = {};
    for (const s of [...used].sort((a, b) => (a.users! < b.users! ? -1 : a.users! > b.users! ? 1 : 0))) users[s.users!] = s.userList;
    const planPolicies: Record<string, BasicAuthEntryConfig> = {};
    for (const [id, s] of plans) planPolicies[id] = entryConfig(s);
    const real = new Map([...routes].filter(([, s]) => s.users !== null));
    return { users, planPolicies, routes: routesObject(real, entryConfig) as Record<string, BasicAuthEntryConfig> };
  },
  configuration,
};
