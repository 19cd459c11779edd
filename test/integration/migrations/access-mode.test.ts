import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const migration = (tag: string) => readFileSync(new URL(`../../../drizzle/${tag}.sql`, import.meta.url), 'utf8');
const journal = JSON.parse(readFileSync(new URL('../../../drizzle/meta/_journal.json', import.meta.url), 'utf8')) as { entries: { tag: string }[] };

/** Runs one generated migration's statements, split where drizzle-kit splits them. */
async function apply(db: PGlite, tag: string): Promise<void> {
  for (const statement of migration(tag).split('--> statement-breakpoint')) if (statement.trim() !== '') await db.exec(statement);
}

// Migration 0005 (docs/plan-selection.md "Who can reach an API"): APIs that existed before the access mode keep
// serving as they did when they had no plan (OPEN), and are governed by plans when they had any (PLANS).
describe('migration 0005_api_access_mode', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = new PGlite();
    const tags = journal.entries.map((e) => e.tag);
    const at = tags.indexOf('0005_api_access_mode');
    for (const tag of tags.slice(0, at)) await apply(db, tag);
    const api = (id: string) =>
      db.query(`INSERT INTO apis (id, handle, display_name, version, context, created_at, updated_at) VALUES ($1, $1, $1, 'v1', '/' || $1, now(), now())`, [id]);
    const plan = (id: string, apiId: string, status: string) =>
      db.query(`INSERT INTO plans (id, api_id, lineage_id, name, security, status, created_at, updated_at) VALUES ($1, $2, $1, $1, 'KEYLESS', $3, now(), now())`, [id, apiId, status]);
    await api('no-plan');
    await api('staging-only');
    await plan('pln_staging', 'staging-only', 'STAGING');
    await api('published');
    await plan('pln_published', 'published', 'PUBLISHED');
    await api('closed-only');
    await plan('pln_closed', 'closed-only', 'CLOSED');
    await apply(db, '0005_api_access_mode');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('makes an API without any plan OPEN and every API with a plan, of any status, PLANS', async () => {
    const rows = await db.query<{ id: string; access_mode: string }>('SELECT id, access_mode FROM apis ORDER BY id');
    expect(Object.fromEntries(rows.rows.map((r) => [r.id, r.access_mode]))).toEqual({
      'no-plan': 'OPEN',
      'staging-only': 'PLANS',
      published: 'PLANS',
      'closed-only': 'PLANS',
    });
  });

  it('creates later APIs as PLANS unless told otherwise', async () => {
    await db.query(`INSERT INTO apis (id, handle, display_name, version, context, created_at, updated_at) VALUES ('later', 'later', 'later', 'v1', '/later', now(), now())`);
    expect((await db.query<{ access_mode: string }>(`SELECT access_mode FROM apis WHERE id = 'later'`)).rows[0]?.access_mode).toBe('PLANS');
  });
});
