import { and, eq, ne } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { applications, subscriptionPlans, subscriptions } from '../../db/schema/index.ts';
import { requireApiManager, requireRole } from '../access/index.ts';
import { revokeSubscriptionKeys } from '../api-keys/index.ts';
import { findVisibleApi } from '../apis/visibility.ts';
import type { DomainContext } from '../context.ts';
import { ConflictError, type FieldIssue, InvalidTransitionError, ValidationError } from '../errors.ts';
import { newId } from '../ids.ts';
import { keyDigest } from '../secrets.ts';
import {
  assertApiTakesSubscriptions,
  assertFrom,
  auditView,
  checkText,
  type CreateSubscriptionInput,
  forManager,
  type Subscription,
  type SubscriptionStatus,
  subscriptionStatuses,
  toSubscription,
  type UpdateSubscriptionInput,
  update,
  writeMapped,
} from './model.ts';

// ---------------------------------------------------------------------------------------------------------------
// v0.9 subscriptions (API + token + subscription plan).

async function checkSubscriptionPlan(tx: Executor, planId: string, api: { subscriptionPlanNames: string[] }): Promise<void> {
  const [plan] = await tx.select().from(subscriptionPlans).where(eq(subscriptionPlans.id, planId)).limit(1);
  if (!plan) throw new ValidationError([{ path: 'subscriptionPlanId', message: `Subscription plan '${planId}' not found` }]);
  if (plan.status !== 'ACTIVE') {
    throw new ValidationError([{ path: 'subscriptionPlanId', message: `Subscription plan '${plan.planName}' is not ACTIVE` }]);
  }
  if (api.subscriptionPlanNames.length > 0 && !api.subscriptionPlanNames.includes(plan.planName)) {
    throw new ValidationError([
      { path: 'subscriptionPlanId', message: `Subscription plan '${plan.planName}' is not offered by this API (subscriptionPlans)` },
    ]);
  }
}

function tokenIssues(token: string | null | undefined, required: boolean): FieldIssue[] {
  if (token == null) return required ? [{ path: 'subscriptionToken', message: 'subscriptionToken is required' }] : [];
  if (token.length < 1 || token.length > 512 || token.trim() !== token) {
    return [{ path: 'subscriptionToken', message: 'subscriptionToken must be 1-512 characters without surrounding whitespace' }];
  }
  return [];
}

async function assertTokenFree(tx: Executor, apiId: string, tokenHash: string, exceptId: string | null): Promise<void> {
  const [hit] = await tx
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.apiId, apiId), eq(subscriptions.tokenHash, tokenHash), exceptId ? ne(subscriptions.id, exceptId) : undefined))
    .limit(1);
  if (hit) throw new ConflictError('A subscription with this token already exists for this API');
}

async function applicationIdFor(tx: Executor, ref: string | null | undefined): Promise<string | null> {
  if (ref == null) return null;
  const [app] = await tx.select({ id: applications.id }).from(applications).where(eq(applications.id, ref)).limit(1);
  return app?.id ?? null;
}

const v09Statuses: SubscriptionStatus[] = ['ACCEPTED', 'PAUSED', 'CLOSED'];

/** v0.9 POST /subscriptions (publishers/admins): the token is stored only as SHA-256, unique per API. */
export async function createSubscription(ctx: DomainContext, input: CreateSubscriptionInput): Promise<Subscription> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const issues = tokenIssues(input.subscriptionToken, true);
  for (const path of ['billingCustomerId', 'billingSubscriptionId', 'applicationId'] as const) checkText(input[path], path, 255, issues);
  if (input.status != null && !v09Statuses.includes(input.status)) issues.push({ path: 'status', message: 'status must be ACTIVE, INACTIVE or REVOKED' });
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const api = await findVisibleApi(ctx, scope.tx, input.apiId);
    await requireApiManager(scope.tx, ctx.actor, api.id, input.apiId);
    assertApiTakesSubscriptions(api, 'apiId');
    if (input.subscriptionPlanId != null) await checkSubscriptionPlan(scope.tx, input.subscriptionPlanId, api);
    const tokenHash = keyDigest(scope.keys.digestKey, input.subscriptionToken);
    await assertTokenFree(scope.tx, api.id, tokenHash, null);
    const status = input.status ?? 'ACCEPTED';
    const [row] = await scope.tx
      .insert(subscriptions)
      .values({
        id: newId('subscription'),
        apiId: api.id,
        applicationId: await applicationIdFor(scope.tx, input.applicationId),
        applicationRef: input.applicationId ?? null,
        subscriptionPlanId: input.subscriptionPlanId ?? null,
        status,
        tokenHash,
        billingCustomerId: input.billingCustomerId ?? null,
        billingSubscriptionId: input.billingSubscriptionId ?? null,
        startingAt: scope.now,
        processedAt: scope.now,
        processedById: scope.actor.userId,
        closedAt: status === 'CLOSED' ? scope.now : null,
        createdById: scope.actor.userId,
        createdAt: scope.now,
        updatedAt: scope.now,
      })
      .returning();
    const created = toSubscription(row!);
    await scope.audit({ action: 'subscription.create', entityType: 'subscription', entityId: created.id, after: auditView(created) });
    return created;
  });
}

/**
 * v0.9 PUT /subscriptions/{id} (publishers/admins). Status moves along the lifecycle for contracts
 * (pause, resume, close); a v0.9 subscription moves freely between ACCEPTED, PAUSED and CLOSED.
 */
export async function updateSubscription(ctx: DomainContext, id: string, input: UpdateSubscriptionInput): Promise<Subscription> {
  const issues = tokenIssues(input.subscriptionToken, false);
  for (const path of ['billingCustomerId', 'billingSubscriptionId', 'applicationId'] as const) checkText(input[path], path, 255, issues);
  if (input.status != null && !subscriptionStatuses.includes(input.status)) issues.push({ path: 'status', message: `status must be one of ${subscriptionStatuses.join(', ')}` });
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'update');
    const set: Partial<typeof subscriptions.$inferInsert> = {};
    if (input.subscriptionPlanId !== undefined) {
      if (input.subscriptionPlanId !== null) {
        const api = await findVisibleApi(ctx, scope.tx, row.apiId);
        await checkSubscriptionPlan(scope.tx, input.subscriptionPlanId, api);
      }
      set.subscriptionPlanId = input.subscriptionPlanId;
    }
    if (input.subscriptionToken != null) {
      const tokenHash = keyDigest(scope.keys.digestKey, input.subscriptionToken);
      await assertTokenFree(scope.tx, row.apiId, tokenHash, row.id);
      set.tokenHash = tokenHash;
    }
    if (input.applicationId !== undefined && row.planId === null) {
      set.applicationRef = input.applicationId;
      set.applicationId = await applicationIdFor(scope.tx, input.applicationId);
    }
    if (input.billingCustomerId !== undefined) set.billingCustomerId = input.billingCustomerId;
    if (input.billingSubscriptionId !== undefined) set.billingSubscriptionId = input.billingSubscriptionId;
    let closing = false;
    if (input.status != null && input.status !== row.status) {
      const to = input.status;
      if (row.planId === null) {
        if (!v09Statuses.includes(to)) throw new InvalidTransitionError(`A v0.9 subscription cannot become ${to}`, row.status, to);
      } else if (to === 'PAUSED') assertFrom(row, ['ACCEPTED'], to);
      else if (to === 'ACCEPTED') assertFrom(row, ['PAUSED'], to);
      else if (to === 'CLOSED') assertFrom(row, ['PENDING', 'ACCEPTED', 'PAUSED', 'REJECTED'], to);
      else throw new InvalidTransitionError(`A ${row.status} subscription cannot become ${to} by an update`, row.status, to);
      set.status = to;
      if (to === 'CLOSED') {
        set.closedAt = scope.now;
        closing = true;
      } else set.closedAt = null;
    }
    const result = await update(scope, row, set, 'subscription.update');
    if (closing) await revokeSubscriptionKeys(scope, row.id, 'subscription closed');
    return result;
  });
}

/** Deletes a subscription (publishers/admins); the keys it owns go with it. */
export async function deleteSubscription(ctx: DomainContext, id: string): Promise<Subscription> {
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'delete');
    await scope.tx.delete(subscriptions).where(eq(subscriptions.id, id));
    const before = toSubscription(row);
    await scope.audit({ action: 'subscription.delete', entityType: 'subscription', entityId: id, before: auditView(before) });
    return before;
  });
}
