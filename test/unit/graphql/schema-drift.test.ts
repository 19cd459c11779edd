import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { toSchema } from '../../../server/graphql/schema/index.ts';

describe('schema/schema.graphql', () => {
  it('matches the schema the server builds (run `npm run schema:print` after changing it)', () => {
    const committed = readFileSync(new URL('../../../schema/schema.graphql', import.meta.url), 'utf8');
    expect(`${printSchema(toSchema())}\n`).toBe(committed);
  });
});
