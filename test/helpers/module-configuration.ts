import { Ajv2020 } from 'ajv/dist/2020.js';
import { configurationJsonSchema, policyKinds } from '../../server/policies/index.ts';
import type { PolicyKind } from '../../server/xds/ir.ts';

// The JSON Schema of each module's plugin configuration (server/policies/<kind>.ts, docs/policies.md), compiled once.
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map(policyKinds.map((kind) => [kind as string, ajv.compile(configurationJsonSchema(kind))]));

/** What is wrong with `configuration` for module `kind` by its JSON Schema (empty: valid; unknown kind: not checked). */
export function configurationSchemaErrors(kind: PolicyKind | string, configuration: unknown): string[] {
  const validate = validators.get(kind);
  if (validate === undefined) return [];
  const json = typeof configuration === 'string' ? JSON.parse(configuration) : configuration;
  if (validate(json)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}
