import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { toSchema } from '../server/graphql/schema/index.ts';

// Writes the committed SDL; test/unit/graphql/schema-drift.test.ts fails when it is stale.
const target = new URL('../schema/schema.graphql', import.meta.url);
writeFileSync(target, `${printSchema(toSchema())}\n`);
process.stdout.write(`wrote ${target.pathname}\n`);
