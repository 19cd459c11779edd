import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toSchema } from '../../../server/graphql/schema/index.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { mutationArbitraries } from '../../helpers/graphql-arbitrary.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { rowCounts } from '../../helpers/row-counts.ts';

const schema = toSchema();
const errorTypes = new Set(
  Object.values(schema.getTypeMap())
    .filter((t) => 'getInterfaces' in t && t.getInterfaces().some((i) => i.name === 'Error'))
    .map((t) => t.name),
);


describe.each(shapeDrivers)('every GraphQL mutation under arbitrary input (%s)', (driver) => {
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
          const before = await rowCounts(t.platform.database.db);
          const res = await t.graphql<{ result?: { __typename?: string } | null }>(mutation.document, args);
          expect(res.status).toBeLessThan(500);
          const codes = (res.errors ?? []).map((e) => e.extensions?.code);
          expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
          const rejected = (res.errors?.length ?? 0) > 0 || errorTypes.has(res.data?.result?.__typename ?? '');
          if (rejected) expect(await rowCounts(t.platform.database.db)).toEqual(before);
        }),
        { numRuns: 25 },
      );
    });
  }
});
