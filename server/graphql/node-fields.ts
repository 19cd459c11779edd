import type { ArgBuilder, InputFieldMap, InputShapeFromFields, ObjectRef, SchemaTypes } from '@pothos/core';
import { encodeGlobalID, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import type { DomainContext } from '../domain/context.ts';
import { NotFoundError } from '../domain/errors.ts';
import { builder, type GraphQLContext } from './builder.ts';
import { connectionById } from './connections.ts';
import { findByGlobalId, type GlobalId } from './global-id.ts';

// The field shapes every aggregate's schema module repeats: a loadable node's id and load, a root lookup by global
// ID, a keyset list, a node's batched children, one-node and deletion payloads, an id-only mutation. Type and field
// names stay the caller's, so the schema text is what the hand-written fields produced.

export type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T extends SchemaTypes> ? T : never;
/** A node type: resolvers hand it the node or, for a loadable node, its id. */
type NodeRef<T> = ObjectRef<Types, T | string, T>;
// Inside a generic helper Pothos cannot resolve its conditional resolver types for an unknown T; as a plain
// object node the checks hold, and the helper's signature keeps callers typed.
const erased = <T extends object>(ref: NodeRef<T>) => ref as unknown as NodeRef<object>;

/** `name(id: ID!): T`: null for an id of another type or one that names nothing the caller may see. */
export function nodeQueryField<T extends object>(
  name: string,
  type: NodeRef<T>,
  find: (ctx: DomainContext, id: string) => Promise<T | null>,
  options: { manager?: boolean } = {},
): void {
  builder.queryField(name, (t) =>
    t.field({
      type: erased(type),
      nullable: true,
      ...(options.manager ? { authScopes: { manager: true } } : {}),
      args: { id: t.arg.globalID({ required: true }) },
      resolve: (_root, { id }, ctx) => findByGlobalId(id, type.name, (raw) => find(ctx.domain, raw)),
    }),
  );
}

/** Looks up one row with a batch loader: `(ctx, id) => loadX(ctx, [id])`, null when not visible. */
export const loadOne =
  <T>(load: (ctx: DomainContext, ids: string[]) => Promise<readonly (T | null)[]>) =>
  async (ctx: DomainContext, id: string): Promise<T | null> =>
    (await load(ctx, [id]))[0] ?? null;

/** A batch load for a loadable node: each id's row, or NotFoundError where it names nothing the caller may see. */
export const loadOrNotFound =
  <T>(entity: string, load: (ctx: DomainContext, ids: string[]) => Promise<readonly (T | null)[]>) =>
  async (ids: string[], ctx: GraphQLContext): Promise<(T | NotFoundError)[]> =>
    (await load(ctx.domain, ids)).map((row, i) => row ?? new NotFoundError(entity, ids[i] ?? ''));

/** A loadable node's id and batch load, for `builder.loadableNode(name, { ...nodeById(entity, loadX), fields })`. */
export const nodeById = <T extends { id: string }>(entity: string, load: (ctx: DomainContext, ids: string[]) => Promise<readonly (T | null)[]>) => ({
  id: { resolve: (node: T) => node.id },
  load: loadOrNotFound(entity, load),
});

/** A nullable field naming another node by id, batched: `t.loadable({ ...referencedNode(PlanRef, loadPlans), resolve })`. */
export const referencedNode = <T extends object>(type: NodeRef<T>, load: (ctx: DomainContext, ids: string[]) => Promise<(T | null)[]>) => ({
  type,
  nullable: true as const,
  load: (ids: string[], ctx: GraphQLContext) => load(ctx.domain, ids),
});

/** A mutation payload holding the one node it changed: `type <name> { <key>: <Node>! }`. */
export function nodePayload<K extends string, T extends object>(name: string, key: K, type: NodeRef<T>) {
  return builder.objectRef<Record<K, T>>(name).implement({
    fields: (t) => ({ [key]: t.field({ type: erased(type), resolve: (payload): object => payload[key] }) }),
  });
}

/** A node's children, batched across parents: `parent.<name>: [Child!]!`, loaded by the parents' ids. */
export function childListField<P extends { id: string }, C extends object>(
  parent: NodeRef<P>,
  name: string,
  options: { type: NodeRef<C>; description: string; load: (ctx: DomainContext, parentIds: string[]) => Promise<C[][]> },
): void {
  builder.objectField(parent, name, (t) =>
    t.loadableList({
      type: erased(options.type),
      description: options.description,
      load: (ids: string[], ctx) => options.load(ctx.domain, ids),
      resolve: (node) => node.id,
    }),
  );
}

/** What a deletion answers: the deleted node's global ID and a name of it (the node itself is gone). */
export function deletionPayload<K extends string, T extends { id: string }>(
  name: string,
  key: K,
  typename: string,
  label: { field: string; of: (node: T) => string },
) {
  return builder.objectRef<Record<K, T>>(name).implement({
    fields: (t) => ({
      deletedId: t.id({ resolve: (payload) => encodeGlobalID(typename, payload[key].id) }),
      [label.field]: t.string({ resolve: (payload) => label.of(payload[key]) }),
    }),
  });
}

/** An error class a mutation may answer as a typed result (server/graphql/errors.ts registers them). */
type ResultError = new (...args: never[]) => Error;

/** `name(input: { id: ID! }): <Payload>`: a mutation that acts on one node named by its global ID. */
export function idMutationField<P extends object>(
  name: string,
  type: ObjectRef<Types, P>,
  options: { description?: string; manager?: boolean; errors: readonly ResultError[]; run: (ctx: DomainContext, id: GlobalId) => Promise<P> },
): void {
  builder.mutationField(name, (t) =>
    t.fieldWithInput({
      type: type as unknown as ObjectRef<Types, object>,
      ...(options.manager ? { authScopes: { manager: true } } : {}),
      description: options.description,
      errors: { types: [...options.errors] },
      input: { id: t.input.globalID() },
      resolve: (_root, { input }, ctx): Promise<object> => options.run(ctx.domain, input.id),
    }),
  );
}

/** `name(<args>, first, after, last, before): <Node>Connection!`: a keyset list over the domain's list call. */
export function connectionQueryField<T extends { id: string }, Args extends InputFieldMap>(
  name: string,
  type: NodeRef<T>,
  options: {
    description?: string;
    authScopes?: { admin: true } | { manager: true };
    args: (arg: ArgBuilder<Types>) => Args;
    list: (ctx: DomainContext, args: InputShapeFromFields<Args>, page: ResolveCursorConnectionArgs) => Promise<readonly T[]>;
  },
): void {
  builder.queryField(name, (t) =>
    t.connection({
      type: erased(type),
      ...(options.authScopes ? { authScopes: options.authScopes } : {}),
      description: options.description,
      args: options.args(t.arg),
      resolve: (_root, args, ctx) => connectionById(args, (page) => options.list(ctx.domain, args as InputShapeFromFields<Args>, page)),
    }),
  );
}
