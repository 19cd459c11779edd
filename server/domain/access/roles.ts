import type { Actor, Role } from '../context.ts';
import { ForbiddenError, PasswordChangeRequiredError } from '../errors.ts';

/** Role predicates: what a role may do, whatever the entity (ownership and visibility: visibility.ts). */

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

/** Admins act on anything; everyone else only on what they own (an application, an API's team, their account). */
export function isOwnerOrAdmin(actor: Actor, ownerId: string | null): boolean {
  return actor.role === 'admin' || (ownerId !== null && ownerId === actor.userId);
}

/** GraphQL's auth scopes (`authScopes` on root fields), from the same predicates the domain uses. */
export function authScopes(actor: Actor): { admin: boolean; publisher: boolean; consumer: boolean; manager: boolean; passwordCurrent: boolean } {
  return {
    admin: actor.role === 'admin',
    publisher: actor.role === 'publisher',
    consumer: actor.role === 'consumer',
    // Admins and publishers manage the API catalogue (which APIs: requireApiManager).
    manager: canManageApis(actor),
    // Every root field requires it except `changeOwnPassword` and `viewer`.
    passwordCurrent: !actor.mustChangePassword,
  };
}
