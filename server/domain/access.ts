import type { Actor, Role } from './context.ts';
import { ForbiddenError } from './errors.ts';

/** Throws ForbiddenError unless the actor has one of the roles. */
export function requireRole(actor: Actor, ...roles: Role[]): void {
  if (!roles.includes(actor.role)) {
    throw new ForbiddenError(`This operation requires one of the roles: ${roles.join(', ')}`);
  }
}

/** Admins and publishers manage APIs, plans and subscription plans. */
export function canManageApis(actor: Actor): boolean {
  return actor.role === 'admin' || actor.role === 'publisher';
}

/** A consumer owns what it created; admins and publishers see every application. */
export function canSeeOwned(actor: Actor, ownerId: string | null): boolean {
  return actor.role !== 'consumer' || (ownerId !== null && ownerId === actor.userId);
}
