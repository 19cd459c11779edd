import { asc, count, eq, gt, lt, desc, and, type SQL } from 'drizzle-orm';
import { users } from '../db/schema/index.ts';
import type { Executor } from '../db/client.ts';
import { requireRole } from './access.ts';
import { type DomainContext, type Role, systemActor, write } from './context.ts';
import { ConflictError, NotFoundError, ValidationError, type FieldIssue } from './errors.ts';
import { newId } from './ids.ts';
import type { PageArgs } from './pagination.ts';
import { hashPassword, verifyPassword } from './secrets.ts';

export interface User {
  id: string;
  username: string;
  role: Role;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateUserInput {
  username: string;
  password: string;
  role: Role;
}

const usernamePattern = /^[a-zA-Z0-9._@-]{1,64}$/;
const roles: readonly Role[] = ['admin', 'publisher', 'consumer'];

function toUser(row: typeof users.$inferSelect): User {
  return { id: row.id, username: row.username, role: row.role, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

function validateUser(input: CreateUserInput): void {
  const issues: FieldIssue[] = [];
  if (!usernamePattern.test(input.username)) {
    issues.push({ path: 'username', message: 'Username must be 1-64 letters, digits, or . _ @ -' });
  }
  if (input.password.length < 8 || input.password.length > 256) {
    issues.push({ path: 'password', message: 'Password must be 8-256 characters' });
  }
  if (!roles.includes(input.role)) issues.push({ path: 'role', message: `Role must be one of ${roles.join(', ')}` });
  if (issues.length > 0) throw new ValidationError(issues);
}

async function findByUsername(db: Executor, username: string) {
  const [row] = await db.select().from(users).where(eq(users.username, username)).limit(1);
  return row;
}

/** Admins create users of any role. */
export async function createUser(ctx: DomainContext, input: CreateUserInput): Promise<User> {
  requireRole(ctx.actor, 'admin');
  validateUser(input);
  const passwordHash = await hashPassword(input.password);
  return write(ctx, async ({ tx, audit }) => {
    if (await findByUsername(tx, input.username)) {
      throw new ConflictError(`user '${input.username}' already exists`);
    }
    const [row] = await tx
      .insert(users)
      .values({ id: newId('user'), username: input.username, passwordHash, role: input.role })
      .returning();
    const user = toUser(row!);
    await audit({ action: 'user.create', entityType: 'user', entityId: user.id, after: user });
    return user;
  });
}

/** The actor for valid credentials, or null: callers answer 401 the same way for unknown user and wrong password. */
export async function authenticatePassword(db: Executor, username: string, password: string): Promise<User | null> {
  const row = await findByUsername(db, username);
  if (!row) return null;
  return (await verifyPassword(password, row.passwordHash)) ? toUser(row) : null;
}

export async function getUserByUsername(db: Executor, username: string): Promise<User | null> {
  const row = await findByUsername(db, username);
  return row ? toUser(row) : null;
}

export async function getUser(ctx: DomainContext, id: string): Promise<User> {
  if (ctx.actor.role !== 'admin' && ctx.actor.userId !== id) throw new NotFoundError('User', id);
  const [row] = await ctx.db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!row) throw new NotFoundError('User', id);
  return toUser(row);
}

export async function listUsers(ctx: DomainContext, page: PageArgs): Promise<User[]> {
  requireRole(ctx.actor, 'admin');
  const where: SQL[] = [];
  if (page.after) where.push(gt(users.id, page.after));
  if (page.before) where.push(lt(users.id, page.before));
  const rows = await ctx.db
    .select()
    .from(users)
    .where(and(...where))
    .orderBy(page.inverted ? desc(users.id) : asc(users.id))
    .limit(page.limit);
  return rows.map(toUser);
}

export type AdminBootstrap =
  | { kind: 'configured'; username: string }
  | { kind: 'generated'; username: string; password: string }
  | { kind: 'existing' };

/**
 * Start-up rule of the design brief: ADMIN_USERNAME + ADMIN_PASSWORD make that admin exist with that
 * password; with neither and no users yet, an admin with a random password is created and returned
 * (to be printed once; only its hash is stored).
 */
export async function ensureAdmin(
  ctx: Omit<DomainContext, 'actor'>,
  credentials: { username: string; password: string } | null,
  generatePassword: () => string,
): Promise<AdminBootstrap> {
  const system: DomainContext = { ...ctx, actor: systemActor };
  if (credentials) {
    const passwordHash = await hashPassword(credentials.password);
    await write(system, async ({ tx, audit }) => {
      const existing = await findByUsername(tx, credentials.username);
      if (existing) {
        await tx.update(users).set({ passwordHash, role: 'admin' }).where(eq(users.id, existing.id));
        await audit({ action: 'user.reset-admin', entityType: 'user', entityId: existing.id });
      } else {
        const id = newId('user');
        await tx.insert(users).values({ id, username: credentials.username, passwordHash, role: 'admin' });
        await audit({ action: 'user.create', entityType: 'user', entityId: id, after: { username: credentials.username, role: 'admin' } });
      }
    });
    return { kind: 'configured', username: credentials.username };
  }
  const [total] = await ctx.db.select({ n: count() }).from(users);
  if ((total?.n ?? 0) > 0) return { kind: 'existing' };
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  await write(system, async ({ tx, audit }) => {
    const id = newId('user');
    await tx.insert(users).values({ id, username: 'admin', passwordHash, role: 'admin' });
    await audit({ action: 'user.create', entityType: 'user', entityId: id, after: { username: 'admin', role: 'admin' } });
  });
  return { kind: 'generated', username: 'admin', password };
}
