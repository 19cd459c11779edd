import { apiKeySettingsFromPlan } from '../filters/api-key.ts';
import type { AttachmentContext } from '../filters/filter.ts';
import { jwtSettingsFromPlan } from '../filters/jwt.ts';
import { quotaFromSettings } from '../filters/throttle.ts';
import type { IrApiKey, IrClientIdentity, IrPlan, IrPolicy, IrSubscription, IrTables, Problem } from '../ir.ts';
import type { DeployedApi, DeployedPlan, DeployedSubscription, ModelPolicy } from '../../domain/deployment-model.ts';
import { apiKeySetName, jwtClientTableName, planJwtKeySetName, subscriptionKeySetName, urlJwtKeySetName } from '../names.ts';
import { resolveAttachments } from './attachments.ts';
import type { ModelIndex } from './model-index.ts';

/** What an API contributes besides its routes: policy tables, the plan-implied policies, its plans. */
export interface ApiTables {
  tables: IrTables;
  ctx: AttachmentContext;
  /** Authentication every route gets from the API's plans (unless the route attaches that kind itself). */
  impliedAuth: IrPolicy | null;
  /** Plans with a quota: every route then checks `plans[x-apip-plan]`. */
  hasPlanQuota: boolean;
  plans: IrPlan[];
  planIds: string[];
}

export function emptyTables(): IrTables {
  return { apiKeySets: {}, jwtKeySets: {}, jwtClients: {}, quotaPlans: {}, subscriptionPlans: {}, subscriptionApis: {} };
}

/** Statuses that carry traffic: a deprecated plan still serves its subscribers. */
const servingStatuses = new Set(['PUBLISHED', 'DEPRECATED']);

function attachedKinds(api: DeployedApi): ModelPolicy[] {
  return [...api.policies, ...api.operations.flatMap((op) => op.policies)];
}

function v09Status(sub: DeployedSubscription): IrSubscription['status'] {
  if (sub.status === 'CLOSED') return 'REVOKED';
  return sub.isLive ? 'ACTIVE' : 'INACTIVE';
}

const compareSha = (a: IrApiKey, b: IrApiKey) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0);

export function buildApiTables(api: DeployedApi, index: ModelIndex, modules: Readonly<Record<string, { sha256: string }>>, problems: Problem[]): ApiTables {
  const tables = emptyTables();
  const attached = attachedKinds(api);
  const has = (names: readonly string[]) => attached.some((p) => names.includes(p.name));
  const plans = (index.plansByApi.get(api.id) ?? []).filter((p) => servingStatuses.has(p.status));
  const planPath = (plan: DeployedPlan) => `plans[${plan.id}]`;
  const error = (path: string, message: string) => problems.push({ severity: 'error', api: api.handle, path, message });
  const warn = (path: string, message: string) => problems.push({ severity: 'warning', api: api.handle, path, message });

  // api-key: the keys of API_KEY plans' subscriptions, and the API's own v0.9 keys when an api-key policy is attached.
  const apiKeyPlans = plans.filter((p) => p.security.type === 'API_KEY');
  const apiKeySets: string[] = [];
  if (apiKeyPlans.length > 0 || has(['api-key', 'api-key-auth'])) {
    const propagate = new Map(apiKeyPlans.map((p) => [p.id, p.security.apiKey?.propagateKey ?? false]));
    const subscriptionKeys: IrApiKey[] = [];
    const ownKeys: IrApiKey[] = [];
    for (const { key, subscriptionId, planId } of index.keysByApi.get(api.id) ?? []) {
      const entry: IrApiKey = {
        sha256: key.sha256,
        status: 'active',
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
      tables.apiKeySets[name] = dedupe(subscriptionKeys.sort(compareSha));
      apiKeySets.push(name);
    }
    if (has(['api-key', 'api-key-auth'])) {
      const name = apiKeySetName(api.handle);
      tables.apiKeySets[name] = dedupe(ownKeys.sort(compareSha));
      apiKeySets.push(name);
    }
  }

  // jwt: each JWT plan's resolved keys, and one client table for the API's live JWT subscriptions.
  const jwtPlans = plans.filter((p) => p.security.type === 'JWT');
  const jwtPlanKeySets: string[] = [];
  for (const plan of jwtPlans) {
    const keys = index.jwks[planJwtKeySetName(plan.id)] ?? [];
    if (keys.length === 0) error(`${planPath(plan)}.security.jwt`, `JWT plan '${plan.name}' has no usable public key (${plan.security.jwt?.keyResolver ?? 'no resolver'})`);
    else {
      tables.jwtKeySets[planJwtKeySetName(plan.id)] = keys;
      jwtPlanKeySets.push(planJwtKeySetName(plan.id));
    }
  }
  let jwtClients: string | null = null;
  if (jwtPlans.length > 0) {
    const jwtPlanIds = new Set(jwtPlans.map((p) => p.id));
    const table: Record<string, IrClientIdentity> = {};
    for (const sub of index.subscriptionsByApi.get(api.id) ?? []) {
      if (!sub.isLive || sub.clientId === null || sub.planId === null || !jwtPlanIds.has(sub.planId)) continue;
      table[sub.clientId] ??= { applicationId: sub.applicationId, subscriptionId: sub.id, plan: sub.planId };
    }
    jwtClients = jwtClientTableName(api.handle);
    tables.jwtClients[jwtClients] = Object.fromEntries(Object.entries(table).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  for (const p of attached) {
    const url = p.params?.jwksUrl;
    if ((p.name === 'jwt' || p.name === 'jwt-auth') && typeof url === 'string') {
      const keys = index.jwks[urlJwtKeySetName(url)] ?? [];
      if (keys.length > 0) tables.jwtKeySets[urlJwtKeySetName(url)] = keys;
    }
  }

  // subscription-validation: every subscription of the API, with the v0.9 subscription plans they name.
  if (has(['subscription-validation'])) {
    const subscriptions: IrSubscription[] = [];
    for (const sub of index.subscriptionsByApi.get(api.id) ?? []) {
      const subscriptionPlan = sub.subscriptionPlanId === null ? undefined : index.subscriptionPlans.get(sub.subscriptionPlanId);
      if (subscriptionPlan) {
        tables.subscriptionPlans[subscriptionPlan.id] = {
          name: subscriptionPlan.planName,
          throttleLimitCount: subscriptionPlan.throttleLimitCount ?? 0,
          throttleLimitUnit: subscriptionPlan.throttleLimitUnit,
          stopOnQuotaReach: subscriptionPlan.stopOnQuotaReach,
        };
      }
      subscriptions.push({ id: sub.id, applicationId: sub.applicationId, tokenSha256: sub.tokenSha256, status: v09Status(sub), plan: subscriptionPlan ? subscriptionPlan.id : null });
    }
    tables.subscriptionApis[api.handle] = { subscriptions };
  }

  const ctx: AttachmentContext = {
    api: api.handle,
    apiKeySets,
    jwtPlanKeySets,
    jwtUrlKeySet: (url) => (tables.jwtKeySets[urlJwtKeySetName(url)] ? urlJwtKeySetName(url) : null),
    jwtClients,
  };

  // Plans: their own policies (kept for plan selection), a throttle among them becomes the plan's quota.
  const irPlans: IrPlan[] = [];
  for (const plan of plans) {
    if (plan.security.type === 'OAUTH2') error(`${planPath(plan)}.security`, `OAuth2 plan '${plan.name}' cannot be enforced yet (no oauth2 module)`);
    const policies = resolveAttachments(plan.policies, 'plan', ctx, modules, `${planPath(plan)}.policies`, problems);
    for (const policy of policies) {
      if (policy.kind === 'throttle') tables.quotaPlans[plan.id] = quotaFromSettings(policy.settings);
      else warn(`${planPath(plan)}.policies`, `plan policy '${policy.kind}' applies once plan selection is available`);
    }
    irPlans.push({ id: plan.id, api: api.handle, name: plan.name, security: plan.security.type, policies });
  }

  // One authentication per route until plan selection lands: the first authenticating plan decides.
  const authPlans = plans.filter((p) => p.security.type === 'API_KEY' || p.security.type === 'JWT');
  const first = authPlans[0];
  let impliedAuth: IrPolicy | null = null;
  if (first) {
    if (authPlans.some((p) => p.security.type !== first.security.type)) {
      warn('plans', `API_KEY and JWT plans on one API need plan selection; '${first.name}' (${first.security.type}) decides for now`);
    }
    if (plans.some((p) => p.security.type === 'KEYLESS')) warn('plans', 'a KEYLESS plan beside authenticating plans needs plan selection; authentication is required for now');
    if (first.security.type === 'API_KEY' && first.security.apiKey) {
      if (!modules['api-key']) error(planPath(first), "module 'api-key' is not served by the control plane");
      else impliedAuth = { kind: 'api-key', source: 'plan', settings: apiKeySettingsFromPlan(first.security.apiKey, apiKeySets) };
    } else if (first.security.type === 'JWT' && first.security.jwt) {
      if (!modules.jwt) error(planPath(first), "module 'jwt' is not served by the control plane");
      else impliedAuth = { kind: 'jwt', source: 'plan', settings: jwtSettingsFromPlan(first.security.jwt, jwtPlanKeySets, jwtClients) };
    }
  }
  const hasPlanQuota = plans.some((p) => tables.quotaPlans[p.id] !== undefined);
  if (hasPlanQuota && !modules.throttle) error('plans', "module 'throttle' is not served by the control plane");
  return { tables, ctx, impliedAuth, hasPlanQuota, plans: irPlans, planIds: plans.map((p) => p.id) };
}

/** One entry per digest (the module refuses duplicates within a set); the first (sorted) wins. */
function dedupe(keys: IrApiKey[]): IrApiKey[] {
  return keys.filter((k, i) => i === 0 || keys[i - 1]!.sha256 !== k.sha256);
}
