import { and, asc, desc, gt, lt, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Executor } from '../db/client.ts';

/**
 * Keyset page request over an entity's time-sortable id (see ids.ts). Shaped like
 * Pothos' ResolveCursorConnectionArgs so GraphQL connections pass it straight through,
 * while the domain stays free of GraphQL.
 */
export interface PageArgs {
  /** Return ids strictly greater than this. */
  after?: string | undefined;
  /** Return ids strictly smaller than this. */
  before?: string | undefined;
  /** How many rows to fetch (callers may ask one extra to learn hasNextPage). */
  limit: number;
  /** Order by id descending instead of ascending (used for `last`). */
  inverted: boolean;
}

export const maxPageSize = 100;

/** First page of everything, for callers without paging (REST lists). */
export const allRows: PageArgs = { limit: 10_000, inverted: false };

/**
 * One keyset page of `table` (ordered by its time-sortable `id`) among the rows matching `where`: the one place
 * that turns PageArgs into SQL, so every list pages the same way.
 */
export async function selectPage<T extends PgTable & { id: PgColumn }>(
  db: Executor,
  table: T,
  where: readonly (SQL | undefined)[],
  page: PageArgs,
): Promise<T['$inferSelect'][]> {
  const rows = await db
    .select()
    .from(table as PgTable)
    .where(and(...where, page.after ? gt(table.id, page.after) : undefined, page.before ? lt(table.id, page.before) : undefined))
    .orderBy(page.inverted ? desc(table.id) : asc(table.id))
    .limit(page.limit);
  return rows as T['$inferSelect'][];
}
