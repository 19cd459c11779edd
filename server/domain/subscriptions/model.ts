import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { plans, subscriptions } from '../../db/schema/index.ts';
import { canManageApis, requireApiManager, subscriptionsVisibleTo } from '../access/index.ts';
import type { IssuedApiKey } from '../api-keys/index.ts';
import type { ApiKeyMode } from '../applications.ts';
import { type DomainContext, type WriteScope, write } from '../context.ts';
import { conflictOnUniqueViolation } from '../db-errors.ts';
import { type FieldIssue, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../errors.ts';

export const subscriptionStatuses = ['PENDING', 'ACCEPTED', 'REJECTED', 'PAUSED', 'CLOSED'] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];
/** Statuses that still hold the application x plan slot (one per pair). */
export const liveStatuses: SubscriptionStatus[] = ['PENDING', 'ACCEPTED', 'PAUSED'];

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

/** v0.9 PUT /subscriptions/{id}: absent fields stay; status moves along the lifecycle. */
export interface UpdateSubscriptionInput {
  subscriptionToken?: string | null | undefined;
  subscriptionPlanId?: string | null | undefined;
  applicationId?: string | null | undefined;
  billingCustomerId?: string | null | undefined;
  billingSubscriptionId?: string | null | undefined;
  /** On create: @default 'ACCEPTED' (v0.9 ACTIVE) */
  status?: SubscriptionStatus | null | undefined;
}

/** v0.9 POST /subscriptions: the update's fields, with the API and the token required. */
export interface CreateSubscriptionInput extends UpdateSubscriptionInput {
  /** API id or handle. */
  apiId: string;
  subscriptionToken: string;
}

export interface SubscriptionFilters {
  /** API id or handle. */
  apiId?: string | null | undefined;
  /** Our application id, or a v0.9 applicationRef. */
  applicationId?: string | null | undefined;
  planId?: string | null | undefined;
  status?: SubscriptionStatus | readonly SubscriptionStatus[] | null | undefined;
}

export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type PlanRow = typeof plans.$inferSelect;

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

/**
 * A subscription (contract or v0.9) needs a deployed API: an undeployed one serves no traffic, and a subscription
 * made now would start admitting requests the moment someone deploys it. The one rule for every role and both
 * interfaces; `field` names the input that chose the API (`planId` for contracts, `apiId` for v0.9).
 */
export function assertApiTakesSubscriptions(api: { handle: string; deploymentState: string }, field: string): void {
  if (api.deploymentState !== 'deployed') {
    throw new ValidationError([{ path: field, message: `API '${api.handle}' is not deployed: it takes no new subscriptions` }]);
  }
}

export function nullIfNotFound(error: unknown): null {
  if (error instanceof NotFoundError) return null;
  throw error;
}

/** A write whose unique violation (a race past the pre-checks) answers ConflictError, never a 500. */
export function writeMapped<T>(ctx: DomainContext, work: (scope: WriteScope) => Promise<T>): Promise<T> {
  return conflictOnUniqueViolation(() => write(ctx, work));
}

export function auditView(s: Subscription): Record<string, unknown> {
  const { hasToken: _hasToken, ...rest } = s;
  return rest;
}

export async function findRow(ctx: DomainContext, db: Executor, id: string): Promise<SubscriptionRow> {
  const [row] = await db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.id, id), subscriptionsVisibleTo(db, ctx.actor)))
    .limit(1);
  if (!row) throw new NotFoundError('Subscription', id);
  return row;
}

export async function findPlan(db: Executor, id: string): Promise<PlanRow | undefined> {
  const [row] = await db.select().from(plans).where(eq(plans.id, id)).limit(1);
  return row;
}

export function checkDates(startingAt: Date | null | undefined, endingAt: Date | null | undefined, now: Date, issues: FieldIssue[]): void {
  for (const [path, value] of [['startingAt', startingAt], ['endingAt', endingAt]] as const) {
    if (value && Number.isNaN(value.getTime())) issues.push({ path, message: `${path} must be a valid instant` });
  }
  if (endingAt && endingAt.getTime() <= now.getTime()) issues.push({ path: 'endingAt', message: 'endingAt must be in the future' });
  if (startingAt && endingAt && endingAt.getTime() <= startingAt.getTime()) {
    issues.push({ path: 'endingAt', message: 'endingAt must be after startingAt' });
  }
}

export function checkText(value: string | null | undefined, path: string, max: number, issues: FieldIssue[]): void {
  if (value != null && value.length > max) issues.push({ path, message: `${path} must be at most ${max} characters` });
}

export async function update(scope: WriteScope, row: SubscriptionRow, set: Partial<typeof subscriptions.$inferInsert>, action: string): Promise<Subscription> {
  const [updated] = await scope.tx
    .update(subscriptions)
    .set({ ...set, updatedAt: scope.now })
    .where(eq(subscriptions.id, row.id))
    .returning();
  const after = toSubscription(updated!);
  await scope.audit({ action, entityType: 'subscription', entityId: row.id, before: auditView(toSubscription(row)), after: auditView(after) });
  return after;
}

export async function reread(tx: Executor, id: string): Promise<Subscription> {
  const [row] = await tx.select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  return toSubscription(row!);
}

/** Loads a subscription for a lifecycle step: consumers get NotFound for others', Forbidden for their own. */
export async function forManager(ctx: DomainContext, scope: WriteScope, id: string, verb: string): Promise<SubscriptionRow> {
  const row = await findRow(ctx, scope.tx, id);
  if (!canManageApis(ctx.actor)) throw new ForbiddenError(`Only publishers and admins may ${verb} subscriptions`);
  // Publishers process subscriptions of the APIs they manage only.
  await requireApiManager(scope.tx, ctx.actor, row.apiId);
  return row;
}

export function assertFrom(row: SubscriptionRow, allowed: readonly SubscriptionStatus[], to: SubscriptionStatus): void {
  if (!allowed.includes(row.status)) {
    throw new InvalidTransitionError(`A ${row.status} subscription cannot become ${to}`, row.status, to);
  }
}

