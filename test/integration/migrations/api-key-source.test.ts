import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const migration = (tag: string) => readFileSync(new URL(`../../../drizzle/${tag}.sql`, import.meta.url), 'utf8');
const journal = JSON.parse(readFileSync(new URL('../../../drizzle/meta/_journal.json', import.meta.url), 'utf8')) as { entries: { tag: string }[] };

/** Runs one generated migration's statements, split where drizzle-kit splits them. */
async function apply(db: PGlite, tag: string): Promise<void> {
  for (const statement of migration(tag).split('--> statement-breakpoint')) if (statement.trim() !== '') await db.exec(statement);
}

// Migration 0008 (docs/rest.md, API keys): keys made before `source` was recorded all said `local`; a key with a
// custom value was brought by its client, so it becomes `external`, as a new one would be.
describe('migration 0008_api_key_source_external', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = new PGlite();
    const tags = journal.entries.map((e) => e.tag);
    const at = tags.indexOf('0008_api_key_source_external');
    for (const tag of tags.slice(0, at)) await apply(db, tag);
    const key = (id: string, isCustom: boolean) =>
      db.query(`INSERT INTO api_keys (id, name, digest, masked, is_custom, created_at, updated_at) VALUES ($1, $1, $1, '***', $2, now(), now())`, [id, isCustom]);
    await key('generated', false);
    await key('custom', true);
    await apply(db, '0008_api_key_source_external');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('makes keys with a custom value external and leaves generated ones local', async () => {
    const rows = await db.query<{ id: string; source: string }>('SELECT id, source FROM api_keys ORDER BY id');
    expect(Object.fromEntries(rows.rows.map((r) => [r.id, r.source]))).toEqual({ custom: 'external', generated: 'local' });
  });
});
