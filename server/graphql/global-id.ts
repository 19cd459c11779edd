import { NotFoundError } from '../domain/errors.ts';

/** A decoded Relay global ID, as `t.arg.globalID()` / `t.input.globalID()` hand it to resolvers. */
export interface GlobalId {
  typename: string;
  id: string;
}

/**
 * The one decoder of global IDs: the raw id, checked against the type the argument names. An id of another type
 * names nothing of this type, so it answers the same NotFoundError as an unknown id (a typed mutation result).
 * Pothos' `globalID({ for })` would throw a GraphQL validation error instead, which would change the responses.
 */
export function rawId(globalId: GlobalId, typename: string, notFound: (id: string) => NotFoundError = (id) => new NotFoundError(typename, id)): string {
  if (globalId.typename !== typename) throw notFound(globalId.id);
  return globalId.id;
}

/** An Api global ID; NotFound in v0.9's words (the API's handle), as the domain reports a missing API. */
export const apiId = (globalId: GlobalId): string =>
  rawId(globalId, 'Api', (id) => new NotFoundError('RestAPI', id, `RestAPI with handle '${id}' not found`));

export const userId = (globalId: GlobalId): string => rawId(globalId, 'User');

export const authorizationServerId = (globalId: GlobalId): string =>
  rawId(globalId, 'AuthorizationServer', (id) => new NotFoundError('AuthorizationServer', id, `authorization server '${id}' not found`));

export const subscriptionPlanId = (globalId: GlobalId): string =>
  rawId(globalId, 'SubscriptionPlan', (id) => new NotFoundError('SubscriptionPlan', id, `subscription plan '${id}' not found`));

/** A root query's lookup by global ID: null for an id of another type or one that names nothing visible. */
export async function findByGlobalId<T>(globalId: GlobalId, typename: string, find: (id: string) => Promise<T | null>): Promise<T | null> {
  if (globalId.typename !== typename) return null;
  try {
    return await find(globalId.id);
  } catch (error: unknown) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}
