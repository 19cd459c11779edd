import { and, asc, eq, inArray, or, type SQL } from 'drizzle-orm';
import { subscriptions } from '../../db/schema/index.ts';
import { findVisibleApi } from '../apis/visibility.ts';
import type { DomainContext } from '../context.ts';
import { type PageArgs, selectPage } from '../pagination.ts';
import { subscriptionsVisibleTo } from '../access/index.ts';
import { findRow, nullIfNotFound, type Subscription, type SubscriptionFilters, toSubscription } from './model.ts';

// ---------------------------------------------------------------------------------------------------------------
// Reads and batch loaders.

export async function getSubscription(ctx: DomainContext, id: string): Promise<Subscription> {
  return toSubscription(await findRow(ctx, ctx.db, id));
}

export async function listSubscriptions(ctx: DomainContext, filters: SubscriptionFilters, page: PageArgs): Promise<Subscription[]> {
  const where: (SQL | undefined)[] = [subscriptionsVisibleTo(ctx.db, ctx.actor)];
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
    .where(and(inArray(subscriptions.id, [...ids]), subscriptionsVisibleTo(ctx.db, ctx.actor)));
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
    .where(and(inArray(column, [...keys]), subscriptionsVisibleTo(ctx.db, ctx.actor)))
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
