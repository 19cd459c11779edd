import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../server/db/client.ts';

export type Driver = 'pglite' | 'postgres';

/**
 * For suites where the driver matters (domain SQL, constraints, concurrency, LISTEN/NOTIFY, outages, data at rest):
 * PGlite always, Postgres too when DATABASE_URL is set (as in CI). Suites run once per driver.
 */
export const drivers: Driver[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** For suites about response shapes or traffic: the driver is not what they test (`drivers` suites cover the SQL). */
export const shapeDrivers: Driver[] = ['pglite'];

export interface TestDatabase {
  /** Pass to openDatabase / PlatformConfig: a fresh database of its own. */
  url: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one suite: in-memory PGlite, or a new Postgres database created beside DATABASE_URL's and
 * dropped afterwards, so parallel suites never share state. Both start as copies of the run's migrated template
 * (test/helpers/template.ts) when there is one, so opening them migrates nothing.
 */
export async function createTestDatabase(driver: Driver): Promise<TestDatabase> {
  if (driver === 'pglite') return { url: undefined, dataDir: 'memory://', drop: async () => {} };
  const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const name = `${base.pathname.slice(1) || 'test'}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });
  const template = inject('postgresTemplate');
  await admin.unsafe(template ? `create database "${name}" template "${template}"` : `create database "${name}"`);
  await admin.end();
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir: 'memory://',
    drop: async () => {
      const again = postgres(base.toString(), { max: 1, onnotice: () => {} });
      await again.unsafe(`drop database if exists "${name}" with (force)`);
      await again.end();
    },
  };
}

/** Opens (and migrates) a fresh database for domain-level tests. */
export async function openTestDatabase(driver: Driver): Promise<DatabaseHandle & { drop(): Promise<void> }> {
  const target = await createTestDatabase(driver);
  const handle = await openDatabase({ url: target.url, dataDir: target.dataDir });
  return {
    ...handle,
    close: handle.close,
    drop: async () => {
      await handle.close();
      await target.drop();
    },
  };
}
