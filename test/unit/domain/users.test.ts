import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, users } from '../../../server/db/schema/index.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { assertPasswordCurrent } from '../../../server/domain/access/index.ts';
import {
  changeOwnPassword,
  deleteUser,
  disableUser,
  enableUser,
  forcePasswordReset,
  updateUserRole,
} from '../../../server/domain/user-management.ts';
import { authenticatePassword, createUser, currentActor } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

describe.each(drivers)('users domain (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let system: DomainContext;
  let root: DomainContext;
  let seq = 0;
  const as = (actor: Actor) => domainContext(database, actor);
  async function user(role: Actor['role'], password = 'initial-password'): Promise<Actor> {
    const created = await createUser(system, { username: `user-${++seq}`, password, role });
    return { userId: created.id, username: created.username, role };
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    system = domainContext(database);
    root = as(await user('admin'));
  });
  afterAll(async () => {
    await database.drop();
  });

  it('generates a password when none is given, returns it once, and requires a change at first use', async () => {
    const created = await createUser(root, { username: `gen-${++seq}`, role: 'consumer' });
    expect(created.generatedPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(created.passwordChangeRequired).toBe(true);
    const verified = await authenticatePassword(database.db, created.username, created.generatedPassword!);
    expect(verified?.id).toBe(created.id);
    const audit = await database.db.select().from(auditLog).where(eq(auditLog.entityId, created.id));
    expect(JSON.stringify(audit)).not.toContain(created.generatedPassword);
  });

  it('refuses every user operation to a non-admin with ForbiddenError', async () => {
    const pub = as(await user('publisher'));
    const target = await user('consumer');
    for (const attempt of [
      () => createUser(pub, { username: 'x-user', role: 'consumer' }),
      () => updateUserRole(pub, target.userId!, 'admin'),
      () => disableUser(pub, target.userId!),
      () => enableUser(pub, target.userId!),
      () => deleteUser(pub, target.userId!),
      () => forcePasswordReset(pub, target.userId!),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  it('changes a role, and refuses an unknown role naming the field', async () => {
    const target = await user('consumer');
    expect(await updateUserRole(root, target.userId!, 'publisher')).toMatchObject({ role: 'publisher' });
    await expect(updateUserRole(root, target.userId!, 'root' as Actor['role'])).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'role' }] });
    await expect(updateUserRole(root, 'usr_missing', 'consumer')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('never demotes, disables or deletes the last active admin', async () => {
    // A database of its own: exactly one admin.
    const alone = await openTestDatabase(driver);
    try {
      const only = await createUser(domainContext(alone), { username: 'only-admin', password: 'only-admin-pw', role: 'admin' });
      const ctx = domainContext(alone, { userId: only.id, username: only.username, role: 'admin' });
      await expect(updateUserRole(ctx, only.id, 'publisher')).rejects.toMatchObject({ code: 'CONFLICT', message: 'The last active admin cannot be demoted' });
      await expect(disableUser(ctx, only.id)).rejects.toMatchObject({ code: 'CONFLICT' });
      await expect(deleteUser(ctx, only.id)).rejects.toMatchObject({ code: 'CONFLICT' });
      // A second admin that is disabled does not count.
      const second = await createUser(ctx, { username: 'second-admin', password: 'second-admin-pw', role: 'admin' });
      await disableUser(ctx, second.id);
      await expect(disableUser(ctx, only.id)).rejects.toMatchObject({ code: 'CONFLICT' });
      await enableUser(ctx, second.id);
      expect(await updateUserRole(ctx, only.id, 'publisher')).toMatchObject({ role: 'publisher' });
    } finally {
      await alone.drop();
    }
  });

  it('a disabled user cannot authenticate and its cached credentials stop; enabling restores both', async () => {
    const target = await user('publisher', 'disable-me-pw');
    const verified = await authenticatePassword(database.db, target.username, 'disable-me-pw');
    expect(await currentActor(database.db, target.userId!, verified!.credentialsVersion)).toMatchObject({ userId: target.userId });
    await disableUser(root, target.userId!);
    expect(await authenticatePassword(database.db, target.username, 'disable-me-pw')).toBeNull();
    expect(await currentActor(database.db, target.userId!, verified!.credentialsVersion)).toBeNull();
    await enableUser(root, target.userId!);
    expect(await authenticatePassword(database.db, target.username, 'disable-me-pw')).not.toBeNull();
  });

  it('changes its own password only with the current one, within the length policy; old cached credentials stop', async () => {
    const me = await user('consumer', 'my-old-password');
    const ctx = as(me);
    const before = await authenticatePassword(database.db, me.username, 'my-old-password');
    await expect(changeOwnPassword(ctx, { currentPassword: 'wrong-password', newPassword: 'my-new-password' })).rejects.toMatchObject({
      code: 'VALIDATION',
      issues: [{ path: 'currentPassword' }],
    });
    await expect(changeOwnPassword(ctx, { currentPassword: 'my-old-password', newPassword: 'short' })).rejects.toMatchObject({
      issues: [{ path: 'newPassword' }],
    });
    await changeOwnPassword(ctx, { currentPassword: 'my-old-password', newPassword: 'my-new-password' });
    expect(await authenticatePassword(database.db, me.username, 'my-old-password')).toBeNull();
    expect(await authenticatePassword(database.db, me.username, 'my-new-password')).not.toBeNull();
    expect(await currentActor(database.db, me.userId!, before!.credentialsVersion)).toBeNull();
    const audit = await database.db.select().from(auditLog).where(eq(auditLog.entityId, me.userId!));
    expect(JSON.stringify(audit)).not.toMatch(/my-(old|new)-password|scrypt\$/);
  });

  it('a forced reset blocks the user until it changes its password', async () => {
    const me = await user('publisher', 'reset-me-password');
    await forcePasswordReset(root, me.userId!);
    const actor = (await currentActor(database.db, me.userId!, 0))!;
    expect(actor.mustChangePassword).toBe(true);
    expect(() => assertPasswordCurrent(actor)).toThrow(expect.objectContaining({ code: 'PASSWORD_CHANGE_REQUIRED' }));
    await changeOwnPassword(as(actor), { currentPassword: 'reset-me-password', newPassword: 'reset-done-password' });
    const [row] = await database.db.select().from(users).where(eq(users.id, me.userId!));
    expect(row?.passwordChangeRequired).toBe(false);
  });

  it('deletes a user who owns nothing and refuses one who owns an application, naming it', async () => {
    const loner = await user('consumer');
    expect(await deleteUser(root, loner.userId!)).toMatchObject({ id: loner.userId });
    await expect(deleteUser(root, loner.userId!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const { applications } = await import('../../../server/db/schema/index.ts');
    const owner = await user('consumer');
    await database.db.insert(applications).values({ id: `app_${seq}`, name: 'kept-app', ownerId: owner.userId! });
    await expect(deleteUser(root, owner.userId!)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining("'kept-app'") });
  });
});
