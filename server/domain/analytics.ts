import { and, asc, eq, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { apis, applications, plans, requestStats } from '../db/schema/index.ts';
import { latencyBucketCount, latencyPercentile } from '../analytics/latency-histogram.ts';
import { requestStatsVisibleTo } from './access/index.ts';
import type { DomainContext } from './context.ts';
import { ValidationError, type FieldIssue } from './errors.ts';

/** What a recorder adds for one (minute, API, plan, application); the API is named by its handle, as data planes see it. */
export interface RequestStatsIncrement {
  minute: Date;
  apiHandle: string;
  planId: string | null;
  applicationId: string | null;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  latencyBuckets: readonly number[];
}

// Postgres allows 65 535 bind parameters per statement; 8 per row.
const rowsPerStatement = 1000;

/** Requests of increments not stored, by what they named that does not exist. */
export interface DroppedRequestStats {
  unknownApi: number;
  unknownPlan: number;
  unknownApplication: number;
}

/**
 * Adds the increments to the stored counters in one transaction (upserts that add, so several data planes and
 * replicas merge into the same rows). Handles are mapped to API ids here. Only what exists is counted: increments
 * naming an API handle, a plan (of that API) or an application that does not exist are dropped (a deleted object's
 * in-flight traffic, or a data plane reporting invented ids) and returned with their request counts.
 */
export async function addRequestStats(
  db: Database,
  increments: readonly RequestStatsIncrement[],
): Promise<{ droppedHandles: string[]; dropped: DroppedRequestStats }> {
  const dropped: DroppedRequestStats = { unknownApi: 0, unknownPlan: 0, unknownApplication: 0 };
  if (increments.length === 0) return { droppedHandles: [], dropped };
  const handles = [...new Set(increments.map((i) => i.apiHandle))];
  const planIds = [...new Set(increments.flatMap((i) => (i.planId === null ? [] : [i.planId])))];
  const applicationIds = [...new Set(increments.flatMap((i) => (i.applicationId === null ? [] : [i.applicationId])))];
  return db.transaction(async (tx) => {
    const known = await tx.select({ id: apis.id, handle: apis.handle }).from(apis).where(inArray(apis.handle, handles));
    const idOf = new Map(known.map((row) => [row.handle, row.id]));
    const knownPlans = planIds.length === 0 ? [] : await tx.select({ id: plans.id, apiId: plans.apiId }).from(plans).where(inArray(plans.id, planIds));
    const apiOfPlan = new Map(knownPlans.map((row) => [row.id, row.apiId]));
    const knownApplications = applicationIds.length === 0
      ? []
      : await tx.select({ id: applications.id }).from(applications).where(inArray(applications.id, applicationIds));
    const isApplication = new Set(knownApplications.map((row) => row.id));
    const rows = increments.flatMap((i) => {
      const apiId = idOf.get(i.apiHandle);
      if (apiId === undefined) {
        dropped.unknownApi += i.requests;
        return [];
      }
      if (i.planId !== null && apiOfPlan.get(i.planId) !== apiId) {
        dropped.unknownPlan += i.requests;
        return [];
      }
      if (i.applicationId !== null && !isApplication.has(i.applicationId)) {
        dropped.unknownApplication += i.requests;
        return [];
      }
      return [{ minute: i.minute, apiId, planId: i.planId, applicationId: i.applicationId, requests: i.requests,
        clientErrors: i.clientErrors, serverErrors: i.serverErrors, latencyBuckets: [...i.latencyBuckets] }];
    });
    for (let start = 0; start < rows.length; start += rowsPerStatement) {
      await tx
        .insert(requestStats)
        .values(rows.slice(start, start + rowsPerStatement))
        .onConflictDoUpdate({
          target: [requestStats.minute, requestStats.apiId, requestStats.planId, requestStats.applicationId],
          set: {
            requests: sql`${requestStats.requests} + excluded.requests`,
            clientErrors: sql`${requestStats.clientErrors} + excluded.client_errors`,
            serverErrors: sql`${requestStats.serverErrors} + excluded.server_errors`,
            // Element-wise sum; the full join keeps every bucket should one side ever have more buckets.
            latencyBuckets: sql`(select array_agg(coalesce(a.n, 0) + coalesce(b.n, 0) order by coalesce(a.i, b.i))
              from unnest(${requestStats.latencyBuckets}) with ordinality as a(n, i)
              full join unnest(excluded.latency_buckets) with ordinality as b(n, i) on a.i = b.i)`,
          },
        });
    }
    return { droppedHandles: handles.filter((h) => !idOf.has(h)), dropped };
  });
}

/** Deletes the counters of minutes before `cutoff` (the retention horizon); returns how many rows went. */
export async function deleteRequestStatsBefore(db: Database, cutoff: Date): Promise<number> {
  // Counted first rather than `returning` every deleted row: after a long pause the first run deletes many.
  return db.transaction(async (tx) => {
    const [row] = await tx.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(requestStats).where(lt(requestStats.minute, cutoff));
    await tx.delete(requestStats).where(lt(requestStats.minute, cutoff));
    return row?.n ?? 0;
  });
}

// In this order rows are sorted.
export const requestStatsDimensions = ['MINUTE', 'API', 'PLAN', 'APPLICATION'] as const;
export type RequestStatsDimension = (typeof requestStatsDimensions)[number];

export interface RequestStatsQuery {
  /** Rows whose minute starts in [from, to). */
  from: Date;
  to: Date;
  /** Dimensions kept apart; the others are summed over. Empty: one row for everything. */
  groupBy: readonly RequestStatsDimension[];
  apiId?: string | null | undefined;
  planId?: string | null | undefined;
  applicationId?: string | null | undefined;
}

export interface RequestStatsRow {
  /** Set only for the dimensions grouped by; `applicationId` null when grouped by APPLICATION = unknown application. */
  minute: Date | null;
  apiId: string | null;
  planId: string | null;
  applicationId: string | null;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  /** (client + server errors) / requests. */
  errorRate: number;
  serverErrorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

const maxRange = 31 * 24 * 60 * 60_000;
// Per-minute rows over a long range would be a huge answer: a day of minutes at most.
const maxMinuteRange = 24 * 60 * 60_000;

function validateQuery(query: RequestStatsQuery): void {
  const issues: FieldIssue[] = [];
  const span = query.to.getTime() - query.from.getTime();
  if (span <= 0) issues.push({ path: 'to', message: 'Must be after from' });
  else if (span > maxRange) issues.push({ path: 'to', message: 'The range may span at most 31 days' });
  else if (query.groupBy.includes('MINUTE') && span > maxMinuteRange) {
    issues.push({ path: 'to', message: 'Grouped by MINUTE, the range may span at most 24 hours' });
  }
  if (issues.length > 0) throw new ValidationError(issues, 'Invalid request statistics query');
}

const dimensionColumn = {
  MINUTE: requestStats.minute,
  API: requestStats.apiId,
  PLAN: requestStats.planId,
  APPLICATION: requestStats.applicationId,
} as const;

const dimensionKey = { MINUTE: 'minute', API: 'apiId', PLAN: 'planId', APPLICATION: 'applicationId' } as const;

/**
 * Request counts, error rates and latency percentiles, summed over the dimensions not grouped by. Admins and
 * publishers see all traffic; a consumer only its own applications' (an application filter of someone else's
 * gives no rows, as lists do). Rows are ordered by minute, API, plan, application.
 */
export async function queryRequestStats(ctx: DomainContext, query: RequestStatsQuery): Promise<RequestStatsRow[]> {
  validateQuery(query);
  const where: (SQL | undefined)[] = [gte(requestStats.minute, query.from), lt(requestStats.minute, query.to)];
  if (query.apiId) where.push(eq(requestStats.apiId, query.apiId));
  if (query.planId) where.push(eq(requestStats.planId, query.planId));
  if (query.applicationId) where.push(eq(requestStats.applicationId, query.applicationId));
  where.push(requestStatsVisibleTo(ctx.db, ctx.actor));
  const groupBy = requestStatsDimensions.filter((d) => query.groupBy.includes(d));
  const columns = groupBy.map((d) => dimensionColumn[d]);
  // One aggregate per bucket (arrays are 1-based; a missing index is NULL and ignored by sum).
  const buckets = Object.fromEntries(
    Array.from({ length: latencyBucketCount }, (_, i) => [
      `b${i}`,
      sql<number>`coalesce(sum(${requestStats.latencyBuckets}[${sql.raw(String(i + 1))}]), 0)`.mapWith(Number),
    ]),
  );
  const selected = Object.fromEntries(groupBy.map((d) => [dimensionKey[d], dimensionColumn[d]]));
  const rows = await ctx.db
    .select({
      ...selected,
      requests: sql<number>`sum(${requestStats.requests})`.mapWith(Number),
      clientErrors: sql<number>`sum(${requestStats.clientErrors})`.mapWith(Number),
      serverErrors: sql<number>`sum(${requestStats.serverErrors})`.mapWith(Number),
      ...buckets,
    })
    .from(requestStats)
    .where(and(...where))
    .groupBy(...columns)
    // Without groupBy, an aggregate over no rows is still one row (of nulls): no traffic means no rows.
    .having(sql`count(*) > 0`)
    .orderBy(...columns.map((c) => asc(c)));
  return rows.map((row) => toRow(row as unknown as Record<string, unknown>, groupBy));
}

function toRow(row: Record<string, unknown>, groupBy: readonly RequestStatsDimension[]): RequestStatsRow {
  const histogram = Array.from({ length: latencyBucketCount }, (_, i) => Number(row[`b${i}`] ?? 0));
  const requests = Number(row.requests);
  const clientErrors = Number(row.clientErrors);
  const serverErrors = Number(row.serverErrors);
  const pick = <T,>(dimension: RequestStatsDimension, value: T): T | null => (groupBy.includes(dimension) ? value : null);
  return {
    minute: pick('MINUTE', row.minute as Date),
    apiId: pick('API', row.apiId as string),
    planId: pick('PLAN', (row.planId as string | null) ?? null),
    applicationId: pick('APPLICATION', (row.applicationId as string | null) ?? null),
    requests,
    clientErrors,
    serverErrors,
    errorRate: requests === 0 ? 0 : (clientErrors + serverErrors) / requests,
    serverErrorRate: requests === 0 ? 0 : serverErrors / requests,
    p50Ms: latencyPercentile(histogram, 0.5),
    p99Ms: latencyPercentile(histogram, 0.99),
  };
}
