import { count, eq, inArray, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { subscriptionPlans, subscriptions } from '../db/schema/index.ts';
import { canManageApis } from './access/index.ts';
import { type DomainContext, write } from './context.ts';
import { ConflictError, type FieldIssue, ForbiddenError, NotFoundError, assertNoIssues } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { assertUniqueFree, conflictOnUniqueViolation } from './db-errors.ts';

/** v0.9 subscription plans: named throttle quotas that v0.9 subscriptions refer to. */

export const throttleLimitUnits = ['Min', 'Hour', 'Day', 'Month'] as const;
export type ThrottleLimitUnit = (typeof throttleLimitUnits)[number];
export const subscriptionPlanStatuses = ['ACTIVE', 'INACTIVE'] as const;
export type SubscriptionPlanStatus = (typeof subscriptionPlanStatuses)[number];

export interface SubscriptionPlan {
  id: string;
  planName: string;
  billingPlan: string | null;
  stopOnQuotaReach: boolean;
  throttleLimitCount: number | null;
  throttleLimitUnit: ThrottleLimitUnit | null;
  expiryTime: Date | null;
  gatewayId: string | null;
  status: SubscriptionPlanStatus;
  createdAt: Date;
  updatedAt: Date;
}

/** Create: planName required; the rest optional. Update: every field optional, absent = unchanged, null = cleared. */
export interface SubscriptionPlanInput {
  planName?: string | null;
  billingPlan?: string | null;
  /** @default true */
  stopOnQuotaReach?: boolean | null;
  throttleLimitCount?: number | null;
  throttleLimitUnit?: ThrottleLimitUnit | null;
  expiryTime?: Date | null;
  gatewayId?: string | null;
  /** @default 'ACTIVE' */
  status?: SubscriptionPlanStatus | null;
}

export interface SubscriptionPlanFilters {
  status?: SubscriptionPlanStatus | undefined;
  planName?: string | undefined;
}

const maxPlanNameLength = 255;

type Row = typeof subscriptionPlans.$inferSelect;

/** The table's columns are the model's fields one for one (rows come from whole-table selects only). */
function toPlan(row: Row): SubscriptionPlan {
  return { ...row };
}

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** The merged state a create or update would store; input comes from REST JSON too, so types are checked. */
function validate(state: { [K in keyof SubscriptionPlanInput]?: unknown }): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { planName, billingPlan, stopOnQuotaReach, throttleLimitCount, throttleLimitUnit, expiryTime, gatewayId, status } = state;
  if (typeof planName !== 'string' || planName.trim().length === 0) {
    issues.push({ path: 'planName', message: 'planName is required' });
  } else if (planName.length > maxPlanNameLength) {
    issues.push({ path: 'planName', message: `planName must be at most ${maxPlanNameLength} characters` });
  }
  if (isPresent(billingPlan) && typeof billingPlan !== 'string') issues.push({ path: 'billingPlan', message: 'billingPlan must be a string' });
  if (isPresent(gatewayId) && typeof gatewayId !== 'string') issues.push({ path: 'gatewayId', message: 'gatewayId must be a string' });
  if (isPresent(stopOnQuotaReach) && typeof stopOnQuotaReach !== 'boolean') {
    issues.push({ path: 'stopOnQuotaReach', message: 'stopOnQuotaReach must be true or false' });
  }
  const hasCount = isPresent(throttleLimitCount);
  const hasUnit = isPresent(throttleLimitUnit);
  if (hasCount && (typeof throttleLimitCount !== 'number' || !Number.isInteger(throttleLimitCount) || throttleLimitCount <= 0 || throttleLimitCount > 2_147_483_647)) {
    issues.push({ path: 'throttleLimitCount', message: 'throttleLimitCount must be an integer greater than 0' });
  }
  if (hasUnit && !(throttleLimitUnits as readonly unknown[]).includes(throttleLimitUnit)) {
    issues.push({ path: 'throttleLimitUnit', message: `throttleLimitUnit must be one of ${throttleLimitUnits.join(', ')}` });
  }
  if (hasCount && !hasUnit) {
    issues.push({ path: 'throttleLimitUnit', message: 'throttleLimitUnit is required when throttleLimitCount is set' });
  }
  if (hasUnit && !hasCount) {
    issues.push({ path: 'throttleLimitCount', message: 'throttleLimitCount is required when throttleLimitUnit is set' });
  }
  if (isPresent(expiryTime) && !(expiryTime instanceof Date && !Number.isNaN(expiryTime.getTime()))) {
    issues.push({ path: 'expiryTime', message: 'expiryTime must be an ISO-8601 instant' });
  }
  if (isPresent(status) && !(subscriptionPlanStatuses as readonly unknown[]).includes(status)) {
    issues.push({ path: 'status', message: `status must be one of ${subscriptionPlanStatuses.join(', ')}` });
  }
  return issues;
}

/** An expiry given on a write must lie ahead: a plan born (or re-dated) expired would serve nobody. */
function pastExpiryIssues(expiryTime: unknown, now: Date): FieldIssue[] {
  if (!(expiryTime instanceof Date) || Number.isNaN(expiryTime.getTime()) || expiryTime > now) return [];
  return [{ path: 'expiryTime', message: 'expiryTime must not be in the past' }];
}

function requireManager(ctx: DomainContext): void {
  if (!canManageApis(ctx.actor)) throw new ForbiddenError('Only publishers and admins manage subscription plans');
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('SubscriptionPlan', id, `subscription plan '${id}' not found`);
}

function assertNameFree(db: Executor, planName: string, selfId: string | null): Promise<void> {
  const columns = { id: subscriptionPlans.id, unique: subscriptionPlans.planName };
  return assertUniqueFree(db, subscriptionPlans, columns, planName, selfId, `subscription plan '${planName}' already exists`);
}

function mapConstraints<T>(work: () => Promise<T>, message: string): Promise<T> {
  return conflictOnUniqueViolation(work, message, true);
}

export async function createSubscriptionPlan(ctx: DomainContext, input: SubscriptionPlanInput): Promise<SubscriptionPlan> {
  requireManager(ctx);
  assertNoIssues([...validate(input), ...pastExpiryIssues(input.expiryTime, ctx.now())]);
  const planName = input.planName!.trim();
  return mapConstraints(
    () =>
      write(ctx, async ({ tx, audit, now }) => {
        await assertNameFree(tx, planName, null);
        const [row] = await tx
          .insert(subscriptionPlans)
          .values({
            id: newId('subscriptionPlan'),
            planName,
            billingPlan: input.billingPlan ?? null,
            stopOnQuotaReach: input.stopOnQuotaReach ?? true,
            throttleLimitCount: input.throttleLimitCount ?? null,
            throttleLimitUnit: input.throttleLimitUnit ?? null,
            expiryTime: input.expiryTime ?? null,
            gatewayId: input.gatewayId ?? null,
            status: input.status ?? 'ACTIVE',
            createdAt: now,
            updatedAt: now,
          })
          .returning();
        const plan = toPlan(row!);
        await audit({ action: 'subscription-plan.create', entityType: 'subscription-plan', entityId: plan.id, after: plan });
        return plan;
      }),
    `subscription plan '${planName}' already exists`,
  );
}

/** Every role reads subscription plans (consumers choose one when subscribing). */
export async function getSubscriptionPlan(ctx: DomainContext, id: string): Promise<SubscriptionPlan> {
  const [row] = await ctx.db.select().from(subscriptionPlans).where(eq(subscriptionPlans.id, id)).limit(1);
  if (!row) throw notFound(id);
  return toPlan(row);
}

export async function getSubscriptionPlanByName(ctx: DomainContext, planName: string): Promise<SubscriptionPlan | null> {
  const [row] = await ctx.db.select().from(subscriptionPlans).where(eq(subscriptionPlans.planName, planName)).limit(1);
  return row ? toPlan(row) : null;
}

export async function listSubscriptionPlans(
  ctx: DomainContext,
  filters: SubscriptionPlanFilters,
  page: PageArgs,
): Promise<SubscriptionPlan[]> {
  const where: SQL[] = [];
  if (filters.status !== undefined) where.push(eq(subscriptionPlans.status, filters.status));
  if (filters.planName !== undefined) where.push(eq(subscriptionPlans.planName, filters.planName));
  const rows = await selectPage(ctx.db, subscriptionPlans, where, page);
  return rows.map(toPlan);
}

/** Batch loader: plans in the order of `ids`, null where missing. */
export async function loadSubscriptionPlans(ctx: DomainContext, ids: readonly string[]): Promise<(SubscriptionPlan | null)[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.db.select().from(subscriptionPlans).where(inArray(subscriptionPlans.id, [...new Set(ids)]));
  const byId = new Map(rows.map((r) => [r.id, toPlan(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** v0.9 PUT merges: absent fields keep their value, null clears a nullable one; the result is validated whole. */
export async function updateSubscriptionPlan(ctx: DomainContext, id: string, input: SubscriptionPlanInput): Promise<SubscriptionPlan> {
  requireManager(ctx);
  const before = await getSubscriptionPlan(ctx, id);
  const pick = <K extends keyof SubscriptionPlanInput>(key: K): unknown => (input[key] === undefined ? before[key] : input[key]);
  const merged = {
    planName: input.planName === undefined || input.planName === null ? before.planName : input.planName,
    billingPlan: pick('billingPlan'),
    stopOnQuotaReach: input.stopOnQuotaReach ?? before.stopOnQuotaReach,
    throttleLimitCount: pick('throttleLimitCount'),
    throttleLimitUnit: pick('throttleLimitUnit'),
    expiryTime: pick('expiryTime'),
    gatewayId: pick('gatewayId'),
    status: input.status ?? before.status,
  };
  assertNoIssues([...validate(merged), ...pastExpiryIssues(input.expiryTime, ctx.now())]);
  const planName = merged.planName.trim();
  return mapConstraints(
    () =>
      write(ctx, async ({ tx, audit, now }) => {
        await assertNameFree(tx, planName, id);
        const [row] = await tx
          .update(subscriptionPlans)
          .set({
            planName,
            billingPlan: merged.billingPlan as string | null,
            stopOnQuotaReach: merged.stopOnQuotaReach,
            throttleLimitCount: merged.throttleLimitCount as number | null,
            throttleLimitUnit: merged.throttleLimitUnit as ThrottleLimitUnit | null,
            expiryTime: merged.expiryTime as Date | null,
            gatewayId: merged.gatewayId as string | null,
            status: merged.status,
            updatedAt: now,
          })
          .where(eq(subscriptionPlans.id, id))
          .returning();
        if (!row) throw notFound(id);
        const plan = toPlan(row);
        await audit({ action: 'subscription-plan.update', entityType: 'subscription-plan', entityId: id, before, after: plan });
        return plan;
      }),
    `subscription plan '${planName}' already exists`,
  );
}

/** Deletes a plan no subscription uses; ConflictError (never a 500) while subscriptions reference it. */
export async function deleteSubscriptionPlan(ctx: DomainContext, id: string): Promise<SubscriptionPlan> {
  requireManager(ctx);
  const before = await getSubscriptionPlan(ctx, id);
  const inUse = `subscription plan '${before.planName}' is used by subscriptions and cannot be deleted`;
  return mapConstraints(
    () =>
      write(ctx, async ({ tx, audit }) => {
        const [used] = await tx.select({ n: count() }).from(subscriptions).where(eq(subscriptions.subscriptionPlanId, id));
        if ((used?.n ?? 0) > 0) {
          throw new ConflictError(`subscription plan '${before.planName}' is used by ${used!.n} subscription(s) and cannot be deleted`);
        }
        const deleted = await tx.delete(subscriptionPlans).where(eq(subscriptionPlans.id, id)).returning({ id: subscriptionPlans.id });
        if (deleted.length === 0) throw notFound(id);
        await audit({ action: 'subscription-plan.delete', entityType: 'subscription-plan', entityId: id, before });
        return before;
      }),
    inUse,
  );
}
