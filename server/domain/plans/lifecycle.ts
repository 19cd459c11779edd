import { asc, eq, max } from 'drizzle-orm';
import { planPolicies, plans } from '../../db/schema/index.ts';
import { requireRole } from '../access/index.ts';
import { type DomainContext, type WriteScope, write } from '../context.ts';
import { InvalidTransitionError, ValidationError } from '../errors.ts';
import { validatePolicyAttachment } from '../policy-registry.ts';
import { newId } from '../ids.ts';
import { closeSubscriptionsOfPlan } from '../subscriptions/index.ts';
import { insertPolicies, isLocked, lockPlan, type Plan, type PlanStatus, reload } from './model.ts';
import { assertRouteWideOptionsAgree } from './route-wide-options.ts';

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

/**
 * Publishing puts the plan on traffic: a plan stored before the registry refused what no data plane serves (a
 * `cors` plan policy, an execution condition) must be edited first, or it would take the whole API off traffic.
 * Params were checked when stored (and are read masked here), so only names, places and conditions are checked.
 */
export function publishPlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'PUBLISHED', async (scope, plan) => {
    const issues = plan.policies.flatMap((p, i) => validatePolicyAttachment({ name: p.name, version: p.version, executionCondition: p.executionCondition }, `policies[${i}]`, 'plan'));
    const unservable = issues.filter((issue) => !issue.path.includes('.params'));
    if (unservable.length > 0) throw new ValidationError(unservable);
    await assertRouteWideOptionsAgree(scope, plan);
  });
}

/** A deprecated plan keeps its subscriptions but takes no new ones. */
export function deprecatePlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'DEPRECATED');
}

/** Closes the plan and, in the same transaction, its open subscriptions and the keys they own. */
export function closePlan(ctx: DomainContext, id: string): Promise<Plan> {
  return transition(ctx, id, 'CLOSED', (scope) => closeSubscriptionsOfPlan(scope, id));
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
