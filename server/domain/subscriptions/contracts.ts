import { and, eq, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { applications, subscriptions } from '../../db/schema/index.ts';
import { canReadPlanStatus, canSeeOwned, requireApiManager } from '../access/index.ts';
import { customApiKeyIssues, type IssuedApiKey, issueApiKey, revokeSubscriptionKeys } from '../api-keys/index.ts';
import { findVisibleApi } from '../apis/visibility.ts';
import type { DomainContext, WriteScope } from '../context.ts';
import { ConflictError, type FieldIssue, InvalidTransitionError, NotFoundError, ValidationError } from '../errors.ts';
import { newId } from '../ids.ts';
import { assertPlanAcceptsSubscriptions } from '../plans/model.ts';
import {
  assertApiTakesSubscriptions,
  assertFrom,
  auditView,
  checkDates,
  checkText,
  type ApproveInput,
  findPlan,
  findRow,
  forManager,
  liveStatuses,
  nullIfNotFound,
  type ProcessInput,
  reread,
  type SubscribeInput,
  type Subscription,
  type SubscriptionResult,
  type SubscriptionRow,
  toSubscription,
  update,
  writeMapped,
} from './model.ts';
import { provisionKey, settleKeyMode } from './keys.ts';

// ---------------------------------------------------------------------------------------------------------------
// Contracts: subscribe and the lifecycle.

/**
 * Subscribes an application to a plan. AUTO plans accept at once (and an API-key plan issues its key);
 * MANUAL plans wait in PENDING for a publisher. Consumers subscribe their own applications to plans they see.
 */
export async function subscribe(ctx: DomainContext, input: SubscribeInput): Promise<SubscriptionResult> {
  const issues: FieldIssue[] = [];
  checkDates(input.startingAt, input.endingAt, ctx.now(), issues);
  checkText(input.requestMessage, 'requestMessage', 2000, issues);
  if (input.customApiKey != null) issues.push(...customApiKeyIssues(input.customApiKey, 'customApiKey'));
  if (input.apiKeyMode != null && input.apiKeyMode !== 'SHARED' && input.apiKeyMode !== 'EXCLUSIVE') {
    issues.push({ path: 'apiKeyMode', message: 'apiKeyMode must be SHARED or EXCLUSIVE' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const { tx, now, actor } = scope;
    const [application] = await tx.select().from(applications).where(eq(applications.id, input.applicationId)).limit(1);
    if (!application || !canSeeOwned(actor, application.ownerId)) {
      throw new NotFoundError('Application', input.applicationId);
    }
    const plan = await findPlan(tx, input.planId);
    if (!plan) throw new NotFoundError('Plan', input.planId);
    const api = await findVisibleApi(ctx, tx, plan.apiId).catch(nullIfNotFound);
    const consumerMaySee = canReadPlanStatus(actor, plan.status);
    if (!api || !consumerMaySee) throw new NotFoundError('Plan', input.planId);
    if (input.apiId != null && input.apiId !== api.id && input.apiId !== api.handle) {
      throw new ValidationError([{ path: 'planId', message: `Plan '${plan.id}' does not belong to API '${input.apiId}'` }]);
    }
    assertApiTakesSubscriptions(api, 'planId');
    assertPlanAcceptsSubscriptions({ status: plan.status, security: { type: plan.security, apiKey: null, jwt: null, oauth2: null } });
    if (input.customApiKey != null && plan.security !== 'API_KEY') {
      throw new ValidationError([{ path: 'customApiKey', message: 'Only API-key plans take a custom API key' }]);
    }
    if ((plan.security === 'JWT' || plan.security === 'OAUTH2') && !application.clientId) {
      throw new ValidationError([
        { path: 'applicationId', message: `Application '${application.id}' has no clientId: a ${plan.security} plan matches applications by clientId` },
      ]);
    }
    const [taken] = await tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(and(eq(subscriptions.applicationId, application.id), eq(subscriptions.planId, plan.id), inArray(subscriptions.status, liveStatuses)))
      .limit(1);
    if (taken) throw new ConflictError(`Application '${application.id}' already has subscription '${taken.id}' to plan '${plan.id}'`);
    if (plan.security === 'API_KEY') await settleKeyMode(scope, application, plan.apiId, input.apiKeyMode);

    const auto = plan.validation === 'AUTO';
    const [row] = await tx
      .insert(subscriptions)
      .values({
        id: newId('subscription'),
        apiId: plan.apiId,
        applicationId: application.id,
        planId: plan.id,
        status: auto ? 'ACCEPTED' : 'PENDING',
        requestMessage: input.requestMessage ?? null,
        startingAt: input.startingAt ?? (auto ? now : null),
        endingAt: input.endingAt ?? null,
        processedAt: auto ? now : null,
        processedById: auto ? actor.userId : null,
        createdById: actor.userId,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    const created = toSubscription(row!);
    await scope.audit({ action: 'subscription.create', entityType: 'subscription', entityId: created.id, after: auditView(created) });
    let issuedKey: IssuedApiKey | null = null;
    if (auto) {
      issuedKey = await provisionKey(scope, row!, plan, input.customApiKey);
    } else if (input.customApiKey != null) {
      // Kept (as digest) until approval; the key only opens the API once the subscription is ACCEPTED.
      issuedKey = await issueApiKey(scope, { subscriptionId: created.id }, { customValue: input.customApiKey, expiresAt: created.endingAt });
    }
    return { subscription: await reread(tx, created.id), issuedKey };
  });
}


/** PENDING -> ACCEPTED (publisher/admin); an API-key plan then issues the key (custom value optional). */
export async function approveSubscription(ctx: DomainContext, id: string, input: ApproveInput = {}): Promise<SubscriptionResult> {
  const issues: FieldIssue[] = [];
  checkDates(input.startingAt, input.endingAt, ctx.now(), issues);
  checkText(input.reason, 'reason', 2000, issues);
  if (input.customApiKey != null) issues.push(...customApiKeyIssues(input.customApiKey, 'customApiKey'));
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'approve');
    assertFrom(row, ['PENDING'], 'ACCEPTED');
    const plan = row.planId ? await findPlan(scope.tx, row.planId) : undefined;
    if (input.customApiKey != null && plan?.security !== 'API_KEY') {
      throw new ValidationError([{ path: 'customApiKey', message: 'Only API-key plans take a custom API key' }]);
    }
    await update(
      scope,
      row,
      {
        status: 'ACCEPTED',
        reason: input.reason ?? null,
        startingAt: input.startingAt ?? row.startingAt ?? scope.now,
        endingAt: input.endingAt ?? row.endingAt,
        processedAt: scope.now,
        processedById: scope.actor.userId,
      },
      'subscription.approve',
    );
    const accepted = (await scope.tx.select().from(subscriptions).where(eq(subscriptions.id, id)))[0]!;
    const issuedKey = plan ? await provisionKey(scope, accepted, plan, input.customApiKey) : null;
    return { subscription: await reread(scope.tx, id), issuedKey };
  });
}

/** PENDING -> REJECTED (publisher/admin), with a reason; a custom key given at subscription is revoked. */
export async function rejectSubscription(ctx: DomainContext, id: string, input: ProcessInput = {}): Promise<Subscription> {
  const issues: FieldIssue[] = [];
  checkText(input.reason, 'reason', 2000, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'reject');
    assertFrom(row, ['PENDING'], 'REJECTED');
    const result = await update(scope, row, { status: 'REJECTED', reason: input.reason ?? null, processedAt: scope.now, processedById: scope.actor.userId }, 'subscription.reject');
    await revokeSubscriptionKeys(scope, id, 'subscription rejected');
    return result;
  });
}

/** ACCEPTED -> PAUSED (publisher/admin): its keys stop opening the API until resumed. */
export async function pauseSubscription(ctx: DomainContext, id: string, input: ProcessInput = {}): Promise<Subscription> {
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'pause');
    assertFrom(row, ['ACCEPTED'], 'PAUSED');
    return update(scope, row, { status: 'PAUSED', reason: input.reason ?? row.reason }, 'subscription.pause');
  });
}

/** PAUSED -> ACCEPTED (publisher/admin). */
export async function resumeSubscription(ctx: DomainContext, id: string): Promise<Subscription> {
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'resume');
    assertFrom(row, ['PAUSED'], 'ACCEPTED');
    return update(scope, row, { status: 'ACCEPTED' }, 'subscription.resume');
  });
}

async function closeRow(scope: WriteScope, row: SubscriptionRow, reason: string | null | undefined): Promise<Subscription> {
  assertFrom(row, ['PENDING', 'ACCEPTED', 'PAUSED', 'REJECTED'], 'CLOSED');
  const endingAt = row.endingAt && row.endingAt < scope.now ? row.endingAt : scope.now;
  const result = await update(scope, row, { status: 'CLOSED', closedAt: scope.now, endingAt, reason: reason ?? row.reason }, 'subscription.close');
  await revokeSubscriptionKeys(scope, row.id, 'subscription closed');
  return result;
}

/** Any non-closed -> CLOSED: publishers/admins, or the consumer owning the application. Revokes the keys it owns. */
export async function closeSubscription(ctx: DomainContext, id: string, input: ProcessInput = {}): Promise<Subscription> {
  const issues: FieldIssue[] = [];
  checkText(input.reason, 'reason', 2000, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return writeMapped(ctx, async (scope) => {
    const row = await findRow(ctx, scope.tx, id);
    // A consumer closes its own (visible) subscriptions; a publisher those of the APIs it manages.
    if (ctx.actor.role === 'publisher') await requireApiManager(scope.tx, ctx.actor, row.apiId);
    return closeRow(scope, row, input.reason);
  });
}

/** Moves a live subscription to another PUBLISHED plan of the same API with the same security type; keys stay. */
export async function transferSubscription(ctx: DomainContext, id: string, input: { planId: string }): Promise<Subscription> {
  return writeMapped(ctx, async (scope) => {
    const row = await forManager(ctx, scope, id, 'transfer');
    assertFrom(row, liveStatuses, row.status);
    const target = await findPlan(scope.tx, input.planId);
    if (!target) throw new NotFoundError('Plan', input.planId);
    const current = row.planId ? await findPlan(scope.tx, row.planId) : undefined;
    if (!current) throw new ValidationError([{ path: 'planId', message: 'A subscription without a plan cannot be transferred' }]);
    const issues: FieldIssue[] = [];
    if (target.id === current.id) issues.push({ path: 'planId', message: 'The subscription is already on this plan' });
    if (target.apiId !== row.apiId) issues.push({ path: 'planId', message: 'The target plan must belong to the same API' });
    if (target.security !== current.security) {
      issues.push({ path: 'planId', message: `The target plan must have the same security type (${current.security})` });
    }
    if (issues.length > 0) throw new ValidationError(issues);
    if (target.status !== 'PUBLISHED') {
      throw new InvalidTransitionError(`A ${target.status} plan takes no transferred subscriptions`, target.status);
    }
    const [taken] = await scope.tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(and(eq(subscriptions.applicationId, row.applicationId ?? ''), eq(subscriptions.planId, target.id), inArray(subscriptions.status, liveStatuses)))
      .limit(1);
    if (taken) throw new ConflictError(`The application already has subscription '${taken.id}' to plan '${target.id}'`);
    return update(scope, row, { planId: target.id }, 'subscription.transfer');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Cascades: what closing a plan or deleting an API does to subscriptions, inside the caller's write.

/**
 * Closes the plan's open subscriptions (the plan is closing) one by one through the rule that closes a single
 * subscription: endingAt clamped to now, the same audit entry, the keys they own revoked.
 */
export async function closeSubscriptionsOfPlan(scope: WriteScope, planId: string): Promise<void> {
  const open = await scope.tx
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.planId, planId), inArray(subscriptions.status, liveStatuses)))
    .orderBy(subscriptions.id);
  for (const row of open) await closeRow(scope, row, 'plan closed');
}

/** Whether any subscription (any status) names the plan: such a plan is closed, never deleted. */
export async function planHasSubscriptions(tx: Executor, planId: string): Promise<boolean> {
  const [used] = await tx.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.planId, planId)).limit(1);
  return used !== undefined;
}

/** Deletes the API's subscriptions (the API is being deleted); the keys they own go with them. */
export async function deleteSubscriptionsOfApi(scope: WriteScope, apiId: string): Promise<void> {
  await scope.tx.delete(subscriptions).where(eq(subscriptions.apiId, apiId));
}
