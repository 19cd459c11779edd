import { and, asc, eq, inArray, isNull, ne, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { apiKeys, applications, plans, subscriptionPlans, subscriptions } from '../db/schema/index.ts';
import { canManageApis, requireApiManager, requireRole } from './access.ts';
import { findVisibleApi, type IssuedApiKey, issueApiKey, revokeSubscriptionKeys } from './api-keys.ts';
import { customApiKeyIssues } from './api-keys-validation.ts';
import { type ApiKeyMode, setApiKeyMode } from './applications.ts';
import { type Actor, type DomainContext, type WriteScope, write } from './context.ts';
import { ConflictError, type FieldIssue, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { assertPlanAcceptsSubscriptions } from './plans.ts';
import { keyDigest } from './secrets.ts';
import { isUniqueViolation } from './db-errors.ts';

export const subscriptionStatuses = ['PENDING', 'ACCEPTED', 'REJECTED', 'PAUSED', 'CLOSED'] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];
/** Statuses that still hold the application x plan slot (one per pair). */
const liveStatuses: SubscriptionStatus[] = ['PENDING', 'ACCEPTED', 'PAUSED'];

/** A contract (application x API x plan), or a v0.9 subscription (API + token + subscription plan). */
export interface Subscription {
  id: string;
  apiId: string;
  applicationId: string | null;
  /** v0.9 applicationId as sent by the client. */
  applicationRef: string | null;
  planId: string | null;
  subscriptionPlanId: string | null;
  status: SubscriptionStatus;
  /** Authenticates with the application's shared key (seed 000) rather than a key of its own. */
  usesSharedKey: boolean;
  /** Whether a v0.9 subscription token is set (only its SHA-256 is stored). */
  hasToken: boolean;
  billingCustomerId: string | null;
  billingSubscriptionId: string | null;
  gatewayId: string | null;
  requestMessage: string | null;
  reason: string | null;
  startingAt: Date | null;
  endingAt: Date | null;
  processedAt: Date | null;
  processedById: string | null;
  closedAt: Date | null;
  createdById: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What creating or accepting a subscription yields: the key's clear value appears here once, if one was made. */
export interface SubscriptionResult {
  subscription: Subscription;
  issuedKey: IssuedApiKey | null;
}

export interface SubscribeInput {
  applicationId: string;
  planId: string;
  /** When given, must be the plan's API. */
  apiId?: string | null | undefined;
  requestMessage?: string | null | undefined;
  startingAt?: Date | null | undefined;
  endingAt?: Date | null | undefined;
  /** A custom key value instead of a generated one (API-key plans). */
  customApiKey?: string | null | undefined;
  /** Asked at the application's second API-key subscription (seed 000); absent = EXCLUSIVE. */
  apiKeyMode?: Exclude<ApiKeyMode, 'UNSPECIFIED'> | null | undefined;
}

export interface ProcessInput {
  reason?: string | null | undefined;
}

export interface ApproveInput extends ProcessInput {
  startingAt?: Date | null | undefined;
  endingAt?: Date | null | undefined;
  customApiKey?: string | null | undefined;
}

/** v0.9 POST /subscriptions. */
export interface CreateSubscriptionInput {
  /** API id or handle. */
  apiId: string;
  subscriptionToken: string;
  subscriptionPlanId?: string | null | undefined;
  applicationId?: string | null | undefined;
  billingCustomerId?: string | null | undefined;
  billingSubscriptionId?: string | null | undefined;
  /** @default 'ACCEPTED' (v0.9 ACTIVE) */
  status?: SubscriptionStatus | null | undefined;
}

/** v0.9 PUT /subscriptions/{id}: absent fields stay; status moves along the lifecycle. */
export interface UpdateSubscriptionInput {
  subscriptionToken?: string | null | undefined;
  subscriptionPlanId?: string | null | undefined;
  applicationId?: string | null | undefined;
  billingCustomerId?: string | null | undefined;
  billingSubscriptionId?: string | null | undefined;
  status?: SubscriptionStatus | null | undefined;
}

export interface SubscriptionFilters {
  /** API id or handle. */
  apiId?: string | null | undefined;
  /** Our application id, or a v0.9 applicationRef. */
  applicationId?: string | null | undefined;
  planId?: string | null | undefined;
  status?: SubscriptionStatus | readonly SubscriptionStatus[] | null | undefined;
}

type SubscriptionRow = typeof subscriptions.$inferSelect;
type PlanRow = typeof plans.$inferSelect;

export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    apiId: row.apiId,
    applicationId: row.applicationId,
    applicationRef: row.applicationRef,
    planId: row.planId,
    subscriptionPlanId: row.subscriptionPlanId,
    status: row.status,
    usesSharedKey: row.usesSharedKey,
    hasToken: row.tokenHash !== null,
    billingCustomerId: row.billingCustomerId,
    billingSubscriptionId: row.billingSubscriptionId,
    gatewayId: row.gatewayId,
    requestMessage: row.requestMessage,
    reason: row.reason,
    startingAt: row.startingAt,
    endingAt: row.endingAt,
    processedAt: row.processedAt,
    processedById: row.processedById,
    closedAt: row.closedAt,
    createdById: row.createdById,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Consumers see only their applications' subscriptions. */
function visibleTo(db: Executor, actor: Actor): SQL | undefined {
  if (actor.role !== 'consumer') return undefined;
  return inArray(subscriptions.applicationId, db.select({ id: applications.id }).from(applications).where(eq(applications.ownerId, actor.userId ?? '')));
}

function nullIfNotFound(error: unknown): null {
  if (error instanceof NotFoundError) return null;
  throw error;
}



async function writeMapped<T>(ctx: DomainContext, work: (scope: WriteScope) => Promise<T>): Promise<T> {
  try {
    return await write(ctx, work);
  } catch (error: unknown) {
    if (isUniqueViolation(error)) throw new ConflictError('A concurrent change conflicts with this one; retry', { cause: error });
    throw error;
  }
}

function auditView(s: Subscription): Record<string, unknown> {
  const { hasToken: _hasToken, ...rest } = s;
  return rest;
}

async function findRow(ctx: DomainContext, db: Executor, id: string): Promise<SubscriptionRow> {
  const [row] = await db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.id, id), visibleTo(db, ctx.actor)))
    .limit(1);
  if (!row) throw new NotFoundError('Subscription', id);
  return row;
}

async function findPlan(db: Executor, id: string): Promise<PlanRow | undefined> {
  const [row] = await db.select().from(plans).where(eq(plans.id, id)).limit(1);
  return row;
}

function checkDates(startingAt: Date | null | undefined, endingAt: Date | null | undefined, now: Date, issues: FieldIssue[]): void {
  for (const [path, value] of [['startingAt', startingAt], ['endingAt', endingAt]] as const) {
    if (value && Number.isNaN(value.getTime())) issues.push({ path, message: `${path} must be a valid instant` });
  }
  if (endingAt && endingAt.getTime() <= now.getTime()) issues.push({ path: 'endingAt', message: 'endingAt must be in the future' });
  if (startingAt && endingAt && endingAt.getTime() <= startingAt.getTime()) {
    issues.push({ path: 'endingAt', message: 'endingAt must be after startingAt' });
  }
}

function checkText(value: string | null | undefined, path: string, max: number, issues: FieldIssue[]): void {
  if (value != null && value.length > max) issues.push({ path, message: `${path} must be at most ${max} characters` });
}

async function update(scope: WriteScope, row: SubscriptionRow, set: Partial<typeof subscriptions.$inferInsert>, action: string): Promise<Subscription> {
  const [updated] = await scope.tx
    .update(subscriptions)
    .set({ ...set, updatedAt: scope.now })
    .where(eq(subscriptions.id, row.id))
    .returning();
  const after = toSubscription(updated!);
  await scope.audit({ action, entityType: 'subscription', entityId: row.id, before: auditView(toSubscription(row)), after: auditView(after) });
  return after;
}

// ---------------------------------------------------------------------------------------------------------------
// Keys of API-key plan subscriptions (seed 000: generated, custom, shared).

/** The application's other live subscriptions through API-key plans. */
async function liveKeySubscriptions(tx: Executor, applicationId: string, exceptId: string | null): Promise<(SubscriptionRow & { hasOwnKey: boolean })[]> {
  const rows = await tx
    .select({ sub: subscriptions })
    .from(subscriptions)
    .innerJoin(plans, eq(plans.id, subscriptions.planId))
    .where(
      and(
        eq(subscriptions.applicationId, applicationId),
        inArray(subscriptions.status, liveStatuses),
        eq(plans.security, 'API_KEY'),
        exceptId ? ne(subscriptions.id, exceptId) : undefined,
      ),
    )
    .orderBy(asc(subscriptions.id));
  if (rows.length === 0) return [];
  const owned = await tx
    .select({ subscriptionId: apiKeys.subscriptionId })
    .from(apiKeys)
    .where(and(inArray(apiKeys.subscriptionId, rows.map((r) => r.sub.id)), isNull(apiKeys.revokedAt)));
  return rows.map((r) => ({ ...r.sub, hasOwnKey: owned.some((o) => o.subscriptionId === r.sub.id) }));
}

/**
 * Seed 000: at the application's second API-key subscription the caller picks SHARED or EXCLUSIVE
 * (default EXCLUSIVE); when every other one is on the same API there is no choice (EXCLUSIVE). Choosing
 * SHARED turns the first subscription's key into the application's shared key. The mode never changes.
 */
async function settleKeyMode(
  scope: WriteScope,
  application: typeof applications.$inferSelect,
  apiId: string,
  requested: SubscribeInput['apiKeyMode'],
): Promise<void> {
  if (application.apiKeyMode !== 'UNSPECIFIED') {
    if (requested && requested !== application.apiKeyMode) {
      throw new ValidationError([
        { path: 'apiKeyMode', message: `The application's API key mode is ${application.apiKeyMode} and cannot be changed` },
      ]);
    }
    return;
  }
  const others = await liveKeySubscriptions(scope.tx, application.id, null);
  if (others.length === 0) return; // First API-key subscription: nothing to choose yet.
  const distinctApis = others.some((o) => o.apiId !== apiId);
  if (!distinctApis) {
    if (requested === 'SHARED') {
      throw new ValidationError([{ path: 'apiKeyMode', message: 'A shared API key can only be used across distinct APIs' }]);
    }
    await setApiKeyMode(scope, application.id, 'EXCLUSIVE');
    return;
  }
  const mode = requested ?? 'EXCLUSIVE';
  await setApiKeyMode(scope, application.id, mode);
  if (mode !== 'SHARED') return;
  const first = others.find((o) => o.hasOwnKey);
  if (!first) return; // No key yet (all pending): the first accepted one issues the shared key.
  const moved = await scope.tx
    .update(apiKeys)
    .set({ subscriptionId: null, applicationId: application.id, updatedAt: scope.now })
    .where(and(eq(apiKeys.subscriptionId, first.id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id, masked: apiKeys.masked });
  for (const key of moved) {
    await scope.audit({
      action: 'api-key.share',
      entityType: 'api-key',
      entityId: key.id,
      before: { owner: 'subscription', subscriptionId: first.id, masked: key.masked },
      after: { owner: 'application', applicationId: application.id, masked: key.masked },
    });
  }
  await update(scope, first, { usesSharedKey: true }, 'subscription.use-shared-key');
}

/**
 * Gives an accepted API-key subscription its key: the shared one (SHARED mode, not yet used on this API),
 * a new shared one (SHARED mode, none live), or an exclusive one. Returns the clear value when one was made.
 */
async function provisionKey(scope: WriteScope, sub: SubscriptionRow, plan: PlanRow, customValue: string | null | undefined): Promise<IssuedApiKey | null> {
  if (plan.security !== 'API_KEY') return null;
  const [own] = await scope.tx
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.subscriptionId, sub.id), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (own) {
    if (customValue != null) throw new ValidationError([{ path: 'customApiKey', message: 'This subscription already has its custom API key' }]);
    return null;
  }
  const applicationId = sub.applicationId!;
  const [application] = await scope.tx.select().from(applications).where(eq(applications.id, applicationId)).limit(1);
  if (application?.apiKeyMode === 'SHARED') {
    const [usedHere] = await scope.tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.applicationId, applicationId),
          eq(subscriptions.apiId, sub.apiId),
          eq(subscriptions.usesSharedKey, true),
          inArray(subscriptions.status, liveStatuses),
          ne(subscriptions.id, sub.id),
        ),
      )
      .limit(1);
    if (!usedHere) {
      const [shared] = await scope.tx
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(eq(apiKeys.applicationId, applicationId), isNull(apiKeys.revokedAt), isNull(apiKeys.replacedById)))
        .limit(1);
      if (shared && customValue != null) {
        throw new ValidationError([{ path: 'customApiKey', message: "This application shares one API key; this subscription reuses it and takes no custom value" }]);
      }
      await update(scope, sub, { usesSharedKey: true }, 'subscription.use-shared-key');
      if (shared) return null;
      return issueApiKey(scope, { applicationId }, { customValue });
    }
  }
  return issueApiKey(scope, { subscriptionId: sub.id }, { customValue, expiresAt: sub.endingAt });
}

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
    if (!application || (actor.role === 'consumer' && application.ownerId !== actor.userId)) {
      throw new NotFoundError('Application', input.applicationId);
    }
    const plan = await findPlan(tx, input.planId);
    if (!plan) throw new NotFoundError('Plan', input.planId);
    const api = await findVisibleApi(ctx, tx, plan.apiId).catch(nullIfNotFound);
    const consumerMaySee = actor.role !== 'consumer' || plan.status === 'PUBLISHED' || plan.status === 'DEPRECATED';
    if (!api || !consumerMaySee) throw new NotFoundError('Plan', input.planId);
    if (input.apiId != null && input.apiId !== api.id && input.apiId !== api.handle) {
      throw new ValidationError([{ path: 'planId', message: `Plan '${plan.id}' does not belong to API '${input.apiId}'` }]);
    }
    assertPlanAcceptsSubscriptions({ status: plan.status, security: { type: plan.security, apiKey: null, jwt: null, oauth2: null } });
    if (input.customApiKey != null && plan.security !== 'API_KEY') {
      throw new ValidationError([{ path: 'customApiKey', message: 'Only API-key plans take a custom API key' }]);
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

async function reread(tx: Executor, id: string): Promise<Subscription> {
  const [row] = await tx.select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  return toSubscription(row!);
}

/** Loads a subscription for a lifecycle step: consumers get NotFound for others', Forbidden for their own. */
async function forManager(ctx: DomainContext, scope: WriteScope, id: string, verb: string): Promise<SubscriptionRow> {
  const row = await findRow(ctx, scope.tx, id);
  if (!canManageApis(ctx.actor)) throw new ForbiddenError(`Only publishers and admins may ${verb} subscriptions`);
  // Publishers process subscriptions of the APIs they manage only.
  await requireApiManager(scope.tx, ctx.actor, row.apiId);
  return row;
}

function assertFrom(row: SubscriptionRow, allowed: readonly SubscriptionStatus[], to: SubscriptionStatus): void {
  if (!allowed.includes(row.status)) {
    throw new InvalidTransitionError(`A ${row.status} subscription cannot become ${to}`, row.status, to);
  }
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

// ---------------------------------------------------------------------------------------------------------------
// Reads and batch loaders.

export async function getSubscription(ctx: DomainContext, id: string): Promise<Subscription> {
  return toSubscription(await findRow(ctx, ctx.db, id));
}

export async function listSubscriptions(ctx: DomainContext, filters: SubscriptionFilters, page: PageArgs): Promise<Subscription[]> {
  const where: (SQL | undefined)[] = [visibleTo(ctx.db, ctx.actor)];
  if (filters.apiId) {
    const api = await findVisibleApi(ctx, ctx.db, filters.apiId).catch(nullIfNotFound);
    if (!api) return [];
    where.push(eq(subscriptions.apiId, api.id));
  }
  if (filters.applicationId) where.push(or(eq(subscriptions.applicationId, filters.applicationId), eq(subscriptions.applicationRef, filters.applicationId)));
  if (filters.planId) where.push(eq(subscriptions.planId, filters.planId));
  if (filters.status) {
    const statuses = typeof filters.status === 'string' ? [filters.status] : [...filters.status];
    where.push(inArray(subscriptions.status, statuses));
  }
  const rows = await selectPage(ctx.db, subscriptions, where, page);
  return rows.map(toSubscription);
}

/** Batch loader: subscriptions in the order of `ids`, null where missing or not visible. */
export async function loadSubscriptions(ctx: DomainContext, ids: readonly string[]): Promise<(Subscription | null)[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(subscriptions)
    .where(and(inArray(subscriptions.id, [...ids]), visibleTo(ctx.db, ctx.actor)));
  const byId = new Map(rows.map((r) => [r.id, toSubscription(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

async function groupedBy(
  ctx: DomainContext,
  column: typeof subscriptions.planId | typeof subscriptions.applicationId | typeof subscriptions.apiId,
  keys: readonly string[],
  pick: (s: Subscription) => string | null,
): Promise<Subscription[][]> {
  if (keys.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(subscriptions)
    .where(and(inArray(column, [...keys]), visibleTo(ctx.db, ctx.actor)))
    .orderBy(asc(subscriptions.id));
  const groups = new Map<string, Subscription[]>();
  for (const row of rows) {
    const s = toSubscription(row);
    const key = pick(s);
    if (key === null) continue;
    const list = groups.get(key) ?? [];
    list.push(s);
    groups.set(key, list);
  }
  return keys.map((k) => groups.get(k) ?? []);
}

/** Batch loader: each plan's subscriptions (visible to the actor), oldest first. */
export function listSubscriptionsForPlans(ctx: DomainContext, planIds: readonly string[]): Promise<Subscription[][]> {
  return groupedBy(ctx, subscriptions.planId, planIds, (s) => s.planId);
}

/** Batch loader: each application's subscriptions, oldest first. */
export function listSubscriptionsForApplications(ctx: DomainContext, applicationIds: readonly string[]): Promise<Subscription[][]> {
  return groupedBy(ctx, subscriptions.applicationId, applicationIds, (s) => s.applicationId);
}

/** Batch loader: each API's subscriptions, oldest first. */
export function listSubscriptionsForApis(ctx: DomainContext, apiIds: readonly string[]): Promise<Subscription[][]> {
  return groupedBy(ctx, subscriptions.apiId, apiIds, (s) => s.apiId);
}
