import { jwtPlanOf, jwtSettingsFromPlans } from '../../../policies/jwt.ts';
import { policyKindOf } from '../../../policies/index.ts';
import { jwtClientTableName, keyManagerJwtKeySetName, planJwtKeySetName, urlJwtKeySetName } from '../../names.ts';
import { clientTable, sameJson, type TablesStep } from './step.ts';

/**
 * jwt: each JWT plan's resolved keys, its rule and scopes, one client table (client id -> its subscriptions to the
 * API's JWT plans, in plan order), and the keys of the JWKS URLs and key managers jwt attachments name.
 */
export const jwtTables: TablesStep = {
  kind: 'jwt',
  tables(input, { tables, ctx }) {
    const { index, planPath, error, warn } = input;
    const jwtPlans = input.ofType('JWT');
    // Every route trusts all the JWT plans' sets, where a kid may not repeat: a key an earlier plan already ships
    // (same JWK, e.g. two plans on one JWKS URL) is left out of the later set; the same kid for another key fails.
    // Each plan trusts only the sets holding its own keys (`keySets`): a token verified by another plan's key
    // never selects it, even for a client subscribed to both (two plans, two identity providers).
    const trusted = new Map<string, { json: string; plan: string; set: string }>();
    const jwtPlanKeySets: string[] = [];
    for (const plan of jwtPlans) {
      const keys = index.jwks[planJwtKeySetName(plan.id)] ?? [];
      if (keys.length === 0) error(`${planPath(plan)}.security.jwt`, `JWT plan '${plan.name}' has no usable public key (${plan.security.jwt?.keyResolver ?? 'no resolver'})`);
      const planSets = new Set<string>();
      const own = keys.filter((key) => {
        const json = JSON.stringify(key);
        const id = key.kid ?? json;
        const earlier = trusted.get(id);
        if (earlier === undefined) {
          trusted.set(id, { json, plan: plan.name, set: planJwtKeySetName(plan.id) });
          planSets.add(planJwtKeySetName(plan.id));
          return true;
        }
        if (earlier.json !== json) error(`${planPath(plan)}.security.jwt`, `key id '${id}' names another key in JWT plan '${earlier.plan}'`);
        else planSets.add(earlier.set);
        return false;
      });
      if (own.length > 0) {
        tables.jwtKeySets[planJwtKeySetName(plan.id)] = own;
        jwtPlanKeySets.push(planJwtKeySetName(plan.id));
      }
      // A set shared with an earlier plan may also hold keys this plan does not list: they can select it too.
      const listed = new Set(keys.map((key) => JSON.stringify(key)));
      for (const set of planSets) {
        const others = tables.jwtKeySets[set]!.filter((key) => !listed.has(JSON.stringify(key)));
        if (others.length > 0) warn(`${planPath(plan)}.security.jwt`, `shares key set '${set}' with an earlier JWT plan: its keys ${others.map((k) => `'${k.kid ?? k.kty}'`).join(', ')}, which this plan does not list, can select this plan too`);
      }
      if (plan.security.jwt) tables.jwtPlans[plan.id] = jwtPlanOf(plan.security.jwt, plan.selectionRule, [...planSets]);
      const first = jwtPlans[0]!.security.jwt;
      const claimOptions = (o: typeof first) => [o?.clientIdClaim, o?.userClaim, o?.extractClaims, o?.propagateAuthHeader];
      if (plan !== jwtPlans[0] && !sameJson(claimOptions(plan.security.jwt), claimOptions(first))) {
        warn(`${planPath(plan)}.security.jwt`, `the first JWT plan '${jwtPlans[0]!.name}' decides clientIdClaim, userClaim, extractClaims and propagateAuthHeader on the API's routes`);
      }
    }
    ctx.jwtPlanKeySets = jwtPlanKeySets;
    if (jwtPlans.length > 0) {
      ctx.jwtClients = jwtClientTableName(input.api.handle);
      tables.jwtClients[ctx.jwtClients] = clientTable(jwtPlans, input.subscriptions);
    }
    for (const p of input.attached) {
      if (policyKindOf(p.name) !== 'jwt') continue;
      const url = p.params?.jwksUrl;
      if (typeof url === 'string') {
        const keys = index.jwks[urlJwtKeySetName(url)] ?? [];
        if (keys.length > 0) tables.jwtKeySets[urlJwtKeySetName(url)] = keys;
      }
      const issuers = p.params?.issuers;
      for (const name of Array.isArray(issuers) ? issuers : []) {
        const manager = typeof name === 'string' ? index.keyManagers.get(name) : undefined;
        const keys = manager ? (index.jwks[keyManagerJwtKeySetName(manager.name)] ?? []) : [];
        // Each key pinned to the key manager's issuer (the module's JWK `iss`): a token of another issuer is
        // never verified by it, even where another key manager on the route shares the same keys.
        const issuer = manager?.issuer ?? null;
        if (keys.length > 0) tables.jwtKeySets[keyManagerJwtKeySetName(manager!.name)] = issuer === null ? keys : keys.map((key) => ({ ...key, iss: issuer }));
      }
    }
    ctx.keyManager = (name) => {
      const manager = index.keyManagers.get(name);
      if (!manager) return null;
      const set = keyManagerJwtKeySetName(name);
      return { keySet: tables.jwtKeySets[set] ? set : null, audiences: manager.audiences };
    };
  },
  implied(input, { ctx }) {
    const jwtPlans = input.ofType('JWT');
    const options = jwtPlans.flatMap((p) => (p.security.jwt ? [p.security.jwt] : []));
    if (options.length === 0 || !input.served('jwt', input.planPath(jwtPlans[0]!))) return null;
    return { kind: 'jwt', source: 'plan', settings: { ...jwtSettingsFromPlans(options, ctx.jwtPlanKeySets, ctx.jwtClients), ...input.selection.jwt } };
  },
};
