import type { DeployedApi, DeployedPlan } from '../../domain/deployment-model.ts';
import { policyFilters, policyKindOf, policyKinds } from '../../policies/index.ts';
import type { AttachmentContext } from '../../policies/kind.ts';
import { quotaFromSettings } from '../../policies/throttle.ts';
import type { IrCluster, IrPlan, IrPolicy, IrTables, PolicyKind, RouteSettingsByKind } from '../ir.ts';
import type { Problem } from '../../domain/errors.ts';
import { urlJwtKeySetName } from '../names.ts';
import { resolveAttachments } from './attachments.ts';
import type { ModelIndex } from './model-index.ts';
import { tablesSteps } from './tables/index.ts';
import type { ApiTablesDraft, ApiTablesInput, AuthKind } from './tables/step.ts';

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

/**
 * What a plan may carry as its own policies: they run for requests it admits (docs/plan-selection.md). The kinds
 * say so themselves (`attachTo`), the same rule the domain refuses other plan policies with.
 */
const planPolicyKinds: ReadonlySet<PolicyKind> = new Set(policyKinds.filter((kind) => policyFilters[kind].definition?.attachTo.includes('plan')));

export function buildApiTables(api: DeployedApi, index: ModelIndex, modules: Readonly<Record<string, { sha256: string }>>, problems: Problem[]): ApiTables {
  const planPath = (plan: DeployedPlan) => `plans[${plan.id}]`;
  const error = (path: string, message: string) => problems.push({ severity: 'error', api: api.handle, path, message });
  const warn = (path: string, message: string) => problems.push({ severity: 'warning', api: api.handle, path, message });
  const served = (kind: string, at: string) => {
    if (modules[kind]) return true;
    error(at, `module '${kind}' is not served by the control plane`);
    return false;
  };

  // Every serving plan takes part in plan selection. On a private API only contracted applications pass, so a
  // KEYLESS plan admits no one there: it is left out, and an API left with no plan is CLOSED (domain/reachability.ts).
  const serving = (index.plansByApi.get(api.id) ?? []).filter((p) => servingStatuses.has(p.status));
  const plans = serving.filter((p) => {
    if (api.visibility !== 'private' || p.security.type !== 'KEYLESS') return true;
    warn(planPath(p), `KEYLESS plan '${p.name}' admits no one on a private API: only applications with a contract pass`);
    return false;
  });
  const securityTypes = [...new Set(plans.map((p) => p.security.type))];
  const optional = securityTypes.length > 1;
  const ofType = (type: DeployedPlan['security']['type']) => plans.filter((p) => p.security.type === type);
  const selection: ApiTables['selection'] = {};
  for (const type of securityTypes) {
    const kind = authKindOf[type];
    if (kind) selection[kind] = { plans: ofType(type).map((p) => p.id), optional };
  }
  const attached = [...api.policies, ...api.operations.flatMap((op) => op.policies)];
  const attachedKinds = new Set(attached.map((p) => policyKindOf(p.name)));
  const input: ApiTablesInput = {
    api,
    index,
    plans,
    subscriptions: index.subscriptionsByApi.get(api.id) ?? [],
    attaches: (kind) => attachedKinds.has(kind),
    attached,
    ofType,
    selection,
    optional,
    planPath,
    served,
    error,
    warn,
  };

  // Each kind's tables, then what attachments may refer to.
  const tables = emptyTables();
  const draft: ApiTablesDraft = { tables, ctx: { apiKeySets: [], jwtPlanKeySets: [], jwtClients: null, oauth2Clients: null, oauth2Plans: [] }, clusters: [] };
  for (const step of tablesSteps) step.tables(input, draft);
  const ctx: AttachmentContext = {
    ...draft.ctx,
    api: api.handle,
    apiVersion: api.version,
    jwtUrlKeySet: (url) => (tables.jwtKeySets[urlJwtKeySetName(url)] ? urlJwtKeySetName(url) : null),
    hasAuthorizationServer: (id) => tables.oauth2Servers[id] !== undefined,
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
  for (const step of tablesSteps) {
    const implied = step.implied?.(input, draft);
    if (implied) impliedAuth.push(implied);
  }
  if (plans.length > 0) served('plan', 'plans');
  for (const kind of kindsWithPlanPolicies) served(kind, 'plans');
  const hasPlanQuota = plans.some((p) => tables.quotaPlans[p.id] !== undefined);
  if (hasPlanQuota) served('throttle', 'plans');
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
    clusters: draft.clusters,
  };
}

function mergeSettings(kind: PolicyKind, earlier: unknown, later: unknown): unknown {
  return policyFilters[kind].merge(earlier as never, later as never);
}
