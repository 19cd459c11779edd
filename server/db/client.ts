import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { abandonLostTransactions } from './abandon-lost-transactions.ts';
import { reconnectBackoffSeconds } from './reconnect-backoff.ts';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** What domain functions take: the database or an open transaction. */
export type Executor = Database | Transaction;

export interface DatabaseHandle {
  db: Database;
  driver: 'pglite' | 'postgres';
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… selects postgres.js; absent selects embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory; `memory://` for a throw-away database. @default './data' */
  dataDir?: string;
  /**
   * How long a new Postgres connection may take before requests fail with 503. postgres.js waits 30 s by
   * default, which holds a write for half a minute when the server is unreachable. @default 5
   */
  connectTimeoutSeconds?: number;
}

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** A migrated PGlite data directory (`dumpDataDir()`) that `memory://` databases start from; unset in production. */
let memorySnapshot: Blob | undefined;

/**
 * Tests only: start every later `memory://` database from this snapshot instead of an empty cluster, so a test run
 * migrates once (test/helpers/template.ts). The migrator below still runs and finds nothing to do.
 */
export function startMemoryDatabasesFrom(snapshot: Blob | undefined): void {
  memorySnapshot = snapshot;
}

/** Opens the database and applies pending migrations before anything else touches it. */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) {
    // `onnotice` silenced: migrations print NOTICEs for IF NOT EXISTS that are noise in logs.
    const sql = postgres(options.url, {
      max: 10,
      connect_timeout: options.connectTimeoutSeconds ?? 5,
      backoff: reconnectBackoffSeconds,
      onnotice: () => {},
    });
    // A reset inside a transaction must not throw from a timer nor wedge the connection (see the wrapper).
    const db = drizzlePostgres(abandonLostTransactions(sql), { schema });
    await migratePostgres(db, { migrationsFolder });
    return { db: db as unknown as Database, driver: 'postgres', close: () => sql.end({ timeout: 5 }) };
  }
  const dataDir = options.dataDir ?? './data';
  // Owner-only: the database files hold every API's configuration (platform.ts also fixes modes of what is in it).
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const loadDataDir = dataDir.startsWith('memory://') ? memorySnapshot : undefined;
  const client = loadDataDir ? new PGlite({ dataDir, loadDataDir }) : new PGlite(dataDir);
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder });
  return { db: db as unknown as Database, driver: 'pglite', close: () => client.close() };
}
