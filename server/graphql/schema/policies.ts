import { type PolicyDefinition, paramsJsonSchema, policyDefinitions } from '../../domain/policy-registry.ts';
import { builder } from '../builder.ts';

export const PolicyDefinitionRef = builder.objectRef<PolicyDefinition>('PolicyDefinition').implement({
  description: 'A policy the control plane can attach to APIs, operations and plans.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Canonical name on the wire, e.g. `api-key`.' }),
    aliases: t.stringList({ resolve: (def) => [...def.aliases], description: 'Accepted v0.9 names, e.g. `api-key-auth`.' }),
    majorVersion: t.exposeString('majorVersion', { description: 'The version attachments must name (`v1`).' }),
    description: t.exposeString('description'),
    paramsSchema: t.field({ type: 'JSON', description: 'JSON Schema of `params`.', resolve: (def) => paramsJsonSchema(def) }),
  }),
});

builder.queryField('policyDefinitions', (t) =>
  t.field({
    type: [PolicyDefinitionRef],
    description: 'The policy catalogue, in registry order.',
    resolve: () => [...policyDefinitions],
  }),
);
