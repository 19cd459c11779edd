import { z } from 'zod';
import type { FieldIssue } from '../domain/errors.ts';
import { maxTokenLifetimeSeconds } from '../domain/token-lifetime.ts';
import { clientHeaderName, headerName } from '../domain/http-primitives.ts';
import type { IrJwtPlan } from '../xds/ir.ts';
import { type PlanSelectionFields, type PolicyKindModule, authPlansTable, fail, fromParsedParams, ok, pick, routesObject, sameSettings, selectionFields, routeAttachments } from './kind.ts';
import { claimToHeader, clientIdentity, moduleConfiguration, scopesMode, selectionEntry, selectionRule } from './module-config.ts';

/** The jwt kind (policies/jwt, docs/policies.md#jwt): bearer JWTs verified against key sets, v0.9 `jwt-auth` compatible. */

export interface JwtRouteSettings extends PlanSelectionFields {
  keySets: string[];
  algorithms: string[] | null;
  header: string;
  scheme: string;
  issuer: string | null;
  audience: string[] | null;
  leewaySeconds: number;
  requiredClaims: string[] | null;
  /** Claims that must be strings equal to these values (v0.9 `requiredClaims`). */
  claimValues: { claim: string; value: string }[] | null;
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
  clients: string | null;
  clientIdClaim: string | null;
  userClaim: string | null;
  claimsToHeaders: { claim: string; header: string }[] | null;
  propagateToken: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    jwt: JwtRouteSettings;
  }
}

const jwtAlgorithm = z.enum(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256', 'HS256', 'HS384', 'HS512', 'EdDSA'], {
  error: 'must be one of RS256, RS384, RS512, ES256, ES384, PS256, HS256, HS384, HS512, EdDSA (never none)',
});
const validHeaderName = headerName('must be a valid header name');
const scopes = z.array(z.string().min(1, 'must not be empty'));

/** A key manager's name (server/domain/key-managers.ts validates names with it and checks the named ones exist). */
export const keyManagerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be the name of a key manager');
// RFC 9110 section 11.1: an auth scheme is a token.
const authScheme = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an auth scheme such as Bearer');

const params = z.strictObject({
  // Read from clients: no `_` (the gateway drops request headers whose name has one).
  header: clientHeaderName('must be a valid header name').optional(),
  issuer: z.string().min(1).optional(),
  // v0.9 jwt-auth: the key managers whose keys (each pinned to its issuer) verify tokens here.
  issuers: z.array(keyManagerName).min(1, 'must name at least one key manager').optional(),
  audiences: z.array(z.string().min(1)).optional(),
  // An attachment verifies with these keys, its key managers' and the API's JWT plans' keys (one of the first two required).
  jwksUrl: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).optional(),
  algorithms: z.array(jwtAlgorithm).min(1, 'must list at least one algorithm').optional(),
  requiredScopes: scopes.optional(),
  // "" or "*": the claim must be present; any other value: the claim must be that string (v0.9 jwt-auth).
  requiredClaims: z.record(z.string().min(1), z.string()).optional(),
  claimsToHeaders: z.array(z.strictObject({ claim: z.string().min(1), header: validHeaderName })).optional(),
  // v0.9 jwt-auth: claim -> upstream header (our claimsToHeaders).
  claimMappings: z.record(z.string().min(1), validHeaderName).optional(),
  // v0.9 jwt-auth: the scheme before the token (ours: Bearer in Authorization, none in another header).
  authHeaderPrefix: authScheme.optional(),
  // v0.9 jwt-auth: the claim sent as the user id (x-apip-user-id).
  userIdClaim: z.string().min(1).optional(),
  clockSkewSeconds: z.number().int().min(0).max(600).optional(),
  propagateCredential: z.boolean().optional(),
}).superRefine((p, ctx) => {
  // Keys of its own: without them the route would depend on JWT plans that may close, and a route with no key
  // cannot be served.
  if (p.jwksUrl === undefined && p.issuers === undefined) ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'required unless issuers names a key manager' });
});

const jwk = z.object({ kty: z.enum(['RSA', 'EC', 'oct', 'OKP']), kid: z.string().optional(), iss: z.string().optional() });
const oneOrMany = z.union([z.string(), z.array(z.string())]);
const configuration = moduleConfiguration({
  cacheSize: z.number().int().min(0).max(100_000).optional(),
  keySets: z.record(z.string(), z.object({ keys: z.array(jwk) })),
  // A client id -> one entry, or its entries in plan order.
  clients: z.record(z.string(), z.record(z.string(), z.union([clientIdentity, z.array(clientIdentity)]))).optional(),
  plans: z.record(z.string(), z.object({
    rule: selectionRule,
    scopes: z.array(z.string()).optional(),
    scopesMode: scopesMode.optional(),
    keySets: z.array(z.string()).optional(),
    requireExpiration: z.boolean().optional(),
    maxLifetimeSeconds: z.number().int().min(1).max(maxTokenLifetimeSeconds).optional(),
  })).optional(),
  routes: z.record(
    z.string(),
    z.object({
      keySets: z.array(z.string()),
      algorithms: z.array(z.string()).optional(),
      header: z.string().optional(),
      scheme: z.string().optional(),
      issuer: oneOrMany.optional(),
      audience: oneOrMany.optional(),
      leewaySeconds: z.number().int().min(0).max(86_400).optional(),
      requiredClaims: z.array(z.string()).optional(),
      claimValues: z.array(z.object({ claim: z.string(), value: z.string() })).optional(),
      scopes: z.array(z.string()).optional(),
      scopesMode: scopesMode.optional(),
      clients: z.string().optional(),
      clientIdClaim: z.string().nullable().optional(),
      userClaim: z.string().nullable().optional(),
      claimsToHeaders: z.array(claimToHeader).optional(),
      propagateToken: z.boolean().optional(),
      ...selectionEntry,
    }),
  ),
});

/** The module keeps this many verified tokens (docs/policies.md#jwt, `cacheSize`). */
const tokenCacheSize = 1024;

/** What this kind reads of a JWT plan's security options (the deployment model's `security.jwt`). */
export interface JwtPlanOptions {
  signatureAlgorithms: readonly string[];
  leewaySeconds: number;
  /** Tokens without `exp` cannot select the plan; absent = false. */
  requireExpiration?: boolean;
  /** The longest exp - iat the plan admits, in seconds; absent or null = no bound. */
  maxTokenLifetimeSeconds?: number | null;
  clientIdClaim: string | null;
  userClaim: string;
  requiredScopes: readonly string[];
  strictScopes: boolean;
  extractClaims: readonly { claim: string; header: string }[];
  propagateAuthHeader: boolean;
}

/**
 * Settings implied by an API's JWT plans (in plan order, at least one): every plan's keys and algorithms, the
 * largest leeway, the first plan's claim options. Scopes are per plan (`jwtPlanOf`), checked for the plan the
 * token selects; `plans` and `optional` are set by the translator (docs/plan-selection.md).
 */
export function jwtSettingsFromPlans(plans: readonly JwtPlanOptions[], keySets: readonly string[], clients: string | null): JwtRouteSettings {
  const options = plans[0]!;
  return {
    keySets: [...keySets],
    algorithms: [...new Set(plans.flatMap((p) => p.signatureAlgorithms))],
    header: 'authorization',
    scheme: 'Bearer',
    issuer: null,
    audience: null,
    leewaySeconds: Math.max(...plans.map((p) => p.leewaySeconds)),
    requiredClaims: null,
    claimValues: null,
    scopes: null,
    scopesMode: 'any',
    optional: false,
    plans: null,
    clients,
    clientIdClaim: options.clientIdClaim,
    userClaim: options.userClaim,
    claimsToHeaders: options.extractClaims.length > 0 ? options.extractClaims.map((c) => ({ claim: c.claim, header: c.header.toLowerCase() })) : null,
    propagateToken: options.propagateAuthHeader,
  };
}

/**
 * A JWT plan in `IrTables.jwtPlans`, with the key sets holding its own keys (IrJwtPlan does not list them yet, so
 * they ride along here; absent: any of the route's sets).
 */
export type JwtPlanEntry = IrJwtPlan & { keySets?: string[] };

/**
 * A JWT plan as the module's top-level `plans` holds it: its selection rule, its required scopes, its key sets, its
 * token lifetime rules (per plan, so an API's older plan keeps admitting tokens without exp beside a new one).
 */
export function jwtPlanOf(options: JwtPlanOptions, rule: string | null, keySets: readonly string[]): JwtPlanEntry {
  return {
    rule,
    scopes: options.requiredScopes.length > 0 ? [...options.requiredScopes] : null,
    scopesMode: options.strictScopes ? 'all' : 'any',
    keySets: [...keySets],
    requireExpiration: options.requireExpiration === true,
    maxLifetimeSeconds: options.maxTokenLifetimeSeconds ?? null,
  };
}

/**
 * `plans.<id>` of the module's configuration. `keySets` only when a route of the plan trusts a set the plan does
 * not (the module's default is any of the route's sets): a token verified by another plan's keys is then never
 * matched to this plan's subscription.
 */
function jwtPlanJson(id: string, plan: JwtPlanEntry, routes: readonly JwtRouteSettings[]): Record<string, unknown> {
  const keySets = plan.keySets;
  const narrower = keySets !== undefined && routes.some((r) => r.plans?.includes(id) === true && r.keySets.some((set) => !keySets.includes(set)));
  return {
    rule: plan.rule,
    ...(plan.scopes === null ? {} : { scopes: plan.scopes, scopesMode: plan.scopesMode }),
    ...(narrower ? { keySets } : {}),
    ...(plan.requireExpiration ? { requireExpiration: true } : {}),
    ...(plan.maxLifetimeSeconds === null ? {} : { maxLifetimeSeconds: plan.maxLifetimeSeconds }),
  };
}

/** docs/policies.md#jwt; params as in the policy registry (v0.9 `jwt-auth` compatible). */
export const jwtFilter: PolicyKindModule<'jwt'> = {
  kind: 'jwt',
  definition: { name: 'jwt', aliases: ['jwt-auth'], description: 'Bearer JWT: signature, exp/nbf/iss/aud, scopes, required claims, claims to headers.', params, attachTo: routeAttachments },
  fromParams: fromParsedParams('jwt', params, (p, ctx) => {
    const issues: FieldIssue[] = [];
    const keySets: string[] = [];
    if (p.jwksUrl !== undefined) {
      const set = ctx.jwtUrlKeySet(p.jwksUrl);
      if (set === null) issues.push({ path: 'params.jwksUrl', message: `no usable key could be resolved from ${p.jwksUrl}` });
      else keySets.push(set);
    }
    const defaultAudiences: (readonly string[])[] = [];
    (p.issuers ?? []).forEach((name, i) => {
      const manager = ctx.keyManager?.(name) ?? null;
      if (manager === null) issues.push({ path: `params.issuers[${i}]`, message: `no key manager named '${name}'` });
      else if (manager.keySet === null) issues.push({ path: `params.issuers[${i}]`, message: `key manager '${name}' has no usable key` });
      else {
        keySets.push(manager.keySet);
        defaultAudiences.push(manager.audiences);
      }
    });
    keySets.push(...ctx.jwtPlanKeySets);
    // Without audiences of its own, the key managers' defaults apply; one audience check per route, so they must agree
    // on whether there is one (a token of a key manager without defaults would otherwise need another's audience).
    let audience = p.audiences !== undefined && p.audiences.length > 0 ? p.audiences : null;
    if (audience === null && defaultAudiences.some((a) => a.length > 0)) {
      if (defaultAudiences.some((a) => a.length === 0)) issues.push({ path: 'params.audiences', message: 'required: some of the key managers named have default audiences and others none' });
      else audience = [...new Set(defaultAudiences.flat())];
    }
    const presence: string[] = [];
    const values: { claim: string; value: string }[] = [];
    for (const [claim, value] of Object.entries(p.requiredClaims ?? {})) {
      if (value === '' || value === '*') presence.push(claim);
      else values.push({ claim, value });
    }
    if (issues.length > 0) return fail(issues);
    const header = p.header?.toLowerCase() ?? 'authorization';
    const mapped = [...(p.claimsToHeaders ?? []).map((c) => ({ claim: c.claim, header: c.header })), ...Object.entries(p.claimMappings ?? {}).map(([claim, header]) => ({ claim, header }))]
      .map((c) => ({ claim: c.claim, header: c.header.toLowerCase() }));
    return ok({
      keySets,
      algorithms: p.algorithms ?? null,
      header,
      // A custom header carries the bare token unless a prefix is given; Authorization carries `Bearer <token>`.
      scheme: p.authHeaderPrefix ?? (header === 'authorization' ? 'Bearer' : ''),
      issuer: p.issuer ?? null,
      audience,
      leewaySeconds: p.clockSkewSeconds ?? 0,
      requiredClaims: presence.length > 0 ? presence : null,
      claimValues: values.length > 0 ? values : null,
      scopes: p.requiredScopes !== undefined && p.requiredScopes.length > 0 ? p.requiredScopes : null,
      scopesMode: 'all',
      optional: false,
      plans: null,
      clients: ctx.jwtClients,
      clientIdClaim: null,
      userClaim: p.userIdClaim ?? 'sub',
      claimsToHeaders: mapped.length > 0 ? mapped : null,
      propagateToken: p.propagateCredential ?? false,
    });
  }),
  merge(earlier, later) {
    return sameSettings(earlier, later) ? earlier : 'two different jwt policies apply to this route';
  },
  pluginConfiguration(routes, tables) {
    const settings = [...routes.values()];
    const keySets = pick(tables.jwtKeySets, settings.flatMap((r) => r.keySets));
    return {
      cacheSize: tokenCacheSize,
      keySets: Object.fromEntries(Object.entries(keySets).map(([name, keys]) => [name, { keys }])),
      clients: pick(tables.jwtClients, settings.flatMap((r) => (r.clients === null ? [] : [r.clients]))),
      plans: Object.fromEntries(
        Object.entries(authPlansTable<JwtPlanEntry>(tables.jwtPlans, settings)).map(([id, p]) => [id, jwtPlanJson(id, p, settings)]),
      ),
      routes: routesObject(routes, (r) => ({
        keySets: r.keySets,
        ...(r.algorithms === null ? {} : { algorithms: r.algorithms }),
        header: r.header,
        scheme: r.scheme,
        ...(r.issuer === null ? {} : { issuer: r.issuer }),
        ...(r.audience === null ? {} : { audience: r.audience }),
        leewaySeconds: r.leewaySeconds,
        ...(r.requiredClaims === null ? {} : { requiredClaims: r.requiredClaims }),
        ...(r.claimValues === null ? {} : { claimValues: r.claimValues }),
        ...(r.scopes === null ? {} : { scopes: r.scopes, scopesMode: r.scopesMode }),
        ...(r.clients === null ? {} : { clients: r.clients }),
        clientIdClaim: r.clientIdClaim,
        userClaim: r.userClaim,
        ...(r.claimsToHeaders === null ? {} : { claimsToHeaders: r.claimsToHeaders }),
        propagateToken: r.propagateToken,
        ...selectionFields(r),
      })),
    };
  },
  configuration,
};
