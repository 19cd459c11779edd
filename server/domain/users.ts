import { and, count, eq, inArray, isNull, type SQL } from 'drizzle-orm';
import { users } from '../db/schema/index.ts';
import type { Executor } from '../db/client.ts';
import { isOwnerOrAdmin, requireRole } from './access/index.ts';
import { type Actor, type DomainContext, type Role, systemActor, write } from './context.ts';
import { ConflictError, NotFoundError, ValidationError, type FieldIssue } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { hashPassword, randomPassword, verifyPassword } from './secrets.ts';

export interface User {
  id: string;
  username: string;
  role: Role;
  /** When the user was disabled; null while it may authenticate. */
  disabledAt: Date | null;
  /** It must change its password before anything else works. */
  passwordChangeRequired: boolean;
  /** Grows with every password change (credential caches compare it). */
  credentialsVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateUserInput {
  username: string;
  /** Absent: a random password is generated, returned once, and must be changed at first use. */
  password?: string | null;
  role: Role;
}

export const roles: readonly Role[] = ['admin', 'publisher', 'consumer'];
const usernamePattern = /^[a-zA-Z0-9._@-]{1,64}$/;
/** The password policy: a length range (NIST SP 800-63B: length, not composition rules). */
export const passwordLength = { min: 8, max: 256 } as const;

type UserRow = typeof users.$inferSelect;

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    disabledAt: row.disabledAt,
    passwordChangeRequired: row.passwordChangeRequired,
    credentialsVersion: row.credentialsVersion,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit log keeps of a user: never a password or its hash. */
export function auditView(user: User): Record<string, unknown> {
  return { username: user.username, role: user.role, disabled: user.disabledAt !== null, passwordChangeRequired: user.passwordChangeRequired };
}

export function passwordIssues(password: string, path: string): FieldIssue[] {
  return password.length < passwordLength.min || password.length > passwordLength.max
    ? [{ path, message: `Password must be ${passwordLength.min}-${passwordLength.max} characters` }]
    : [];
}

export function roleIssues(role: unknown, path: string): FieldIssue[] {
  return roles.includes(role as Role) ? [] : [{ path, message: `Role must be one of ${roles.join(', ')}` }];
}

function validateUser(input: CreateUserInput): void {
  const issues: FieldIssue[] = [];
  if (!usernamePattern.test(input.username)) {
    issues.push({ path: 'username', message: 'Username must be 1-64 letters, digits, or . _ @ -' });
  }
  if (input.password !== null && input.password !== undefined) issues.push(...passwordIssues(input.password, 'password'));
  issues.push(...roleIssues(input.role, 'role'));
  if (issues.length > 0) throw new ValidationError(issues);
}

async function findByUsername(db: Executor, username: string) {
  const [row] = await db.select().from(users).where(eq(users.username, username)).limit(1);
  return row;
}

/** Admins create users of any role; with no password given, one is generated and returned here only. */
/** A created user; `generatedPassword` is the clear password when one was generated (shown once), else null. */
export type CreatedUser = User & { generatedPassword: string | null };

export async function createUser(ctx: DomainContext, input: CreateUserInput): Promise<CreatedUser> {
  requireRole(ctx.actor, 'admin');
  validateUser(input);
  const generatedPassword = input.password === null || input.password === undefined ? randomPassword() : null;
  const passwordHash = await hashPassword(generatedPassword ?? input.password!);
  return write(ctx, async ({ tx, audit }) => {
    if (await findByUsername(tx, input.username)) {
      throw new ConflictError(`user '${input.username}' already exists`);
    }
    const [row] = await tx
      .insert(users)
      // A generated password was seen by the admin: its user replaces it before doing anything else.
      .values({ id: newId('user'), username: input.username, passwordHash, role: input.role, passwordChangeRequired: generatedPassword !== null })
      .returning();
    const user = toUser(row!);
    await audit({ action: 'user.create', entityType: 'user', entityId: user.id, after: auditView(user) });
    return { ...user, generatedPassword };
  });
}

/**
 * The user for valid credentials, or null: callers answer 401 the same way for unknown user, wrong password and
 * disabled user (checked after the hash, so a disabled user costs what a wrong password does).
 */
// An unknown user name is checked against this hash (same scrypt parameters as stored ones), so it costs what a wrong
// password costs and user names cannot be told apart by timing.
let unknownUserHash: Promise<string> | null = null;

export async function authenticatePassword(db: Executor, username: string, password: string): Promise<User | null> {
  const row = await findByUsername(db, username);
  if (!row) {
    unknownUserHash ??= hashPassword(randomPassword());
    await verifyPassword(password, await unknownUserHash);
    return null;
  }
  if (!(await verifyPassword(password, row.passwordHash))) return null;
  return row.disabledAt === null ? toUser(row) : null;
}

/** The actor a user acts as, or null when it may not act at all (disabled). */
export function actorOf(user: User): Actor | null {
  if (user.disabledAt !== null) return null;
  return { userId: user.id, username: user.username, role: user.role, mustChangePassword: user.passwordChangeRequired };
}

/**
 * The hook for credential caches: the actor of a user verified earlier, as it is now (role, forced reset), or null
 * once it was disabled or deleted or its password changed since (`credentialsVersion` grew): re-verify then.
 */
export async function currentActor(db: Executor, userId: string, credentialsVersion: number): Promise<Actor | null> {
  const [row] = await db.select().from(users).where(and(eq(users.id, userId), isNull(users.disabledAt))).limit(1);
  if (!row || row.credentialsVersion !== credentialsVersion) return null;
  return actorOf(toUser(row));
}

export async function getUserByUsername(db: Executor, username: string): Promise<User | null> {
  const row = await findByUsername(db, username);
  return row ? toUser(row) : null;
}

/** Admins read anyone; others only themselves (anyone else is NotFound). */
export async function getUser(ctx: DomainContext, id: string): Promise<User> {
  if (!isOwnerOrAdmin(ctx.actor, id)) throw new NotFoundError('User', id);
  const [row] = await ctx.db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!row) throw new NotFoundError('User', id);
  return toUser(row);
}

/** Batch loader: users in the order of `ids`, null where missing. Callers pass ids of users the actor may see. */
export async function loadUsersById(db: Executor, ids: readonly string[]): Promise<(User | null)[]> {
  if (ids.length === 0) return [];
  const rows = await db.select().from(users).where(inArray(users.id, [...new Set(ids)]));
  const byId = new Map(rows.map((r) => [r.id, toUser(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

export async function listUsers(ctx: DomainContext, page: PageArgs): Promise<User[]> {
  requireRole(ctx.actor, 'admin');
  const where: SQL[] = [];
  const rows = await selectPage(ctx.db, users, where, page);
  return rows.map(toUser);
}

export type AdminBootstrap =
  | { kind: 'configured'; username: string }
  | { kind: 'generated'; username: string; password: string }
  | { kind: 'existing' };

/**
 * Start-up rule of the design brief: ADMIN_USERNAME + ADMIN_PASSWORD make that admin exist with that
 * password (enabled); with neither and no users yet, an admin with a random password is created and returned
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
        await tx
          .update(users)
          .set({ passwordHash, role: 'admin', disabledAt: null, credentialsVersion: existing.credentialsVersion + 1 })
          .where(eq(users.id, existing.id));
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
