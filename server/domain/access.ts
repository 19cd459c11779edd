import { and, eq, or } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { apiMembers, apis } from '../db/schema/index.ts';
import { isApiVisible } from './apis/visibility.ts';
import type { Actor, Role } from './context.ts';
import { ForbiddenError, NotFoundError, PasswordChangeRequiredError } from './errors.ts';

/**
 * The one room for who may do what. GraphQL's auth scopes, the REST handler, /metrics and every domain
 * operation ask here; which APIs an actor may *read* is `apis/visibility.ts` (an SQL condition, used in queries).
 */

/** Throws ForbiddenError unless the actor has one of the roles. */
export function requireRole(actor: Actor, ...roles: Role[]): void {
  if (!roles.includes(actor.role)) {
    throw new ForbiddenError(`This operation requires one of the roles: ${roles.join(', ')}`);
  }
}

/** Admins and publishers manage APIs, plans and subscription plans (which APIs: `requireApiManager`). */
export function canManageApis(actor: Actor): boolean {
  return actor.role === 'admin' || actor.role === 'publisher';
}

/** A consumer owns what it created; admins and publishers see every application. */
export function canSeeOwned(actor: Actor, ownerId: string | null): boolean {
  return actor.role !== 'consumer' || (ownerId !== null && ownerId === actor.userId);
}

/** Who may see an API's owner and members: the catalogue's managers, not consumers (user names are not theirs). */
export function canSeeApiTeam(actor: Actor): boolean {
  return actor.role !== 'consumer';
}

/** Prometheus figures are operational, not public: admins and publishers read them. */
export function canReadMetrics(actor: Actor): boolean {
  return canManageApis(actor) && !actor.mustChangePassword;
}

/** A user whose password must change may do nothing else (the transports allow `changeOwnPassword` alone). */
export function assertPasswordCurrent(actor: Actor): void {
  if (actor.mustChangePassword) throw new PasswordChangeRequiredError();
}

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
