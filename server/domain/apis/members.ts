import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Transaction } from '../../db/client.ts';
import { apiMembers, apis, users } from '../../db/schema/index.ts';
import { canSeeApiTeam, isApiManager, isOwnerOrAdmin, requireApiManager } from '../access/index.ts';
import { type DomainContext, write } from '../context.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import { loadUsersById, toUser, type User } from '../users.ts';

/**
 * An API's team: its owner (the creating user, or whom ownership was transferred to) and members (publishers
 * the owner or an admin added). Owner and members manage the API; admins manage every API (access/).
 */

async function findApi(ctx: DomainContext, tx: Transaction, ref: string) {
  const [row] = await tx
    .select({ id: apis.id, handle: apis.handle, ownerId: apis.ownerId })
    .from(apis)
    .where(eq(apis.id, ref))
    .limit(1);
  const found = row ?? (await tx.select({ id: apis.id, handle: apis.handle, ownerId: apis.ownerId }).from(apis).where(eq(apis.handle, ref)).limit(1))[0];
  if (!found) throw new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
  return found;
}

/** Members are added and removed, and ownership given away, by the owner or an admin (not by members). */
async function requireOwnerOrAdmin(ctx: DomainContext, tx: Transaction, api: { id: string; ownerId: string | null }, ref: string): Promise<void> {
  await requireApiManager(tx, ctx.actor, api.id, ref);
  if (!isOwnerOrAdmin(ctx.actor, api.ownerId)) {
    throw new ForbiddenError("Only the API's owner or an admin changes its members and owner");
  }
}

/** The user named, which must be active and may manage APIs; `path` names the input field in errors. */
async function findTeamUser(tx: Transaction, userId: string, path: string, roles: readonly string[]): Promise<User> {
  const [row] = await tx.select().from(users).where(eq(users.id, userId)).limit(1);
  if (!row) throw new ValidationError([{ path, message: `No user '${userId}'` }]);
  if (!roles.includes(row.role)) throw new ValidationError([{ path, message: `The user must have the role ${roles.join(' or ')}` }]);
  if (row.disabledAt !== null) throw new ValidationError([{ path, message: 'The user is disabled' }]);
  return toUser(row);
}

export async function addApiMember(ctx: DomainContext, apiRef: string, userId: string): Promise<User> {
  return write(ctx, async ({ tx, audit, now }) => {
    const api = await findApi(ctx, tx, apiRef);
    await requireOwnerOrAdmin(ctx, tx, api, apiRef);
    const user = await findTeamUser(tx, userId, 'userId', ['publisher']);
    if (api.ownerId === user.id) throw new ConflictError(`User '${user.username}' owns this API already`);
    const inserted = await tx.insert(apiMembers).values({ apiId: api.id, userId: user.id, addedAt: now }).onConflictDoNothing().returning();
    if (inserted.length === 0) throw new ConflictError(`User '${user.username}' is a member of this API already`);
    await audit({ action: 'api.add-member', entityType: 'api', entityId: api.id, after: { member: user.username } });
    return user;
  });
}

export async function removeApiMember(ctx: DomainContext, apiRef: string, userId: string): Promise<User> {
  return write(ctx, async ({ tx, audit }) => {
    const api = await findApi(ctx, tx, apiRef);
    await requireOwnerOrAdmin(ctx, tx, api, apiRef);
    const removed = await tx.delete(apiMembers).where(and(eq(apiMembers.apiId, api.id), eq(apiMembers.userId, userId))).returning();
    const [user] = await loadUsersById(tx, [userId]);
    if (removed.length === 0 || !user) throw new NotFoundError('ApiMember', userId, `User '${userId}' is not a member of this API`);
    await audit({ action: 'api.remove-member', entityType: 'api', entityId: api.id, before: { member: user.username } });
    return user;
  });
}

/** Gives the API to another publisher or admin; the previous owner stays on as a member when it is a publisher. */
export async function transferApiOwnership(ctx: DomainContext, apiRef: string, newOwnerId: string): Promise<{ id: string; ownerId: string }> {
  return write(ctx, async ({ tx, audit, now }) => {
    const api = await findApi(ctx, tx, apiRef);
    await requireOwnerOrAdmin(ctx, tx, api, apiRef);
    const owner = await findTeamUser(tx, newOwnerId, 'newOwnerId', ['publisher', 'admin']);
    if (api.ownerId === owner.id) return { id: api.id, ownerId: owner.id };
    await tx.update(apis).set({ ownerId: owner.id, updatedAt: now }).where(eq(apis.id, api.id));
    // The new owner is no longer a member; the previous one keeps managing as a member (no lock-out by surprise).
    await tx.delete(apiMembers).where(and(eq(apiMembers.apiId, api.id), eq(apiMembers.userId, owner.id)));
    const [previous] = api.ownerId === null ? [null] : await loadUsersById(tx, [api.ownerId]);
    if (previous?.role === 'publisher') await tx.insert(apiMembers).values({ apiId: api.id, userId: previous.id, addedAt: now }).onConflictDoNothing();
    await audit({ action: 'api.transfer-ownership', entityType: 'api', entityId: api.id, before: { owner: previous?.username ?? null }, after: { owner: owner.username } });
    return { id: api.id, ownerId: owner.id };
  });
}

/** Batch loader for `Api.members`, in the order of `apiIds`; empty for consumers. */
export async function listMembersForApis(ctx: DomainContext, apiIds: readonly string[]): Promise<User[][]> {
  if (apiIds.length === 0 || !canSeeApiTeam(ctx.actor)) return apiIds.map(() => []);
  const rows = await ctx.db
    .select({ apiId: apiMembers.apiId, user: users })
    .from(apiMembers)
    .innerJoin(users, eq(users.id, apiMembers.userId))
    .where(inArray(apiMembers.apiId, [...new Set(apiIds)]))
    .orderBy(asc(users.username));
  return apiIds.map((id) => rows.filter((r) => r.apiId === id).map((r) => toUser(r.user)));
}

/** Batch loader for `Api.owner` (owner ids of APIs the actor reads); null for consumers. */
export async function loadApiOwners(ctx: DomainContext, ownerIds: readonly string[]): Promise<(User | null)[]> {
  if (!canSeeApiTeam(ctx.actor)) return ownerIds.map(() => null);
  return loadUsersById(ctx.db, ownerIds);
}

/** Whether the actor may manage the API (GraphQL's `Api.viewerCanManage`). */
export function viewerCanManage(ctx: DomainContext, apiId: string): Promise<boolean> {
  return isApiManager(ctx.db, ctx.actor, apiId);
}
