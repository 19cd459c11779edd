import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../server/db/client.ts';

// vitest globalSetup of the database and platform projects: migrate once per run, then every suite's fresh
// database is a copy of the migrated template (test/helpers/database.ts, test/helpers/setup-template.ts).

declare module 'vitest' {
  export interface ProvidedContext {
    /** A file holding a migrated PGlite data directory (`dumpDataDir()`). */
    pgliteTemplate: string;
    /** A migrated Postgres database beside DATABASE_URL's to `CREATE DATABASE … TEMPLATE`; null without DATABASE_URL. */
    postgresTemplate: string | null;
  }
}

interface Templates {
  pglite: string;
  postgres: string | null;
  teardown(): Promise<void>;
}

/** Several projects name this setup; the main process builds the templates once and drops them after the last. */
const shared = globalThis as { apipTemplates?: { built: Promise<Templates>; users: number } };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.apipTemplates ??= { built: buildTemplates(), users: 0 };
  const state = shared.apipTemplates;
  state.users += 1;
  const templates = await state.built;
  project.provide('pgliteTemplate', templates.pglite);
  project.provide('postgresTemplate', templates.postgres);
  return async () => {
    state.users -= 1;
    if (state.users === 0) {
      delete shared.apipTemplates;
      await templates.teardown();
    }
  };
}

async function buildTemplates(): Promise<Templates> {
  const dir = mkdtempSync(join(tmpdir(), 'apip-template-'));
  const pglite = join(dir, 'pglite.tar');
  const memory = await openDatabase({ dataDir: 'memory://' });
  const client = (memory.db as unknown as { $client: PGlite }).$client;
  writeFileSync(pglite, Buffer.from(await (await client.dumpDataDir('none')).arrayBuffer()));
  await memory.close();

  const postgresTemplate = process.env.DATABASE_URL ? await migratePostgresTemplate(process.env.DATABASE_URL) : null;
  return {
    pglite,
    postgres: postgresTemplate?.name ?? null,
    teardown: async () => {
      rmSync(dir, { recursive: true, force: true });
      await postgresTemplate?.drop();
    },
  };
}

/** Creates and migrates `<db>_template_<pid>`; closes every connection to it, as cloning requires. */
async function migratePostgresTemplate(databaseUrl: string): Promise<{ name: string; drop(): Promise<void> }> {
  const base = new URL(databaseUrl);
  const name = `${base.pathname.slice(1) || 'test'}_template_${process.pid}`;
  const admin = async (statement: string) => {
    const sql = postgres(base.toString(), { max: 1, onnotice: () => {} });
    await sql.unsafe(statement);
    await sql.end();
  };
  await admin(`drop database if exists "${name}" with (force)`);
  await admin(`create database "${name}"`);
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  const handle = await openDatabase({ url: url.toString() });
  await handle.close();
  return { name, drop: () => admin(`drop database if exists "${name}" with (force)`) };
}
