import { and, eq, ilike, inArray, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { applications, subscriptions, users } from '../db/schema/index.ts';
import { applicationsVisibleTo, canSeeOwned, isOwnerOrAdmin } from './access/index.ts';
import { type DomainContext, type WriteScope, write } from './context.ts';
import { type FieldIssue, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { loadUsersById, type User } from './users.ts';
import { assertUniqueFree, conflictOnUniqueViolation } from './db-errors.ts';

export const apiKeyModes = ['UNSPECIFIED', 'SHARED', 'EXCLUSIVE'] as const;
/** Seed 000: chosen at the application's second API-key subscription, then fixed. */
export type ApiKeyMode = (typeof apiKeyModes)[number];

export interface Application {
  id: string;
  name: string;
  description: string | null;
  ownerId: string;
  /** Client id of JWT / OAuth2 tokens that identify this application; unique where set. */
  clientId: string | null;
  apiKeyMode: ApiKeyMode;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateApplicationInput {
  name: string;
  description?: string | null | undefined;
  clientId?: string | null | undefined;
  /** Admins only; others own what they create. @default the actor */
  ownerId?: string | null | undefined;
  /** @default 'UNSPECIFIED' */
  apiKeyMode?: ApiKeyMode | null | undefined;
}

/** Absent fields are left as they are; `null` clears description and clientId. */
export type UpdateApplicationInput = Partial<Omit<CreateApplicationInput, 'name'>> & { name?: string | null | undefined };

export interface ApplicationFilters {
  /** Case-insensitive substring of the name. */
  name?: string | null | undefined;
  ownerId?: string | null | undefined;
}

type ApplicationRow = typeof applications.$inferSelect;

/** The table's columns are the model's fields one for one (rows come from whole-table selects only). */
function toApplication(row: ApplicationRow): Application {
  return { ...row };
}

// Client ids are matched against token claims byte for byte; no whitespace keeps that unambiguous.
const clientIdPattern = /^[\x21-\x7e]{1,255}$/;

function validate(input: UpdateApplicationInput, issues: FieldIssue[]): void {
  if (input.name != null && (input.name.trim() === '' || input.name.length > 128)) issues.push({ path: 'name', message: 'Name must be 1-128 characters, not blank' });
  if (input.description != null && input.description.length > 2000) issues.push({ path: 'description', message: 'Description must be at most 2000 characters' });
  if (input.clientId != null && !clientIdPattern.test(input.clientId)) {
    issues.push({ path: 'clientId', message: 'Client id must be 1-255 printable ASCII characters without spaces' });
  }
  if (input.apiKeyMode != null && !apiKeyModes.includes(input.apiKeyMode)) issues.push({ path: 'apiKeyMode', message: `Must be one of ${apiKeyModes.join(', ')}` });
}

function withUniqueClientId<T>(clientId: string | null | undefined, work: () => Promise<T>): Promise<T> {
  return conflictOnUniqueViolation(work, `An application with client id '${clientId ?? ''}' already exists`);
}

async function assertClientIdFree(tx: Executor, clientId: string | null | undefined, exceptId: string | null): Promise<void> {
  if (clientId == null) return;
  const columns = { id: applications.id, unique: applications.clientId };
  await assertUniqueFree(tx, applications, columns, clientId, exceptId, `An application with client id '${clientId}' already exists`);
}

async function assertUserExists(tx: Executor, userId: string): Promise<void> {
  const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).limit(1);
  if (!user) throw new NotFoundError('User', userId);
}

/** Any authenticated user creates applications it owns; admins may create them for someone else. */
export async function createApplication(ctx: DomainContext, input: CreateApplicationInput): Promise<Application> {
  const issues: FieldIssue[] = [];
  if (input.name == null) issues.push({ path: 'name', message: 'Required' });
  validate(input, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  const ownerId = input.ownerId ?? ctx.actor.userId;
  if (ownerId === null) throw new ValidationError([{ path: 'ownerId', message: 'Required when acting as the system' }]);
  if (!isOwnerOrAdmin(ctx.actor, ownerId)) throw new ForbiddenError('Only admins may create applications for another user');
  return withUniqueClientId(input.clientId, () =>
    write(ctx, async ({ tx, audit }) => {
      await assertUserExists(tx, ownerId);
      await assertClientIdFree(tx, input.clientId, null);
      const [row] = await tx
        .insert(applications)
        .values({
          id: newId('application'),
          name: input.name.trim(),
          description: input.description ?? null,
          ownerId,
          clientId: input.clientId ?? null,
          apiKeyMode: input.apiKeyMode ?? 'UNSPECIFIED',
        })
        .returning();
      const application = toApplication(row!);
      await audit({ action: 'application.create', entityType: 'application', entityId: application.id, after: application });
      return application;
    }),
  );
}

/** Batch loader: applications in the order of `ids`, null where missing or another consumer's. */
export async function loadApplications(ctx: DomainContext, ids: readonly string[]): Promise<(Application | null)[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.db.select().from(applications).where(inArray(applications.id, [...new Set(ids)]));
  const byId = new Map(rows.filter((r) => canSeeOwned(ctx.actor, r.ownerId)).map((r) => [r.id, toApplication(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

export async function getApplication(ctx: DomainContext, id: string): Promise<Application> {
  const [application] = await loadApplications(ctx, [id]);
  if (!application) throw new NotFoundError('Application', id);
  return application;
}

/** Consumers list their own applications only; an `ownerId` filter of someone else gives an empty page. */
export async function listApplications(ctx: DomainContext, filters: ApplicationFilters, page: PageArgs): Promise<Application[]> {
  const where: (SQL | undefined)[] = [];
  where.push(applicationsVisibleTo(ctx.actor));
  if (filters.ownerId != null) where.push(eq(applications.ownerId, filters.ownerId));
  if (filters.name != null && filters.name !== '') where.push(ilike(applications.name, `%${filters.name.replace(/[\\%_]/g, '\\$&')}%`));
  const rows = await selectPage(ctx.db, applications, where, page);
  return rows.map(toApplication);
}

/** Batch loader for `Application.owner`: users in the order of `ids` (callers pass owners of applications the actor sees). */
export function loadApplicationOwners(ctx: DomainContext, ids: readonly string[]): Promise<(User | null)[]> {
  return loadUsersById(ctx.db, ids);
}

/**
 * Locks and returns an application the actor may change: another consumer's is NotFound (no leak),
 * a visible one the actor does not own is Forbidden unless the actor is an admin.
 */
async function lockOwned(scope: WriteScope, id: string): Promise<Application> {
  const [row] = await scope.tx.select().from(applications).where(eq(applications.id, id)).for('update');
  if (!row || !canSeeOwned(scope.actor, row.ownerId)) throw new NotFoundError('Application', id);
  if (!isOwnerOrAdmin(scope.actor, row.ownerId)) throw new ForbiddenError('Only the owner or an admin may change this application');
  return toApplication(row);
}

export async function updateApplication(ctx: DomainContext, id: string, input: UpdateApplicationInput): Promise<Application> {
  const issues: FieldIssue[] = [];
  validate(input, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return withUniqueClientId(input.clientId, () =>
    write(ctx, async (scope) => {
      const before = await lockOwned(scope, id);
      if (input.ownerId != null && input.ownerId !== before.ownerId) {
        if (scope.actor.role !== 'admin') throw new ForbiddenError('Only admins may change the owner of an application');
        await assertUserExists(scope.tx, input.ownerId);
      }
      if (input.apiKeyMode != null && input.apiKeyMode !== before.apiKeyMode && before.apiKeyMode !== 'UNSPECIFIED') {
        throw new InvalidTransitionError(`The API key mode is ${before.apiKeyMode} and cannot be changed`, before.apiKeyMode, input.apiKeyMode);
      }
      await assertClientIdFree(scope.tx, input.clientId, id);
      const [row] = await scope.tx
        .update(applications)
        .set({
          ...(input.name != null ? { name: input.name.trim() } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.clientId !== undefined ? { clientId: input.clientId } : {}),
          ...(input.ownerId != null ? { ownerId: input.ownerId } : {}),
          ...(input.apiKeyMode != null ? { apiKeyMode: input.apiKeyMode } : {}),
          updatedAt: scope.now,
        })
        .where(eq(applications.id, id))
        .returning();
      const after = toApplication(row!);
      await scope.audit({ action: 'application.update', entityType: 'application', entityId: id, before, after });
      return after;
    }),
  );
}

/**
 * For the subscriptions module, inside its transaction: fixes the application's API-key mode at the second
 * API-key subscription. Setting the mode it already has is a no-op; changing a chosen mode is refused.
 */
export async function setApiKeyMode(scope: WriteScope, applicationId: string, mode: Exclude<ApiKeyMode, 'UNSPECIFIED'>): Promise<Application> {
  const [row] = await scope.tx.select().from(applications).where(eq(applications.id, applicationId)).for('update');
  if (!row) throw new NotFoundError('Application', applicationId);
  const before = toApplication(row);
  if (before.apiKeyMode === mode) return before;
  if (before.apiKeyMode !== 'UNSPECIFIED' || !apiKeyModes.includes(mode) || (mode as ApiKeyMode) === 'UNSPECIFIED') {
    throw new InvalidTransitionError(`The API key mode is ${before.apiKeyMode} and cannot become ${mode}`, before.apiKeyMode, mode);
  }
  const [updated] = await scope.tx.update(applications).set({ apiKeyMode: mode, updatedAt: scope.now }).where(eq(applications.id, applicationId)).returning();
  const after = toApplication(updated!);
  await scope.audit({ action: 'application.set-api-key-mode', entityType: 'application', entityId: applicationId, before, after });
  return after;
}

/**
 * Deletes an application; its subscriptions and keys go with it (foreign-key cascade). Refused while a
 * subscription is ACCEPTED, so live traffic is not cut off by accident, unless `force`.
 */
export async function deleteApplication(ctx: DomainContext, id: string, options: { force?: boolean } = {}): Promise<Application> {
  return write(ctx, async (scope) => {
    const before = await lockOwned(scope, id);
    if (!options.force) {
      const [accepted] = await scope.tx
        .select({ id: subscriptions.id })
        .from(subscriptions)
        .where(and(eq(subscriptions.applicationId, id), eq(subscriptions.status, 'ACCEPTED')))
        .limit(1);
      if (accepted) throw new InvalidTransitionError('The application has accepted subscriptions; close them or delete with force', 'ACCEPTED');
    }
    await scope.tx.delete(applications).where(eq(applications.id, id));
    await scope.audit({ action: 'application.delete', entityType: 'application', entityId: id, before });
    return before;
  });
}
