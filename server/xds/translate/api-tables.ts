import { apiKeySettingsFromPlan } from '../../policies/api-key.ts';
import { policyFilters } from '../../policies/index.ts';
import { jwtPlanOf, jwtSettingsFromPlans } from '../../policies/jwt.ts';
import type { AttachmentContext } from '../../policies/kind.ts';
import { authorizationServerClusters, oauth2ClientTableName, oauth2PlanConfig, oauth2ServersTable, oauth2SettingsFromPlan } from '../../policies/oauth2.ts';
import { quotaFromSettings } from '../../policies/throttle.ts';
import type { IrApiKey, IrClientIdentity, IrCluster, IrPlan, IrPolicy, IrSubscription, IrTables, PolicyKind, Problem, RouteSettingsByKind } from '../ir.ts';
import type { DeployedApi, DeployedPlan, DeployedSubscription, ModelPolicy } from '../../domain/deployment-model.ts';
import { apiKeySetName, jwtClientTableName, planJwtKeySetName, subscriptionKeySetName, urlJwtKeySetName } from '../names.ts';
import { resolveAttachments } from './attachments.ts';
import type { ModelIndex } from './model-index.ts';

/** The authentication modules that plans imply (docs/plan-selection.md), by plan security type. */
export type AuthKind = 'api-key' | 'jwt' | 'oauth2';
const authKindOf: Record<DeployedPlan['security']['type'], AuthKind | null> = { KEYLESS: null, API_KEY: 'api-key', JWT: 'jwt', OAUTH2: 'oauth2' };

/** What an API contributes besides its routes: policy tables, the plan-implied policies, its plans. */
export interface ApiTables {
  tables: IrTables;
  ctx: AttachmentContext;
  /** Authentication every route gets from the API's plans (unless the route attaches that kind itself), in filter order. */
  impliedAuth: IrPolicy[];
  /**
   * Plan selection per authentication kind the plans use: `plans` (that type's plan ids, in plan order) and
   * `optional` (the API offers more than one security type), set on that module's route entry whatever its origin.
   */
  selection: Partial<Record<AuthKind, { plans: string[]; optional: boolean }>>;
  /** Security types offered, in the order of the API's plans (for the plan module's challenges). */
  securityTypes: IrPlan['security'][];
  /** Modules with plan policies: each route gets an entry there, so that `planPolicies` apply on it. */
  planPolicyKinds: PolicyKind[];
  /** Plans with a quota: every route then checks `plans[x-apip-plan]`. */
  hasPlanQuota: boolean;
  plans: IrPlan[];
  /** Serving plans that admit traffic, in plan order (empty: the API has no plans, no plan module entry). */
  planIds: string[];
  /** Clusters the API's modules call out to (authorization servers). */
  clusters: IrCluster[];
}

export function emptyTables(): IrTables {
  return {
    apiKeySets: {},
    apiKeyPlans: {},
    jwtKeySets: {},
    jwtClients: {},
    jwtPlans: {},
    oauth2Servers: {},
    oauth2Clients: {},
    oauth2Plans: {},
    selectionPlans: {},
    planPolicies: {},
    quotaPlans: {},
    subscriptionPlans: {},
    subscriptionApis: {},
  };
}

/** Statuses that carry traffic: a deprecated plan still serves its subscribers. */
const servingStatuses = new Set(['PUBLISHED', 'DEPRECATED']);

/** What a plan may carry as its own policies: they run for requests it admits (docs/plan-selection.md). */
const planPolicyKinds: ReadonlySet<PolicyKind> = new Set(['throttle', 'set-headers', 'basic-auth']);

function attachedKinds(api: DeployedApi): ModelPolicy[] {
  return [...api.policies, ...api.operations.flatMap((op) => op.policies)];
}

function v09Status(sub: DeployedSubscription): IrSubscription['status'] {
  if (sub.status === 'CLOSED') return 'REVOKED';
  return sub.isLive ? 'ACTIVE' : 'INACTIVE';
}

/** By digest; an active entry before a suspended one of the same digest (dedupe keeps the first). */
const compareKeys = (a: IrApiKey, b: IrApiKey) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : a.status === b.status ? 0 : a.status === 'active' ? -1 : 1);

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function buildApiTables(api: DeployedApi, index: ModelIndex, modules: Readonly<Record<string, { sha256: string }>>, problems: Problem[]): ApiTables {
  const tables = emptyTables();
  const attached = attachedKinds(api);
  const has = (names: readonly string[]) => attached.some((p) => names.includes(p.name));
  const planPath = (plan: DeployedPlan) => `plans[${plan.id}]`;
  const error = (path: string, message: string) => problems.push({ severity: 'error', api: api.handle, path, message });
  const warn = (path: string, message: string) => problems.push({ severity: 'warning', api: api.handle, path, message });
  const subscriptions = index.subscriptionsByApi.get(api.id) ?? [];

  // Every serving plan takes part in plan selection. On a private API only contracted applications pass, so a
  // KEYLESS plan admits no one there: it is left out (and an API left with no plan is not served at all).
  const serving = (index.plansByApi.get(api.id) ?? []).filter((p) => servingStatuses.has(p.status));
  const plans = serving.filter((p) => {
    if (api.visibility !== 'private' || p.security.type !== 'KEYLESS') return true;
    warn(planPath(p), `KEYLESS plan '${p.name}' admits no one on a private API: only applications with a contract pass`);
    return false;
  });
  if (serving.length > 0 && plans.length === 0) error('plans', 'a private API whose only plans are KEYLESS admits no one; add a plan applications can subscribe to');
  const securityTypes = [...new Set(plans.map((p) => p.security.type))];
  const optional = securityTypes.length > 1;
  const ofType = (type: DeployedPlan['security']['type']) => plans.filter((p) => p.security.type === type);
  const selection: ApiTables['selection'] = {};
  for (const type of securityTypes) {
    const kind = authKindOf[type];
    if (kind) selection[kind] = { plans: ofType(type).map((p) => p.id), optional };
  }

  // api-key: the keys of the API_KEY plans' subscriptions (suspended where the subscription does not admit traffic
  // now), and the API's own v0.9 keys when an api-key policy is attached.
  const apiKeyPlans = ofType('API_KEY');
  const apiKeySets: string[] = [];
  if (apiKeyPlans.length > 0 || has(['api-key', 'api-key-auth'])) {
    const propagate = new Map(apiKeyPlans.map((p) => [p.id, p.security.apiKey?.propagateKey ?? false]));
    const subscriptionKeys: IrApiKey[] = [];
    const ownKeys: IrApiKey[] = [];
    for (const { key, subscriptionId, planId, live } of index.keysByApi.get(api.id) ?? []) {
      const entry: IrApiKey = {
        sha256: key.sha256,
        status: live ? 'active' : 'suspended',
        expiresAt: key.expiresAt,
        applicationId: key.applicationId,
        subscriptionId,
        plan: planId,
        propagateCredential: planId === null ? false : (propagate.get(planId) ?? false),
      };
      if (key.owner === 'api') ownKeys.push(entry);
      else if (planId !== null && propagate.has(planId)) subscriptionKeys.push(entry);
    }
    if (apiKeyPlans.length > 0) {
      const name = subscriptionKeySetName(api.handle);
      tables.apiKeySets[name] = dedupe(subscriptionKeys.sort(compareKeys));
      apiKeySets.push(name);
    }
    if (has(['api-key', 'api-key-auth'])) {
      const name = apiKeySetName(api.handle);
      tables.apiKeySets[name] = dedupe(ownKeys.sort(compareKeys));
      apiKeySets.push(name);
      if (plans.length > 0) warn('plans', "the API's own (v0.9) API keys belong to no plan: on an API with plans they admit nothing unless a KEYLESS plan does");
    }
  }
  for (const plan of apiKeyPlans) {
    tables.apiKeyPlans[plan.id] = { rule: plan.selectionRule };
    const first = apiKeyPlans[0]!;
    if (plan !== first && !sameJson([plan.security.apiKey?.keyLocation, plan.security.apiKey?.keyName], [first.security.apiKey?.keyLocation, first.security.apiKey?.keyName])) {
      warn(`${planPath(plan)}.security.apiKey`, `the key is read where the first API_KEY plan '${first.name}' says (one key location per route); this plan's keyLocation/keyName are not used`);
    }
  }

  // jwt: each JWT plan's resolved keys, its rule and scopes, and one client table (client id -> its subscriptions
  // to the API's JWT plans, in plan order).
  const jwtPlans = ofType('JWT');
  const jwtPlanKeySets: string[] = [];
  // Every route trusts all the JWT plans' sets, where a kid may not repeat: a key an earlier plan already ships
  // (same JWK, e.g. two plans on one JWKS URL) is left out of the later set; the same kid for another key fails.
  // Each plan trusts only the sets holding its own keys (`keySets`): a token verified by another plan's key
  // never selects it, even for a client subscribed to both (two plans, two identity providers).
  const trusted = new Map<string, { json: string; plan: string; set: string }>();
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
  let jwtClients: string | null = null;
  if (jwtPlans.length > 0) {
    jwtClients = jwtClientTableName(api.handle);
    tables.jwtClients[jwtClients] = clientTable(jwtPlans, subscriptions);
  }
  for (const p of attached) {
    const url = p.params?.jwksUrl;
    if ((p.name === 'jwt' || p.name === 'jwt-auth') && typeof url === 'string') {
      const keys = index.jwks[urlJwtKeySetName(url)] ?? [];
      if (keys.length > 0) tables.jwtKeySets[urlJwtKeySetName(url)] = keys;
    }
  }

  // oauth2: the OAUTH2 plans' authorization servers (and those oauth2 attachments name), rules and scopes, one
  // client table.
  const oauth2Plans = ofType('OAUTH2');
  const serverIds = new Set<string>();
  for (const plan of oauth2Plans) {
    const id = plan.security.oauth2?.authorizationServerId;
    if (id === undefined || !index.authorizationServers.has(id)) {
      error(`${planPath(plan)}.security.oauth2`, `OAuth2 plan '${plan.name}' has no deployed authorization server${id === undefined ? '' : ` ('${id}')`}`);
    } else serverIds.add(id);
    tables.oauth2Plans[plan.id] = oauth2PlanConfig(plan);
  }
  for (const p of attached) {
    const id = p.params?.authorizationServerId;
    if (p.name === 'oauth2' && typeof id === 'string' && index.authorizationServers.has(id)) serverIds.add(id);
  }
  const servers = [...serverIds].sort().map((id) => index.authorizationServers.get(id)!);
  const serverClusters = authorizationServerClusters(servers);
  for (const issue of serverClusters.problems) error(issue.path, issue.message);
  Object.assign(tables.oauth2Servers, oauth2ServersTable(servers));
  let oauth2Clients: string | null = null;
  if (oauth2Plans.length > 0) {
    oauth2Clients = oauth2ClientTableName(api.handle);
    tables.oauth2Clients[oauth2Clients] = clientTable(oauth2Plans, subscriptions) as IrTables['oauth2Clients'][string];
  }

  // subscription-validation: every subscription of the API, with the v0.9 subscription plans they name.
  if (has(['subscription-validation'])) {
    const v09: IrSubscription[] = [];
    for (const sub of subscriptions) {
      const subscriptionPlan = sub.subscriptionPlanId === null ? undefined : index.subscriptionPlans.get(sub.subscriptionPlanId);
      if (subscriptionPlan) {
        tables.subscriptionPlans[subscriptionPlan.id] = {
          name: subscriptionPlan.planName,
          throttleLimitCount: subscriptionPlan.throttleLimitCount ?? 0,
          throttleLimitUnit: subscriptionPlan.throttleLimitUnit,
          stopOnQuotaReach: subscriptionPlan.stopOnQuotaReach,
        };
      }
      v09.push({ id: sub.id, applicationId: sub.applicationId, tokenSha256: sub.tokenSha256, status: v09Status(sub), plan: subscriptionPlan ? subscriptionPlan.id : null });
    }
    tables.subscriptionApis[api.handle] = { subscriptions: v09 };
  }

  const ctx: AttachmentContext = {
    api: api.handle,
    apiKeySets,
    jwtPlanKeySets,
    jwtUrlKeySet: (url) => (tables.jwtKeySets[urlJwtKeySetName(url)] ? urlJwtKeySetName(url) : null),
    jwtClients,
    hasAuthorizationServer: (id) => tables.oauth2Servers[id] !== undefined,
    oauth2Clients,
    oauth2Plans: oauth2Plans.map((p) => p.id),
  };

  // Plans: what the plan module decides with, and their own policies: a throttle is the plan's quota, set-headers
  // and basic-auth go to their module's `planPolicies.<plan id>`; any other kind cannot run per plan (fail closed).
  const irPlans: IrPlan[] = [];
  const kindsWithPlanPolicies = new Set<PolicyKind>();
  for (const plan of plans) {
    tables.selectionPlans[plan.id] = { name: plan.name, security: plan.security.type, rule: plan.selectionRule };
    const policies = resolveAttachments(plan.policies, 'plan', ctx, modules, `${planPath(plan)}.policies`, problems, planPolicyKinds);
    const folded: Partial<Record<PolicyKind, unknown>> = {};
    for (const policy of policies) {
      const before = folded[policy.kind];
      const merged = before === undefined ? policy.settings : mergeSettings(policy.kind, before, policy.settings);
      if (typeof merged === 'string') error(`${planPath(plan)}.policies`, merged);
      else folded[policy.kind] = merged;
    }
    const { throttle, ...perPlan } = folded as Partial<RouteSettingsByKind>;
    if (throttle) tables.quotaPlans[plan.id] = quotaFromSettings(throttle);
    if (Object.keys(perPlan).length > 0) tables.planPolicies[plan.id] = perPlan;
    for (const kind of Object.keys(perPlan) as PolicyKind[]) kindsWithPlanPolicies.add(kind);
    irPlans.push({ id: plan.id, api: api.handle, name: plan.name, security: plan.security.type, rule: plan.selectionRule, policies });
  }

  // Authentication implied by the plans: one module per security type, each over all of that type's plans.
  const impliedAuth: IrPolicy[] = [];
  const needs = (kind: string, at: string) => {
    if (modules[kind]) return true;
    error(at, `module '${kind}' is not served by the control plane`);
    return false;
  };
  const firstApiKey = apiKeyPlans.find((p) => p.security.apiKey !== null);
  if (firstApiKey && needs('api-key', planPath(firstApiKey))) {
    impliedAuth.push({ kind: 'api-key', source: 'plan', settings: { ...apiKeySettingsFromPlan(firstApiKey.security.apiKey!, apiKeySets), ...selection['api-key'] } });
  }
  const jwtOptions = jwtPlans.flatMap((p) => (p.security.jwt ? [p.security.jwt] : []));
  if (jwtOptions.length > 0 && needs('jwt', planPath(jwtPlans[0]!))) {
    impliedAuth.push({ kind: 'jwt', source: 'plan', settings: { ...jwtSettingsFromPlans(jwtOptions, jwtPlanKeySets, jwtClients), ...selection.jwt } });
  }
  if (oauth2Plans.length > 0 && needs('oauth2', planPath(oauth2Plans[0]!))) {
    const implied = oauth2SettingsFromPlan(oauth2Plans, oauth2Clients, optional);
    for (const issue of implied.issues) error(issue.path.startsWith('plans[') ? issue.path : `${planPath(oauth2Plans[0]!)}.${issue.path}`, issue.message);
    impliedAuth.push({ kind: 'oauth2', source: 'plan', settings: implied.settings });
  }
  if (plans.length > 0) needs('plan', 'plans');
  for (const kind of kindsWithPlanPolicies) needs(kind, 'plans');
  const hasPlanQuota = plans.some((p) => tables.quotaPlans[p.id] !== undefined);
  if (hasPlanQuota) needs('throttle', 'plans');
  return {
    tables,
    ctx,
    impliedAuth,
    selection,
    securityTypes,
    planPolicyKinds: [...kindsWithPlanPolicies],
    hasPlanQuota,
    plans: irPlans,
    planIds: plans.map((p) => p.id),
    clusters: serverClusters.clusters,
  };
}

/**
 * A jwt/oauth2 client table: client id -> its subscriptions to `plans` (one type's plans, in plan order), one
 * entry per plan: a live subscription, else the latest one, `active: false` (403 Subscription is not active).
 */
function clientTable(plans: readonly DeployedPlan[], subscriptions: readonly DeployedSubscription[]): Record<string, IrClientIdentity[]> {
  const order = new Map(plans.map((p, i) => [p.id, i]));
  const byClient = new Map<string, Map<string, DeployedSubscription>>();
  for (const sub of subscriptions) {
    if (sub.clientId === null || sub.planId === null || !order.has(sub.planId)) continue;
    let perPlan = byClient.get(sub.clientId);
    if (!perPlan) byClient.set(sub.clientId, (perPlan = new Map()));
    const kept = perPlan.get(sub.planId);
    // Subscriptions come sorted by id (time-sortable): a later one replaces an earlier one unless only that one is live.
    if (kept === undefined || sub.isLive || !kept.isLive) perPlan.set(sub.planId, sub);
  }
  const table: Record<string, IrClientIdentity[]> = {};
  for (const clientId of [...byClient.keys()].sort()) {
    table[clientId] = [...byClient.get(clientId)!.values()]
      .sort((a, b) => order.get(a.planId!)! - order.get(b.planId!)!)
      .map((sub) => ({ applicationId: sub.applicationId, subscriptionId: sub.id, plan: sub.planId, active: sub.isLive }));
  }
  return table;
}

function mergeSettings(kind: PolicyKind, earlier: unknown, later: unknown): unknown {
  return policyFilters[kind].merge(earlier as never, later as never);
}

/** One entry per digest (the module refuses duplicates within a set); the first (sorted) wins. */
function dedupe(keys: IrApiKey[]): IrApiKey[] {
  return keys.filter((k, i) => i === 0 || keys[i - 1]!.sha256 !== k.sha256);
}
