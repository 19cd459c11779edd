import { sql } from 'drizzle-orm';
import type { Database } from '../../server/db/client.ts';

/** Rows of a raw query on either driver (postgres.js gives an array, PGlite `{ rows }`). */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  return (Array.isArray(result) ? result : ((result as { rows?: Record<string, unknown>[] }).rows ?? [])) as Record<string, unknown>[];
}

const tableLists = new WeakMap<Database, Promise<string[]>>();

/** The application's tables, read once per database (migrations do not run while a suite does). */
function tablesOf(db: Database): Promise<string[]> {
  let tables = tableLists.get(db);
  if (!tables) {
    tables = db
      .execute(sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`)
      .then((result) => rowsOf(result).map((row) => String(row.table_name)));
    tableLists.set(db, tables);
  }
  return tables;
}

/** Row counts of every table the application owns, in one query: a rejected call must leave all of them unchanged. */
export async function rowCounts(db: Database): Promise<Record<string, number>> {
  const tables = await tablesOf(db);
  const columns = tables.map((name) => `(select count(*)::int from "${name}") as "${name}"`).join(', ');
  const [row] = rowsOf(await db.execute(sql.raw(`select ${columns}`)));
  return Object.fromEntries(tables.map((name) => [name, Number(row?.[name] ?? 0)]));
}
