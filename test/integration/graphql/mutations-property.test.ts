import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toSchema } from '../../../server/graphql/schema/index.ts';
import { drivers } from '../../helpers/database.ts';
import { mutationArbitraries } from '../../helpers/graphql-arbitrary.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const schema = toSchema();
const errorTypes = new Set(
  Object.values(schema.getTypeMap())
    .filter((t) => 'getInterfaces' in t && t.getInterfaces().some((i) => i.name === 'Error'))
    .map((t) => t.name),
);

/** Row counts of every table the application owns: a rejected call must leave all of them unchanged. */
async function rowCounts(t: TestPlatform): Promise<Record<string, number>> {
  const db = t.platform.database.db;
  const tables = (await db.execute(
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  )) as unknown as { rows?: { table_name: string }[] } | { table_name: string }[];
  const names = (Array.isArray(tables) ? tables : (tables.rows ?? [])).map((r) => r.table_name);
  const counts: Record<string, number> = {};
  for (const name of names) {
    const result = (await db.execute(sql.raw(`select count(*)::int as n from "${name}"`))) as unknown as
      | { rows?: { n: number }[] }
      | { n: number }[];
    const rows = Array.isArray(result) ? result : (result.rows ?? []);
    counts[name] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

describe.each(drivers)('every GraphQL mutation under arbitrary input (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  for (const mutation of mutationArbitraries(schema)) {
    it(`never answers 5xx or writes anything when ${mutation.name} rejects its input`, async () => {
      await fc.assert(
        fc.asyncProperty(mutation.args, async (args) => {
          const before = await rowCounts(t);
          const res = await t.graphql<{ result?: { __typename?: string } | null }>(mutation.document, args);
          expect(res.status).toBeLessThan(500);
          const codes = (res.errors ?? []).map((e) => e.extensions?.code);
          expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
          const rejected = (res.errors?.length ?? 0) > 0 || errorTypes.has(res.data?.result?.__typename ?? '');
          if (rejected) expect(await rowCounts(t)).toEqual(before);
        }),
        { numRuns: 25 },
      );
    });
  }
});
