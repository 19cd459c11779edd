import { createHash } from 'node:crypto';
import { isBasicAuthPasswordHash } from '../../domain/policy-registry.ts';
import type { IrTables } from '../ir.ts';
import { type AttachmentContext, type ParamIssue, type ParamsResult, fail, isString, ok, routesObject, sameSettings } from './filter.ts';

/**
 * The basic-auth module (policies/basic-auth, docs/policies.md#basic-auth): HTTP Basic credentials checked against
 * user sets of salted PBKDF2 hashes. An attachment (API, operation or plan policy) becomes one route or plan entry
 * naming one user set; the set travels inside the settings (`userList`) and the module's `users` table is built
 * from the entries that use it, so no table beside the routes and `planPolicies` is needed.
 *
 * Params are as stored by the control plane (server/domain/policy-registry.ts): `{ realm?, users: [{ username,
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

/** The module's `routes.<route>` / `planPolicies.<plan id>` entry. */
export type BasicAuthEntryConfig = { users: string; realm: string; propagateCredential: boolean };

/** What `basicAuthFilter.pluginConfiguration` returns (without `stripIdentityHeaders`). */
export type BasicAuthPluginConfiguration = {
  users: Record<string, BasicAuthUser[]>;
  planPolicies: Record<string, BasicAuthEntryConfig>;
  routes: Record<string, BasicAuthEntryConfig>;
};

const realmPattern = /^[^"\\\x00-\x1f\x7f]+$/;

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

/** docs/policies.md#basic-auth; params as in the policy registry (`basic-auth`), after the domain hashed them. */
export const basicAuthFilter = {
  kind: 'basic-auth' as const,
  aliases: [] as readonly string[],
  fromParams(params: Record<string, unknown>, ctx: AttachmentContext): ParamsResult<BasicAuthRouteSettings> {
    const issues: ParamIssue[] = [];
    const { realm = ctx.api, users, propagateCredential = false } = params;
    if (!isString(realm) || !realmPattern.test(realm)) issues.push({ path: 'params.realm', message: 'must be a non-empty string without ", \\ or control characters' });
    if (typeof propagateCredential !== 'boolean') issues.push({ path: 'params.propagateCredential', message: 'must be a boolean' });
    const userList: BasicAuthUser[] = [];
    if (!Array.isArray(users) || users.length === 0) {
      issues.push({ path: 'params.users', message: 'must list at least one user' });
    } else {
      const seen = new Set<string>();
      users.forEach((user: unknown, i) => {
        const at = `params.users[${i}]`;
        const { username, passwordHash, password } = (user ?? {}) as Record<string, unknown>;
        if (password !== undefined) issues.push({ path: `${at}.password`, message: 'a clear password is never served; the control plane stores passwordHash' });
        if (!isString(username) || username === '' || username.includes(':')) {
          issues.push({ path: `${at}.username`, message: 'must be a non-empty string without ":"' });
        } else if (seen.has(username)) {
          issues.push({ path: `${at}.username`, message: `duplicate username '${username}'` });
        }
        if (!isString(passwordHash) || !isBasicAuthPasswordHash(passwordHash)) {
          issues.push({ path: `${at}.passwordHash`, message: 'must be pbkdf2-sha256$<iterations>$<salt>$<derived key>' });
        }
        if (isString(username) && isString(passwordHash)) {
          seen.add(username);
          userList.push({ username, hash: passwordHash });
        }
      });
    }
    if (issues.length > 0) return fail(issues);
    return ok({ users: basicAuthUserSetName(ctx.api, userList), userList, realm: realm as string, propagateCredential: propagateCredential as boolean });
  },
  /**
   * Both apply on one route (an API-level and an operation-level attachment): one Authorization header cannot
   * satisfy two different user sets in general, so they must be the same attachment content (fail closed otherwise).
   * A pass-through entry gives way to a real one.
   */
  merge(earlier: BasicAuthRouteSettings, later: BasicAuthRouteSettings): BasicAuthRouteSettings | string {
    if (earlier.users === null) return later;
    if (later.users === null) return earlier;
    return sameSettings(earlier, later) ? earlier : 'two different basic-auth policies apply to this route';
  },
  /**
   * The module's configuration without `stripIdentityHeaders`: the user sets the entries use, the plans'
   * `planPolicies` (from `tables.planPolicies`) and the routes' entries. Pass-through entries are left out: the
   * module applies plan policies on every route, with or without an entry.
   */
  pluginConfiguration(routes: ReadonlyMap<string, BasicAuthRouteSettings>, tables: IrTables): BasicAuthPluginConfiguration {
    const plans = planEntries(tables);
    const used = [...plans.map(([, s]) => s), ...[...routes.values()].filter((s) => s.users !== null)];
    const users: Record<string, BasicAuthUser[]> = {};
    for (const s of [...used].sort((a, b) => (a.users! < b.users! ? -1 : a.users! > b.users! ? 1 : 0))) users[s.users!] = s.userList;
    const planPolicies: Record<string, BasicAuthEntryConfig> = {};
    for (const [id, s] of plans) planPolicies[id] = entryConfig(s);
    const real = new Map([...routes].filter(([, s]) => s.users !== null));
    return { users, planPolicies, routes: routesObject(real, entryConfig) as Record<string, BasicAuthEntryConfig> };
  },
};
