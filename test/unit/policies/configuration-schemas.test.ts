import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configurationJsonSchema, policyKinds } from '../../../server/policies/index.ts';
import { configurationSchemaErrors } from '../../helpers/module-configuration.ts';
import { loadPolicy } from '../../helpers/policies.ts';

// Each module's configuration has one JSON Schema, derived from its kind's module (server/policies/<kind>.ts): the
// translator's output (test/unit/xds/module-configs.test.ts), the configurations the modules' tests feed them
// (test/helpers/policies.ts `loadPolicy`) and docs/policies.md's examples all validate against it.
const docs = readFileSync(fileURLToPath(new URL('../../../docs/policies.md', import.meta.url)), 'utf8');

/** The first ```json block of the `## <kind>` section, placeholders filled in. */
function docExample(kind: string): unknown {
  const section = docs.split(/^## /m).find((s) => s.startsWith(`${kind}\n`));
  const block = section?.match(/```json\n([\s\S]*?)\n```/)?.[1];
  if (block === undefined) throw new Error(`docs/policies.md has no example configuration for ${kind}`);
  return JSON.parse(block.replaceAll('<64 hex characters>', 'ab'.repeat(32)));
}

describe('policy module configuration schemas', () => {
  it.each(policyKinds)('%s: the example of docs/policies.md validates', (kind) => {
    expect(configurationSchemaErrors(kind, docExample(kind))).toEqual([]);
  });

  // jwt's example abbreviates its keys (`"n": "0vx7agoebGc…"`), which the module rightly refuses.
  it.each(policyKinds.filter((k) => k !== 'jwt'))('%s: the module accepts the example of docs/policies.md', async (kind) => {
    expect((await loadPolicy(kind, docExample(kind))).isConfigured).toBe(true);
  });

  it('refuses what the module refuses: a window under a second, a route without its key', async () => {
    const shortWindow = { routes: { 'a/GET/x': { limits: [{ requests: 1, windowMs: 10 }] } } };
    expect(configurationSchemaErrors('throttle', shortWindow)).not.toEqual([]);
    expect((await loadPolicy('throttle', shortWindow)).isConfigured).toBe(false);
    const noKey = { digestKey: 'ab'.repeat(32), keySets: { s: [] }, routes: { 'a/GET/x': { keySets: ['s'] } } };
    expect(configurationSchemaErrors('api-key', noKey)).toEqual(["/routes/a~1GET~1x must have required property 'key'"]);
    expect((await loadPolicy('api-key', noKey)).isConfigured).toBe(false);
  });

  it('is draft 2020-12 JSON Schema for every module', () => {
    for (const kind of policyKinds) expect(configurationJsonSchema(kind).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });
});
