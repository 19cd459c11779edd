import { and, asc, eq, inArray, type SQL } from 'drizzle-orm';
import { apis, plans } from '../../db/schema/index.ts';
import type { DomainContext } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { type PageArgs, selectPage } from '../pagination.ts';
import { apiVisibleTo, canReadPlanStatus, consumerPlanStatuses } from '../access/index.ts';
import { hydrate, type Plan, type PlanFilters } from './model.ts';
import { servingPlanStatuses } from '../reachability.ts';
import type { Executor } from '../../db/client.ts';
import type { PlanSecurityType } from '../plan-security.ts';

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
  return canReadPlanStatus(ctx.actor, plan.status);
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
  if (ctx.actor.role === 'consumer') where.push(inArray(plans.status, [...consumerPlanStatuses]));
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
  if (ctx.actor.role === 'consumer') statuses = (statuses ?? consumerPlanStatuses).filter((s) => canReadPlanStatus(ctx.actor, s));
  if (statuses?.length === 0) return [];
  if (statuses) where.push(inArray(plans.status, [...statuses]));
  if (filters.security) where.push(eq(plans.security, filters.security));
  const rows = await selectPage(ctx.db, plans, where, page);
  return hydrate(ctx.db, rows);
}

/**
 * Which of these APIs have a plan that carries traffic (PUBLISHED or DEPRECATED), one query: the input of
 * reachability (domain/reachability.ts). No visibility check: callers pass APIs the actor already read.
 */
export async function servingPlanTypesOfApis(db: Executor, apiIds: readonly string[]): Promise<Map<string, PlanSecurityType[]>> {
  const types = new Map<string, PlanSecurityType[]>();
  if (apiIds.length === 0) return types;
  const rows = await db
    .selectDistinct({ apiId: plans.apiId, security: plans.security })
    .from(plans)
    .where(and(inArray(plans.apiId, [...new Set(apiIds)]), inArray(plans.status, [...servingPlanStatuses])));
  for (const row of rows) types.set(row.apiId, [...(types.get(row.apiId) ?? []), row.security]);
  return types;
}
