import { and, eq, inArray, or, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apis } from '../../db/schema/index.ts';
import type { Actor, DomainContext } from '../context.ts';
import { type PageArgs, selectPage } from '../pagination.ts';
import { apiVisibleTo } from '../access/index.ts';
import { type Api, type ApiFilters, type ApiRow, hydrate, notFound } from './model.ts';

/** The row for an id or a handle (an exact id match wins), within what the actor may read. */
export async function findRow(db: Executor, actor: Actor, ref: string): Promise<ApiRow | undefined> {
  const rows = await db
    .select()
    .from(apis)
    .where(and(or(eq(apis.id, ref), eq(apis.handle, ref)), apiVisibleTo(db, actor)))
    .limit(2);
  return rows.find((r) => r.id === ref) ?? rows[0];
}

/** An API by id or handle; NotFound (v0.9 message) when missing or not visible to the actor. */
export async function getApi(ctx: DomainContext, idOrHandle: string): Promise<Api> {
  const row = await findRow(ctx.db, ctx.actor, idOrHandle);
  if (!row) throw notFound(idOrHandle);
  return (await hydrate(ctx.db, [row]))[0]!;
}

export async function getApiByHandle(ctx: DomainContext, handle: string): Promise<Api> {
  const [row] = await ctx.db.select().from(apis).where(and(eq(apis.handle, handle), apiVisibleTo(ctx.db, ctx.actor))).limit(1);
  if (!row) throw notFound(handle);
  return (await hydrate(ctx.db, [row]))[0]!;
}

/** Keyset page of the APIs the actor may read, ordered by id (creation order). */
export async function listApis(ctx: DomainContext, filters: ApiFilters, page: PageArgs): Promise<Api[]> {
  const where: (SQL | undefined)[] = [apiVisibleTo(ctx.db, ctx.actor)];
  if (filters.displayName !== undefined) where.push(eq(apis.displayName, filters.displayName));
  if (filters.version !== undefined) where.push(eq(apis.version, filters.version));
  if (filters.context !== undefined) {
    where.push(or(eq(apis.context, filters.context), sql`replace(${apis.context}, ${'$version'}, ${apis.version}) = ${filters.context}`));
  }
  if (filters.deploymentState !== undefined) where.push(eq(apis.deploymentState, filters.deploymentState));
  if (filters.visibility !== undefined) where.push(eq(apis.visibility, filters.visibility));
  for (const label of filters.labels ?? []) {
    where.push(
      label.value === undefined || label.value === null
        ? sql`(${apis.labels} ->> ${label.key}) is not null`
        : sql`(${apis.labels} ->> ${label.key}) = ${label.value}`,
    );
  }
  const rows = await selectPage(ctx.db, apis, where, page);
  return hydrate(ctx.db, rows);
}

/** Batch loader: APIs in the order of `ids`, null where missing or not visible to the actor. */
export function loadApis(ctx: DomainContext, ids: readonly string[]): Promise<(Api | null)[]> {
  return loadVisibleBy(ctx, apis.id, ids, (api) => api.id);
}

/** Batch loader by handle (REST paths, subscription apiIds). */
export function loadApisByHandle(ctx: DomainContext, handles: readonly string[]): Promise<(Api | null)[]> {
  return loadVisibleBy(ctx, apis.handle, handles, (api) => api.handle);
}

async function loadVisibleBy(ctx: DomainContext, column: typeof apis.id | typeof apis.handle, refs: readonly string[], refOf: (api: Api) => string): Promise<(Api | null)[]> {
  if (refs.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apis)
    .where(and(inArray(column, [...new Set(refs)]), apiVisibleTo(ctx.db, ctx.actor)));
  const byRef = new Map((await hydrate(ctx.db, rows)).map((api) => [refOf(api), api]));
  return refs.map((ref) => byRef.get(ref) ?? null);
}

