import { and, eq, or } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiMembers, apis } from '../../db/schema/index.ts';
import type { Actor } from '../context.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { isApiVisible } from './visibility.ts';

/** Whether the actor manages this API: admins all; publishers the APIs they own or are members of. */
export async function isApiManager(db: Executor, actor: Actor, apiId: string): Promise<boolean> {
  if (actor.role === 'admin') return true;
  if (actor.role !== 'publisher' || actor.userId === null) return false;
  const [row] = await db
    .select({ id: apis.id })
    .from(apis)
    .leftJoin(apiMembers, and(eq(apiMembers.apiId, apis.id), eq(apiMembers.userId, actor.userId)))
    .where(and(eq(apis.id, apiId), or(eq(apis.ownerId, actor.userId), eq(apiMembers.userId, actor.userId))))
    .limit(1);
  return row !== undefined;
}

/**
 * Throws unless the actor manages the API. An API the actor may not read is NotFound (existence does not leak:
 * consumers); one it can read but not manage is Forbidden (another publisher's API, which publishers may read).
 * `ref` is how the caller named the API (id or handle), echoed in the NotFound.
 */
export async function requireApiManager(db: Executor, actor: Actor, apiId: string, ref: string = apiId): Promise<void> {
  if (await isApiManager(db, actor, apiId)) return;
  const [api] = await db
    .select({ id: apis.id, visibility: apis.visibility, deploymentState: apis.deploymentState })
    .from(apis)
    .where(eq(apis.id, apiId))
    .limit(1);
  if (!api || !(await isApiVisible(actor, db, api))) throw new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
  throw new ForbiddenError(
    actor.role === 'consumer' ? 'Only publishers and admins manage APIs' : "Only the API's owner, its members and admins manage this API",
  );
}
