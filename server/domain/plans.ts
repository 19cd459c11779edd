import { and, asc, eq, inArray, max, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { apiKeys, apis, planPolicies, plans, subscriptions } from '../db/schema/index.ts';
import { requireApiManager, requireRole } from './access.ts';
import { type DomainContext, type WriteScope, write } from './context.ts';
import { type FieldIssue, InvalidTransitionError, NotFoundError, ValidationError } from './errors.ts';
import { parseSelectionRule } from './selection-rule.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { checkOAuth2References, parsePlanSecurity, sealSecurityConfig, type PlanSecurity, type PlanSecurityInput, type PlanSecurityType, toPlanSecurity } from './plan-security.ts';
import { maskSecretParams, normalizePolicies, restoreSecretParams, validatePolicyAttachment } from './policy-registry.ts';
import { apiVisibleTo } from './api-visibility.ts';

export const planStatuses = ['STAGING', 'PUBLISHED', 'DEPRECATED', 'CLOSED'] as const;
export type PlanStatus = (typeof planStatuses)[number];
export const planValidations = ['AUTO', 'MANUAL'] as const;
export type PlanValidation = (typeof planValidations)[number];

export interface PlanPolicy {
  name: string;
  version: string;
  executionCondition: string | null;
  params: Record<string, unknown> | null;
}

export interface Plan {
  id: string;
  apiId: string;
  /** The first version's id, shared by every version of this plan. */
  lineageId: string;
  version: number;
  name: string;
  description: string | null;
  security: PlanSecurity;
  /** In execution order. */
  policies: PlanPolicy[];
  /** Stored as given; its syntax is defined by the plan-selection work. */
  selectionRule: string | null;
  validation: PlanValidation;
  status: PlanStatus;
  position: number;
  publishedAt: Date | null;
  deprecatedAt: Date | null;
  closedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PlanPolicyInput {
  name: string;
  version: string;
  executionCondition?: string | null | undefined;
  params?: Record<string, unknown> | null | undefined;
}

export interface CreatePlanInput {
  apiId: string;
  name: string;
  description?: string | null | undefined;
  security: PlanSecurityInput;
  policies?: PlanPolicyInput[] | null | undefined;
  selectionRule?: string | null | undefined;
  validation?: PlanValidation | null | undefined;
  /** @default after the API's last plan */
  position?: number | null | undefined;
}

/** Absent fields are left as they are. */
export type UpdatePlanInput = Partial<Omit<CreatePlanInput, 'apiId' | 'name' | 'security'>> & {
  name?: string | null | undefined;
  security?: PlanSecurityInput | null | undefined;
};

export interface PlanFilters {
  status?: readonly PlanStatus[] | null | undefined;
  security?: PlanSecurityType | null | undefined;
}

/** Statuses a consumer may read; staging plans are work in progress and closed ones are gone. */
const consumerStatuses: readonly PlanStatus[] = ['PUBLISHED', 'DEPRECATED'];
/** Once published, a plan is a contract: these fields are frozen (seed 001: "Once a plan is locked, it cannot be revised"). */
const lockedFields = ['security', 'policies', 'selectionRule', 'validation', 'position'] as const;

type PlanRow = typeof plans.$inferSelect;

export function isLocked(plan: Pick<Plan, 'status'>): boolean {
  return plan.status !== 'STAGING';
}

/** For the subscriptions module: throws unless a new subscription may be made to this plan. */
export function assertPlanAcceptsSubscriptions(plan: Pick<Plan, 'status' | 'security'>): void {
  if (plan.security.type === 'KEYLESS') throw new InvalidTransitionError('Keyless plans need no subscription', plan.status);
  if (plan.status !== 'PUBLISHED') {
    throw new InvalidTransitionError(`A ${plan.status} plan takes no new subscriptions`, plan.status);
  }
}

async function hydrate(db: Executor, rows: readonly PlanRow[]): Promise<Plan[]> {
  if (rows.length === 0) return [];
  const policyRows = await db
    .select()
    .from(planPolicies)
    .where(inArray(planPolicies.planId, rows.map((r) => r.id)))
    .orderBy(asc(planPolicies.planId), asc(planPolicies.position));
  const byPlan = new Map<string, PlanPolicy[]>();
  for (const p of policyRows) {
    const list = byPlan.get(p.planId) ?? [];
    // Secret params (basic-auth users' hashes) are write-only for everyone.
    list.push({ name: p.name, version: p.version, executionCondition: p.executionCondition, params: maskSecretParams(p.name, p.params) });
    byPlan.set(p.planId, list);
  }
  return rows.map((row) => ({
    id: row.id,
    apiId: row.apiId,
    lineageId: row.lineageId,
    version: row.version,
    name: row.name,
    description: row.description,
    security: toPlanSecurity(row.security, row.securityConfig),
    policies: byPlan.get(row.id) ?? [],
    selectionRule: row.selectionRule,
    validation: row.validation,
    status: row.status,
    position: row.position,
    publishedAt: row.publishedAt,
    deprecatedAt: row.deprecatedAt,
    closedAt: row.closedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }));
}

/**
 * Which of these APIs the actor may see. Consumers: deployed public APIs and private ones an application
 * of theirs has a live subscription to (conventions, access rules); everyone else: every existing API.
 */
async function visibleApiIds(ctx: DomainContext, apiIds: readonly string[]): Promise<Set<string>> {
  if (apiIds.length === 0) return new Set();
  const where = and(inArray(apis.id, [...new Set(apiIds)]), apiVisibleTo(ctx.db, ctx.actor));
  const rows = await ctx.db.select({ id: apis.id }).from(apis).where(where);
  return new Set(rows.map((r) => r.id));
}

function canRead(ctx: DomainContext, plan: Pick<Plan, 'status'>): boolean {
  return ctx.actor.role !== 'consumer' || consumerStatuses.includes(plan.status);
}

/** Batch loader: plans in the order of `ids`, null where missing or not visible to the actor. */
export async function loadPlans(ctx: DomainContext, ids: readonly string[]): Promise<(Plan | null)[]> {
  if (ids.length === 0) return [];
  const found = await hydrate(ctx.db, await ctx.db.select().from(plans).where(inArray(plans.id, [...new Set(ids)])));
  const visible = await visibleApiIds(ctx, found.map((p) => p.apiId));
  const byId = new Map(found.filter((p) => visible.has(p.apiId) && canRead(ctx, p)).map((p) => [p.id, p]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Batch loader for `Api.plans`: each API's readable plans by position, then id. */
export async function listPlansForApis(ctx: DomainContext, apiIds: readonly string[]): Promise<Plan[][]> {
  if (apiIds.length === 0) return [];
  const visible = await visibleApiIds(ctx, apiIds);
  const where: SQL[] = [inArray(plans.apiId, [...visible])];
  if (ctx.actor.role === 'consumer') where.push(inArray(plans.status, [...consumerStatuses]));
  const found = visible.size === 0 ? [] : await hydrate(ctx.db, await ctx.db.select().from(plans).where(and(...where)).orderBy(asc(plans.position), asc(plans.id)));
  return apiIds.map((apiId) => found.filter((p) => p.apiId === apiId));
}

export async function getPlan(ctx: DomainContext, id: string): Promise<Plan> {
  const [plan] = await loadPlans(ctx, [id]);
  if (!plan) throw new NotFoundError('Plan', id);
  return plan;
}

export async function listPlans(ctx: DomainContext, apiId: string, filters: PlanFilters, page: PageArgs): Promise<Plan[]> {
  if (!(await visibleApiIds(ctx, [apiId])).has(apiId)) throw new NotFoundError('Api', apiId);
  const where: SQL[] = [eq(plans.apiId, apiId)];
  let statuses = filters.status ?? null;
  if (ctx.actor.role === 'consumer') statuses = (statuses ?? consumerStatuses).filter((s) => consumerStatuses.includes(s));
  if (statuses?.length === 0) return [];
  if (statuses) where.push(inArray(plans.status, [...statuses]));
  if (filters.security) where.push(eq(plans.security, filters.security));
  const rows = await selectPage(ctx.db, plans, where, page);
  return hydrate(ctx.db, rows);
}

function validateCommon(input: UpdatePlanInput, issues: FieldIssue[]): void {
  if (input.name != null && (input.name.trim() === '' || input.name.length > 128)) issues.push({ path: 'name', message: 'Name must be 1-128 characters, not blank' });
  if (input.description != null && input.description.length > 2000) issues.push({ path: 'description', message: 'Description must be at most 2000 characters' });
  if (input.selectionRule != null) {
    // Same grammar and limits as the gateway modules (docs/selection-rules.md).
    const rule = input.selectionRule.trim() === '' ? ({ ok: false, message: 'must not be blank', offset: 0 } as const) : parseSelectionRule(input.selectionRule);
    if (!rule.ok) issues.push({ path: 'selectionRule', message: `Invalid selection rule: ${rule.message} at offset ${rule.offset}` });
  }
  if (input.validation != null && !planValidations.includes(input.validation)) issues.push({ path: 'validation', message: 'Must be AUTO or MANUAL' });
  if (input.position != null && (!Number.isInteger(input.position) || input.position < 0 || input.position > 10_000)) {
    issues.push({ path: 'position', message: 'Position must be an integer from 0 to 10000' });
  }
  (input.policies ?? []).forEach((policy, i) => {
    issues.push(
      ...validatePolicyAttachment(
        {
          name: policy.name,
          version: policy.version,
          ...(policy.params != null ? { params: policy.params } : {}),
          ...(policy.executionCondition != null ? { executionCondition: policy.executionCondition } : {}),
        },
        `policies[${i}]`,
      ),
    );
  });
}

/** Write-only params left out of `input.policies` (or sent back as read) keep the plan's stored values. */
async function keepSecretParams(db: Executor, id: string, input: UpdatePlanInput): Promise<UpdatePlanInput> {
  if (input.policies == null) return input;
  const previous = await db.select({ name: planPolicies.name, params: planPolicies.params }).from(planPolicies).where(eq(planPolicies.planId, id));
  return { ...input, policies: input.policies.map((p) => ({ ...p, params: restoreSecretParams(p.name, p.params, previous) })) };
}

/** Policies with params as stored (`normalizePolicies`: passwords hashed before the transaction opens). */
async function insertPolicies(scope: WriteScope, planId: string, policies: readonly PlanPolicyInput[]): Promise<void> {
  if (policies.length === 0) return;
  await scope.tx.insert(planPolicies).values(
    policies.map((p, position) => ({
      id: newId('policy'),
      planId,
      position,
      name: p.name,
      version: p.version,
      executionCondition: p.executionCondition ?? null,
      params: p.params ?? null,
    })),
  );
}

/** The plan about to change, locked; only a manager of its API gets it (see access.ts). */
async function lockPlan(scope: WriteScope, id: string): Promise<Plan> {
  const [row] = await scope.tx.select().from(plans).where(eq(plans.id, id)).for('update');
  if (!row) throw new NotFoundError('Plan', id);
  await requireApiManager(scope.tx, scope.actor, row.apiId);
  const [plan] = await hydrate(scope.tx, [row]);
  return plan!;
}

async function reload(scope: WriteScope, id: string): Promise<Plan> {
  const [plan] = await hydrate(scope.tx, await scope.tx.select().from(plans).where(eq(plans.id, id)));
  return plan!;
}

export async function createPlan(ctx: DomainContext, input: CreatePlanInput): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const issues: FieldIssue[] = [];
  if (input.name == null) issues.push({ path: 'name', message: 'Required' });
  validateCommon(input, issues);
  const security = await parsePlanSecurity(input.security, 'security', null);
  issues.push(...security.issues);
  if (issues.length > 0) throw new ValidationError(issues);
  const policies = await normalizePolicies(input.policies ?? []);
  return write(ctx, async (scope) => {
    const [api] = await scope.tx.select({ id: apis.id }).from(apis).where(eq(apis.id, input.apiId));
    if (!api) throw new NotFoundError('Api', input.apiId);
    await requireApiManager(scope.tx, scope.actor, api.id);
    // In the transaction: the authorization server cannot be deleted between this check and the insert.
    const references = await checkOAuth2References(scope.tx, input.security.type, security.config, 'security');
    if (references.length > 0) throw new ValidationError(references);
    const id = newId('plan');
    const [last] = await scope.tx.select({ position: max(plans.position) }).from(plans).where(eq(plans.apiId, input.apiId));
    await scope.tx.insert(plans).values({
      id,
      apiId: input.apiId,
      lineageId: id,
      version: 1,
      name: input.name.trim(),
      description: input.description ?? null,
      security: input.security.type,
      securityConfig: sealSecurityConfig(ctx.keys.box, input.security.type, security.config),
      selectionRule: input.selectionRule ?? null,
      validation: input.validation ?? 'AUTO',
      position: input.position ?? (last?.position == null ? 0 : last.position + 1),
    });
    await insertPolicies(scope, id, policies);
    const plan = await reload(scope, id);
    await scope.audit({ action: 'plan.create', entityType: 'plan', entityId: id, after: plan });
    return plan;
  });
}

/** Edits a plan. A locked (published or later) plan takes only name and description. */
export async function updatePlan(ctx: DomainContext, id: string, given: UpdatePlanInput): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const input = await keepSecretParams(ctx.db, id, given);
  const issues: FieldIssue[] = [];
  validateCommon(input, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  const policies = input.policies == null ? null : await normalizePolicies(input.policies);
  return write(ctx, async (scope) => {
    const before = await lockPlan(scope, id);
    // null selectionRule clears it (a change); null elsewhere means "leave as is".
    const frozen = lockedFields.filter((f) => (f === 'selectionRule' ? input[f] !== undefined : input[f] != null));
    if (isLocked(before) && frozen.length > 0) {
      throw new InvalidTransitionError(`A ${before.status} plan is locked: ${frozen.join(', ')} cannot change; create a new version`, before.status);
    }
    let securityConfig: Record<string, unknown> | undefined;
    if (input.security != null) {
      const [row] = await scope.tx.select({ security: plans.security, config: plans.securityConfig }).from(plans).where(eq(plans.id, id));
      const parsed = await parsePlanSecurity(input.security, 'security', row ? { type: row.security, config: row.config } : null);
      if (parsed.issues.length > 0) throw new ValidationError(parsed.issues);
      const references = await checkOAuth2References(scope.tx, input.security.type, parsed.config, 'security');
      if (references.length > 0) throw new ValidationError(references);
      securityConfig = sealSecurityConfig(ctx.keys.box, input.security.type, parsed.config);
    }
    await scope.tx
      .update(plans)
      .set({
        ...(input.name != null ? { name: input.name.trim() } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.security != null ? { security: input.security.type, securityConfig } : {}),
        ...(input.selectionRule !== undefined ? { selectionRule: input.selectionRule } : {}),
        ...(input.validation != null ? { validation: input.validation } : {}),
        ...(input.position != null ? { position: input.position } : {}),
        updatedAt: scope.now,
      })
      .where(eq(plans.id, id));
    if (policies != null) {
      await scope.tx.delete(planPolicies).where(eq(planPolicies.planId, id));
      await insertPolicies(scope, id, policies);
    }
    const after = await reload(scope, id);
    await scope.audit({ action: 'plan.update', entityType: 'plan', entityId: id, before, after });
    return after;
  });
}

/** Allowed moves of the one-way lifecycle; anything else (including backwards) is an InvalidTransitionError. */
const transitions: Record<PlanStatus, readonly PlanStatus[]> = {
  STAGING: ['PUBLISHED', 'CLOSED'],
  PUBLISHED: ['DEPRECATED', 'CLOSED'],
  DEPRECATED: ['CLOSED'],
  CLOSED: [],
};

const verbs = { PUBLISHED: 'publish', DEPRECATED: 'deprecate', CLOSED: 'close', STAGING: 'stage' } as const;

async function transition(ctx: DomainContext, id: string, to: PlanStatus, extra?: (scope: WriteScope, plan: Plan) => Promise<void>): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async (scope) => {
    const before = await lockPlan(scope, id);
    if (!transitions[before.status].includes(to)) {
      throw new InvalidTransitionError(`Cannot ${verbs[to]} a ${before.status} plan`, before.status, to);
    }
    const stamp = to === 'PUBLISHED' ? { publishedAt: scope.now } : to === 'DEPRECATED' ? { deprecatedAt: scope.now } : { closedAt: scope.now };
    await scope.tx.update(plans).set({ status: to, ...stamp, updatedAt: scope.now }).where(eq(plans.id, id));
    await extra?.(scope, before);
    const after = await reload(scope, id);
    await scope.audit({ action: `plan.${verbs[to]}`, entityType: 'plan', entityId: id, before, after });
    return after;
  });
}

export function publishPlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'PUBLISHED');
}

/** A deprecated plan keeps its subscriptions but takes no new ones. */
export function deprecatePlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'DEPRECATED');
}

/** Closes the plan and, in the same transaction, its open subscriptions and the keys they own. */
export function closePlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'CLOSED', async (scope) => {
    const open = await scope.tx
      .select({ id: subscriptions.id, status: subscriptions.status })
      .from(subscriptions)
      .where(and(eq(subscriptions.planId, id), inArray(subscriptions.status, ['PENDING', 'ACCEPTED', 'PAUSED'])));
    if (open.length === 0) return;
    const subscriptionIds = open.map((s) => s.id);
    await scope.tx
      .update(subscriptions)
      .set({ status: 'CLOSED', closedAt: scope.now, reason: 'plan closed', updatedAt: scope.now })
      .where(inArray(subscriptions.id, subscriptionIds));
    for (const s of open) {
      await scope.audit({
        action: 'subscription.close',
        entityType: 'subscription',
        entityId: s.id,
        before: { status: s.status },
        after: { status: 'CLOSED', reason: 'plan closed' },
      });
    }
    const revoked = await scope.tx
      .update(apiKeys)
      .set({ status: 'revoked', revokedAt: scope.now, updatedAt: scope.now })
      .where(and(inArray(apiKeys.subscriptionId, subscriptionIds), eq(apiKeys.status, 'active')))
      .returning({ id: apiKeys.id, masked: apiKeys.masked });
    for (const key of revoked) {
      await scope.audit({
        action: 'api-key.revoke',
        entityType: 'api-key',
        entityId: key.id,
        before: { status: 'active', masked: key.masked },
        after: { status: 'revoked', masked: key.masked, reason: 'plan closed' },
      });
    }
  });
}

/** Copies a locked plan into a new STAGING plan of the same lineage, numbered after the lineage's newest version. */
export async function createPlanVersion(ctx: DomainContext, id: string): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async (scope) => {
    const source = await lockPlan(scope, id);
    if (!isLocked(source)) throw new InvalidTransitionError('A STAGING plan is not locked: edit it instead of versioning it', source.status, 'STAGING');
    const [row] = await scope.tx.select().from(plans).where(eq(plans.id, id));
    const [newest] = await scope.tx.select({ version: max(plans.version) }).from(plans).where(eq(plans.lineageId, source.lineageId));
    const versionId = newId('plan');
    await scope.tx.insert(plans).values({
      id: versionId,
      apiId: source.apiId,
      lineageId: source.lineageId,
      version: (newest?.version ?? source.version) + 1,
      name: source.name,
      description: source.description,
      security: row!.security,
      // The stored config, so an OAuth2 secret carries over without ever being read back.
      securityConfig: row!.securityConfig,
      selectionRule: source.selectionRule,
      validation: source.validation,
      position: source.position,
    });
    // The stored params, so write-only secrets carry over without ever being read back.
    const sourcePolicies = await scope.tx.select().from(planPolicies).where(eq(planPolicies.planId, id)).orderBy(asc(planPolicies.position));
    await insertPolicies(scope, versionId, sourcePolicies);
    const plan = await reload(scope, versionId);
    await scope.audit({ action: 'plan.create-version', entityType: 'plan', entityId: versionId, before: { sourceId: id }, after: plan });
    return plan;
  });
}

/** Deletes a STAGING plan nobody subscribed to; anything else is closed, not deleted. */
export async function deletePlan(ctx: DomainContext, id: string): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async (scope) => {
    const before = await lockPlan(scope, id);
    if (before.status !== 'STAGING') throw new InvalidTransitionError(`A ${before.status} plan cannot be deleted; close it instead`, before.status);
    const [used] = await scope.tx.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.planId, id)).limit(1);
    if (used) throw new InvalidTransitionError('A plan with subscriptions cannot be deleted', before.status);
    await scope.tx.delete(plans).where(eq(plans.id, id));
    await scope.audit({ action: 'plan.delete', entityType: 'plan', entityId: id, before });
    return before;
  });
}
