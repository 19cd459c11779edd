// Prints the JSON Schema of each policy module's plugin configuration (docs/policies.md), or of the kinds named:
// `npx tsx scripts/print-policy-schemas.ts [kind ...]`.
import { configurationJsonSchema, policyKinds } from '../server/policies/index.ts';
import type { PolicyKind } from '../server/xds/ir.ts';

const asked = process.argv.slice(2);
const unknown = asked.filter((k) => !(policyKinds as readonly string[]).includes(k));
if (unknown.length > 0) {
  console.error(`unknown policy kind: ${unknown.join(', ')} (known: ${policyKinds.join(', ')})`);
  process.exit(1);
}
const kinds = (asked.length > 0 ? asked : policyKinds) as readonly PolicyKind[];
console.log(JSON.stringify(Object.fromEntries(kinds.map((kind) => [kind, configurationJsonSchema(kind)])), null, 2));
