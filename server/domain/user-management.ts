import { and, eq, isNull, ne } from 'drizzle-orm';
import type { Transaction } from '../db/client.ts';
import { apis, applications, users } from '../db/schema/index.ts';
import { requireRole } from './access/index.ts';
import { revokeKeysCreatedBy } from './api-keys/index.ts';
import { type DomainContext, type Role, write } from './context.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.ts';
import { hashPassword, verifyPassword } from './secrets.ts';
import { auditView, passwordIssues, roleIssues, toUser, type User } from './users.ts';

/**
 * What admins do to users (role, disable/enable, delete, forced reset) and what anyone does to itself
 * (change its own password). The last active admin can never be demoted, disabled or deleted.
 */

type UserRow = typeof users.$inferSelect;

async function lockUser(tx: Transaction, id: string): Promise<UserRow> {
  const [row] = await tx.select().from(users).where(eq(users.id, id)).for('update');
  if (!row) throw new NotFoundError('User', id);
  return row;
}

/** Refuses to leave no active admin; the other admins' rows are locked so two concurrent demotions cannot both pass. */
async function assertAnotherActiveAdmin(tx: Transaction, target: UserRow, verb: string): Promise<void> {
  if (target.role !== 'admin' || target.disabledAt !== null) return;
  const others = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), isNull(users.disabledAt), ne(users.id, target.id)))
    .for('update');
  if (others.length === 0) throw new ConflictError(`The last active admin cannot be ${verb}`);
}

async function change(
  ctx: DomainContext,
  id: string,
  action: string,
  apply: (tx: Transaction, row: UserRow) => Promise<Partial<UserRow> | null>,
): Promise<User> {
  return write(ctx, async ({ tx, audit, now }) => {
    const row = await lockUser(tx, id);
    const set = await apply(tx, row);
    if (set === null) return toUser(row);
    const [updated] = await tx.update(users).set({ ...set, updatedAt: now }).where(eq(users.id, id)).returning();
    const user = toUser(updated!);
    await audit({ action, entityType: 'user', entityId: id, before: auditView(toUser(row)), after: auditView(user) });
    return user;
  });
}

export async function updateUserRole(ctx: DomainContext, id: string, role: Role): Promise<User> {
  requireRole(ctx.actor, 'admin');
  const issues = roleIssues(role, 'role');
  if (issues.length > 0) throw new ValidationError(issues);
  return change(ctx, id, 'user.update-role', async (tx, row) => {
    if (row.role === role) return null;
    await assertAnotherActiveAdmin(tx, row, 'demoted');
    return { role };
  });
}

/** A disabled user cannot authenticate (Basic or Bearer); cached credentials stop at its next request. */
export async function disableUser(ctx: DomainContext, id: string): Promise<User> {
  requireRole(ctx.actor, 'admin');
  return change(ctx, id, 'user.disable', async (tx, row) => {
    if (row.disabledAt !== null) return null;
    await assertAnotherActiveAdmin(tx, row, 'disabled');
    return { disabledAt: ctx.now() };
  });
}

export async function enableUser(ctx: DomainContext, id: string): Promise<User> {
  requireRole(ctx.actor, 'admin');
  return change(ctx, id, 'user.enable', async (_tx, row) => (row.disabledAt === null ? null : { disabledAt: null }));
}

/** The user must change its password before anything else works; its password stays valid for that one change. */
export async function forcePasswordReset(ctx: DomainContext, id: string): Promise<User> {
  requireRole(ctx.actor, 'admin');
  return change(ctx, id, 'user.force-password-reset', async (_tx, row) => (row.passwordChangeRequired ? null : { passwordChangeRequired: true }));
}

/**
 * Anyone changes its own password, giving the current one. Clears a forced reset; other sessions' cached
 * credentials stop working (credentialsVersion grows).
 */
export async function changeOwnPassword(ctx: DomainContext, input: { currentPassword: string; newPassword: string }): Promise<User> {
  const id = ctx.actor.userId;
  if (id === null) throw new ForbiddenError('Only a stored user has a password to change');
  const issues = passwordIssues(input.newPassword, 'newPassword');
  if (input.newPassword === input.currentPassword) issues.push({ path: 'newPassword', message: 'The new password must differ from the current one' });
  if (issues.length > 0) throw new ValidationError(issues);
  const [stored] = await ctx.db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, id));
  if (!stored || !(await verifyPassword(input.currentPassword, stored.hash))) {
    throw new ValidationError([{ path: 'currentPassword', message: 'The current password is wrong' }]);
  }
  const passwordHash = await hashPassword(input.newPassword);
  return change(ctx, id, 'user.change-password', async (_tx, row) => {
    // Changed concurrently since it was verified: refuse rather than overwrite a password nobody checked.
    if (row.passwordHash !== stored.hash) throw new ConflictError('The password changed concurrently; retry');
    return { passwordHash, passwordChangeRequired: false, credentialsVersion: row.credentialsVersion + 1 };
  });
}

/**
 * Deletes a user that owns nothing: a user who owns APIs or applications is refused with a ConflictError naming
 * them (transfer or delete them first; disabling keeps everything). Its API memberships go with it and the
 * v0.9 API keys it created are revoked.
 */
export async function deleteUser(ctx: DomainContext, id: string): Promise<User> {
  requireRole(ctx.actor, 'admin');
  return write(ctx, async (scope) => {
    const row = await lockUser(scope.tx, id);
    await assertAnotherActiveAdmin(scope.tx, row, 'deleted');
    const ownedApis = await scope.tx.select({ handle: apis.handle }).from(apis).where(eq(apis.ownerId, id)).limit(6);
    const ownedApps = await scope.tx.select({ name: applications.name }).from(applications).where(eq(applications.ownerId, id)).limit(6);
    if (ownedApis.length > 0 || ownedApps.length > 0) {
      const list = (items: string[]) => items.slice(0, 5).map((i) => `'${i}'`).join(', ') + (items.length > 5 ? ', …' : '');
      const parts = [
        ...(ownedApis.length > 0 ? [`APIs ${list(ownedApis.map((a) => a.handle))}`] : []),
        ...(ownedApps.length > 0 ? [`applications ${list(ownedApps.map((a) => a.name))}`] : []),
      ];
      throw new ConflictError(`User '${row.username}' owns ${parts.join(' and ')}: transfer or delete them first, or disable the user`);
    }
    await revokeKeysCreatedBy(scope, id, 'user deleted');
    await scope.tx.delete(users).where(eq(users.id, id));
    const user = toUser(row);
    await scope.audit({ action: 'user.delete', entityType: 'user', entityId: id, before: auditView(user) });
    return user;
  });
}
