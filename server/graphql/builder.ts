import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import WithInputPlugin from '@pothos/plugin-with-input';
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type { Actor, DomainContext } from '../domain/context.ts';
import type { DeploymentStatusReader } from '../domain/deployment-status.ts';
import { authScopes } from '../domain/access/index.ts';
import { ForbiddenError, PasswordChangeRequiredError } from '../domain/errors.ts';

/** Per request: the authenticated actor and a domain context acting as it. */
export interface GraphQLContext {
  actor: Actor;
  domain: DomainContext;
  deploymentStatus: DeploymentStatusReader;
}

export type Scalars = {
  DateTime: { Input: Date; Output: Date };
  JSON: { Input: unknown; Output: unknown };
};

/** Root fields get `<FieldName><suffix>`; fields of other types keep their type as prefix. */
function rootTypeName(parentTypeName: string, fieldName: string, suffix: string): string {
  const field = fieldName.charAt(0).toUpperCase() + fieldName.slice(1);
  return parentTypeName === 'Mutation' || parentTypeName === 'Query' ? `${field}${suffix}` : `${parentTypeName}${field}${suffix}`;
}

// Plugin order matters: scope-auth must wrap resolvers before errors turns thrown errors into results.
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: Scalars;
  AuthScopes: { admin: boolean; publisher: boolean; consumer: boolean; manager: boolean; passwordCurrent: boolean };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin, WithInputPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  scopeAuth: {
    // The domain's role predicates (server/domain/access); every root field requires `passwordCurrent` (see
    // queryType/mutationType below) except `changeOwnPassword` and `viewer`.
    authScopes: (ctx) => authScopes(ctx.actor),
    // DomainErrors, so the error masking in yoga.ts reports them with their code like any domain refusal.
    unauthorizedError: (_parent, ctx, _info, result) =>
      ctx.actor.mustChangePassword ? new PasswordChangeRequiredError() : new ForbiddenError(result.message),
  },
  errors: {
    // Never `Error`: a default catch-all would leak internals of unexpected failures.
    defaultTypes: [],
    directResult: true,
    // `createApi` -> union CreateApiResult = CreateApiPayload | ValidationError | ...
    defaultUnionOptions: { name: ({ parentTypeName, fieldName }) => rootTypeName(parentTypeName, fieldName, 'Result') },
    defaultResultOptions: { name: ({ parentTypeName, fieldName }) => rootTypeName(parentTypeName, fieldName, 'Success') },
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesOnConnection: true,
  },
  withInput: {
    // `createApi(input: CreateApiInput!)`, the `<Mutation>Input` convention.
    typeOptions: { name: ({ parentTypeName, fieldName }) => rootTypeName(parentTypeName, fieldName, 'Input') },
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 instant in UTC.',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string');
    return date;
  },
});

function parseLiteralJson(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(parseLiteralJson);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, parseLiteralJson(f.value)]));
    default:
      throw new GraphQLError('JSON literals may not contain variables');
  }
}

builder.scalarType('JSON', {
  description: 'Free-form JSON (policy params, plan security options), validated by the domain.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: parseLiteralJson,
});

// A user whose password must change may do nothing else: root fields opt out with `skipTypeScopes`.
builder.queryType({ authScopes: { passwordCurrent: true } });
builder.mutationType({ authScopes: { passwordCurrent: true } });
