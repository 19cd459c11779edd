import { sql } from 'drizzle-orm';
import type { Database } from '../../server/db/client.ts';

/** Rows of a raw query on either driver (postgres.js gives an array, PGlite `{ rows }`). */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  return (Array.isArray(result) ? result : ((result as { rows?: Record<string, unknown>[] }).rows ?? [])) as Record<string, unknown>[];
}

/** Row counts of every table the application owns: a rejected call must leave all of them unchanged. */
export async function rowCounts(db: Database): Promise<Record<string, number>> {
  const tables = rowsOf(
    await db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`),
  );
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const name = String(table.table_name);
    const [row] = rowsOf(await db.execute(sql.raw(`select count(*)::int as n from "${name}"`)));
    counts[name] = Number(row?.n ?? 0);
  }
  return counts;
}
