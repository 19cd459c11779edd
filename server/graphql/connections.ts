import { type DefaultConnectionArguments, resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';

/**
 * Every list is a keyset connection over time-sortable ids: the cursor is the node's id and Pothos' page arguments
 * are the domain's PageArgs (server/domain/pagination.ts), so `list` is a domain list call.
 */
export function connectionById<T extends { id: string }>(args: DefaultConnectionArguments, list: (page: ResolveCursorConnectionArgs) => Promise<readonly T[]>) {
  return resolveCursorConnection({ args, toCursor: (node: T) => node.id }, list);
}
