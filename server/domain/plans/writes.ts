import { eq, max } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apis, planPolicies, plans } from '../../db/schema/index.ts';
import { requireApiManager, requireRole } from '../access/index.ts';
import { type DomainContext, type WriteScope, write } from '../context.ts';
import { type FieldIssue, InvalidTransitionError, NotFoundError, ValidationError } from '../errors.ts';
import { parseSelectionRule } from '../selection-rule.ts';
import { newId } from '../ids.ts';
import { checkOAuth2References, parsePlanSecurity, sealSecurityConfig } from '../plan-security.ts';
import { attachmentChainIssues, normalizePolicies, restoreSecretParams, validatePolicyAttachment } from '../policy-registry.ts';
import { planHasSubscriptions } from '../subscriptions/index.ts';
import {
  type CreatePlanInput,
  planValidations,
  insertPolicies,
  isLocked,
  lockedFields,
  lockPlan,
  type Plan,
  reload,
  type UpdatePlanInput,
} from './model.ts';

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
        'plan',
      ),
    );
  });
}

/** A plan's policies all run for the requests it admits: refused when their kinds cannot combine them. */
function assertServable(policies: readonly { name: string; params?: Record<string, unknown> | null }[]): void {
  const issues = attachmentChainIssues(policies.map((policy, i) => ({ path: `policies[${i}]`, policy })));
  if (issues.length > 0) throw new ValidationError(issues);
}

/** Write-only params left out of `input.policies` (or sent back as read) keep the plan's stored values. */
async function keepSecretParams(db: Executor, id: string, input: UpdatePlanInput): Promise<UpdatePlanInput> {
  if (input.policies == null) return input;
  const previous = await db.select({ name: planPolicies.name, params: planPolicies.params }).from(planPolicies).where(eq(planPolicies.planId, id));
  return { ...input, policies: input.policies.map((p) => ({ ...p, params: restoreSecretParams(p.name, p.params, previous) })) };
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
  assertServable(policies);
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
  if (policies !== null) assertServable(policies);
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


/** Deletes a STAGING plan nobody subscribed to; anything else is closed, not deleted. */
export async function deletePlan(ctx: DomainContext, id: string): Promise<Plan> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async (scope) => {
    const before = await lockPlan(scope, id);
    if (before.status !== 'STAGING') throw new InvalidTransitionError(`A ${before.status} plan cannot be deleted; close it instead`, before.status);
    if (await planHasSubscriptions(scope.tx, id)) throw new InvalidTransitionError('A plan with subscriptions cannot be deleted', before.status);
    await scope.tx.delete(plans).where(eq(plans.id, id));
    await scope.audit({ action: 'plan.delete', entityType: 'plan', entityId: id, before });
    return before;
  });
}

/** Deletes the API's plans (the API is being deleted, its subscriptions already gone); policies go with them. */
export async function deletePlansOfApi(scope: WriteScope, apiId: string): Promise<void> {
  await scope.tx.delete(plans).where(eq(plans.apiId, apiId));
}
