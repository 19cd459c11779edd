import type { IrJwtPlan, JwtRouteSettings } from '../ir.ts';
import type { DeployedPlanSecurity } from '../../domain/deployment-model.ts';
import { type ParamIssue, type PolicyFilter, authPlansTable, fail, isString, isStringArray, ok, pick, routesObject, sameSettings, selectionFields } from './filter.ts';

/** The module keeps this many verified tokens (docs/policies.md#jwt, `cacheSize`). */
const tokenCacheSize = 1024;

type JwtPlanOptions = NonNullable<DeployedPlanSecurity['jwt']>;

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

/** A JWT plan as the module's top-level `plans` holds it: its selection rule, its required scopes, its key sets. */
export function jwtPlanOf(options: JwtPlanOptions, rule: string | null, keySets: readonly string[]): JwtPlanEntry {
  return { rule, scopes: options.requiredScopes.length > 0 ? [...options.requiredScopes] : null, scopesMode: options.strictScopes ? 'all' : 'any', keySets: [...keySets] };
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
  };
}

/** docs/policies.md#jwt; params as in the policy registry (v0.9 `jwt-auth` compatible). */
export const jwtFilter: PolicyFilter<'jwt'> = {
  kind: 'jwt',
  aliases: ['jwt-auth'],
  fromParams(params, ctx) {
    const issues: ParamIssue[] = [];
    const { header, issuer, audiences, jwksUrl, algorithms, requiredScopes, requiredClaims, claimsToHeaders, clockSkewSeconds = 0, propagateCredential = false } = params;
    let keySets: string[] = [...ctx.jwtPlanKeySets];
    if (jwksUrl !== undefined) {
      const set = isString(jwksUrl) ? ctx.jwtUrlKeySet(jwksUrl) : null;
      if (set === null) issues.push({ path: 'params.jwksUrl', message: `no usable key could be resolved from ${String(jwksUrl)}` });
      else keySets = [set, ...keySets];
    } else if (keySets.length === 0) {
      issues.push({ path: 'params.jwksUrl', message: 'required unless the API has a JWT plan with keys' });
    }
    if (header !== undefined && (!isString(header) || header === '')) issues.push({ path: 'params.header', message: 'must be a header name' });
    if (issuer !== undefined && !isString(issuer)) issues.push({ path: 'params.issuer', message: 'must be a string' });
    if (audiences !== undefined && !isStringArray(audiences)) issues.push({ path: 'params.audiences', message: 'must be a list of strings' });
    if (algorithms !== undefined && !isStringArray(algorithms)) issues.push({ path: 'params.algorithms', message: 'must be a list of algorithms' });
    if (requiredScopes !== undefined && !isStringArray(requiredScopes)) issues.push({ path: 'params.requiredScopes', message: 'must be a list of strings' });
    const claims: string[] = [];
    if (requiredClaims !== undefined) {
      for (const [claim, value] of Object.entries((requiredClaims ?? {}) as Record<string, unknown>)) {
        // The module checks presence only; a required value it cannot check must not silently pass (fail closed).
        if (value !== '' && value !== '*') issues.push({ path: `params.requiredClaims.${claim}`, message: 'claim values cannot be enforced yet; use "*" to require presence' });
        claims.push(claim);
      }
    }
    const mapped: { claim: string; header: string }[] = [];
    if (claimsToHeaders !== undefined) {
      if (!Array.isArray(claimsToHeaders)) issues.push({ path: 'params.claimsToHeaders', message: 'must be a list of {claim, header}' });
      else claimsToHeaders.forEach((c: unknown, i) => {
        const { claim, header: h } = (c ?? {}) as Record<string, unknown>;
        if (!isString(claim) || !isString(h)) issues.push({ path: `params.claimsToHeaders[${i}]`, message: 'must be {claim, header} strings' });
        else mapped.push({ claim, header: h.toLowerCase() });
      });
    }
    if (typeof clockSkewSeconds !== 'number' || !Number.isInteger(clockSkewSeconds) || clockSkewSeconds < 0) issues.push({ path: 'params.clockSkewSeconds', message: 'must be an integer >= 0' });
    if (typeof propagateCredential !== 'boolean') issues.push({ path: 'params.propagateCredential', message: 'must be a boolean' });
    if (issues.length > 0) return fail(issues);
    const headerName = isString(header) ? header.toLowerCase() : 'authorization';
    return ok({
      keySets,
      algorithms: isStringArray(algorithms) ? algorithms : null,
      header: headerName,
      // A custom header carries the bare token; Authorization carries `Bearer <token>`.
      scheme: headerName === 'authorization' ? 'Bearer' : '',
      issuer: isString(issuer) ? issuer : null,
      audience: isStringArray(audiences) && audiences.length > 0 ? audiences : null,
      leewaySeconds: clockSkewSeconds as number,
      requiredClaims: claims.length > 0 ? claims : null,
      scopes: isStringArray(requiredScopes) && requiredScopes.length > 0 ? requiredScopes : null,
      scopesMode: 'all',
      optional: false,
      plans: null,
      clients: ctx.jwtClients,
      clientIdClaim: null,
      userClaim: 'sub',
      claimsToHeaders: mapped.length > 0 ? mapped : null,
      propagateToken: propagateCredential as boolean,
    });
  },
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
};
