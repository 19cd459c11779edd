import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lte, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { apiKeys, apis, subscriptions } from '../db/schema/index.ts';
import {
  apiKeyNameIssues,
  customApiKeyIssues,
  type ExpiryInput,
  generateApiKeyName,
  randomKeyName,
  resolveExpiry,
} from './api-keys-validation.ts';
import { type Actor, type DomainContext, type WriteScope, write } from './context.ts';
import { ConflictError, type FieldIssue, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from './errors.ts';
import { newId } from './ids.ts';
import { allRows, type PageArgs, selectPage } from './pagination.ts';
import { generateApiKey, keyDigest, maskSecret } from './secrets.ts';
import { isApiVisible } from './api-visibility.ts';
import { isApiManager } from './access.ts';

export type ApiKeyStatus = 'active' | 'revoked' | 'expired';
/** Who owns a key: a subscription (exclusive key), an application (shared key, seed 000) or an API (v0.9 key). */
export type ApiKeyOwner = 'subscription' | 'application' | 'api';

/** A key as everyone may see it: masked, never the value nor its digest. */
export interface ApiKey {
  id: string;
  name: string;
  displayName: string | null;
  /** `***` + last 5 characters. */
  masked: string;
  /** `expired` is computed from expiresAt against the context clock. */
  status: ApiKeyStatus;
  owner: ApiKeyOwner;
  isCustom: boolean;
  source: string;
  apiId: string | null;
  subscriptionId: string | null;
  applicationId: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** Set once renewed: the successor; this key then works until expiresAt (the grace period). */
  replacedById: string | null;
  createdById: string | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The only shape that carries a key's clear value: returned once, by the call that made the value. */
export interface IssuedApiKey {
  key: ApiKey;
  value: string;
}

/** v0.9 answers also report how many more keys the caller may create on the API. */
export interface IssuedApiKeyWithQuota extends IssuedApiKey {
  remainingApiKeyQuota: number;
}

export interface CreateApiKeyInput extends ExpiryInput {
  /** The API's id or handle. */
  apiId: string;
  name?: string | null | undefined;
  displayName?: string | null | undefined;
  /** A custom value instead of a generated one (seed 000 rules). */
  apiKey?: string | null | undefined;
}

export interface RenewApiKeyInput extends ExpiryInput {
  customValue?: string | null | undefined;
  /** How long the old value keeps working. @default ctx.settings.apiKeyRenewGraceSeconds */
  graceSeconds?: number | null | undefined;
}

export interface ApiKeyFilters {
  /** v0.9 keys of this API and keys of subscriptions to it. */
  apiId?: string | undefined;
  subscriptionId?: string | undefined;
  /** The application's shared key and its subscriptions' keys. */
  applicationId?: string | undefined;
  owner?: ApiKeyOwner | undefined;
  status?: ApiKeyStatus | undefined;
  /** v0.9 lists: "a non-admin sees its own". */
  createdById?: string | undefined;
  /** Hide keys that a renewal replaced. @default false */
  currentOnly?: boolean | undefined;
}

type KeyRow = typeof apiKeys.$inferSelect;

/** The user a key belongs to: its application's owner, or for v0.9 keys its creator. */
const ownerUserId = sql<string | null>`case
  when ${apiKeys.subscriptionId} is not null then (select a.owner_id from subscriptions s join applications a on a.id = s.application_id where s.id = ${apiKeys.subscriptionId})
  when ${apiKeys.applicationId} is not null then (select a.owner_id from applications a where a.id = ${apiKeys.applicationId})
  else ${apiKeys.createdById} end`;

export function apiKeyStatusAt(row: Pick<KeyRow, 'status' | 'revokedAt' | 'expiresAt'>, now: Date): ApiKeyStatus {
  if (row.status === 'revoked' || row.revokedAt) return 'revoked';
  if (row.status === 'expired' || (row.expiresAt && row.expiresAt.getTime() <= now.getTime())) return 'expired';
  return 'active';
}

export function toApiKey(row: KeyRow, now: Date): ApiKey {
  return {
    id: row.id,
    name: row.name,
    displayName: row.displayName,
    masked: row.masked,
    status: apiKeyStatusAt(row, now),
    owner: row.subscriptionId ? 'subscription' : row.applicationId ? 'application' : 'api',
    isCustom: row.isCustom,
    source: row.source,
    apiId: row.apiId,
    subscriptionId: row.subscriptionId,
    applicationId: row.applicationId,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    replacedById: row.replacedById,
    createdById: row.createdById,
    createdBy: row.createdByName,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What an audit entry may hold about a key: never the value, never its digest. */
function auditView(key: ApiKey): Record<string, unknown> {
  const { id, name, masked, status, owner, isCustom, apiId, subscriptionId, applicationId, expiresAt, revokedAt, replacedById } = key;
  return { id, name, masked, status, owner, isCustom, apiId, subscriptionId, applicationId, expiresAt, revokedAt, replacedById };
}

function activeCondition(now: Date): SQL {
  return and(
    eq(apiKeys.status, 'active'),
    isNull(apiKeys.revokedAt),
    or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
  ) as SQL;
}

function statusCondition(status: ApiKeyStatus, now: Date): SQL {
  if (status === 'active') return activeCondition(now);
  if (status === 'revoked') return or(eq(apiKeys.status, 'revoked'), isNotNull(apiKeys.revokedAt)) as SQL;
  return and(isNull(apiKeys.revokedAt), ne(apiKeys.status, 'revoked'), or(eq(apiKeys.status, 'expired'), lte(apiKeys.expiresAt, now))) as SQL;
}

/** Consumers see only their own keys; everyone else sees all (masked). */
function visibility(actor: Actor): SQL | undefined {
  return actor.role === 'consumer' ? sql`(${ownerUserId}) = ${actor.userId ?? ''}` : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// APIs by id or handle (v0.9 paths name the handle) and whether a consumer may see them.

export interface ApiRefRow {
  id: string;
  handle: string;
  visibility: 'public' | 'private';
  deploymentState: 'deployed' | 'undeployed';
  subscriptionPlanNames: string[];
}

/** An API by id or handle, or NotFound (also when a consumer may not see it). */
export async function findVisibleApi(ctx: DomainContext, db: Executor, ref: string): Promise<ApiRefRow> {
  const [row] = await db
    .select({
      id: apis.id,
      handle: apis.handle,
      visibility: apis.visibility,
      deploymentState: apis.deploymentState,
      subscriptionPlanNames: apis.subscriptionPlanNames,
    })
    .from(apis)
    .where(or(eq(apis.id, ref), eq(apis.handle, ref)))
    .orderBy(sql`${apis.id} = ${ref} desc`)
    .limit(1);
  if (!row || !(await isApiVisible(ctx.actor, db, row))) throw new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Issuing (used by subscriptions.ts inside its own write).

export interface KeyOwnerRef {
  subscriptionId?: string | null;
  applicationId?: string | null;
  apiId?: string | null;
}

export interface IssueKeyOptions {
  customValue?: string | null | undefined;
  name?: string | undefined;
  displayName?: string | null | undefined;
  expiresAt?: Date | null | undefined;
  /** Field path custom-value problems are reported at. @default 'customApiKey' */
  customValuePath?: string;
}

/** Refuses a value some key (any owner, any status) already has: keys are unique platform-wide. */
async function assertValueUnused(tx: Executor, digest: string, path: string): Promise<void> {
  const [hit] = await tx.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.digest, digest)).limit(1);
  if (hit) throw new ConflictError(`This API key value is already in use (${path})`);
}

/** Validates a custom value (throws ValidationError) or generates one. */
function chooseValue(customValue: string | null | undefined, path: string): { value: string; isCustom: boolean } {
  if (customValue === null || customValue === undefined) return { value: generateApiKey(), isCustom: false };
  const issues = customApiKeyIssues(customValue, path);
  if (issues.length > 0) throw new ValidationError(issues);
  return { value: customValue, isCustom: true };
}

/** Inserts a new key for `owner` in the caller's transaction and returns it with its clear value (once). */
export async function issueApiKey(scope: WriteScope, owner: KeyOwnerRef, options: IssueKeyOptions = {}): Promise<IssuedApiKey> {
  const path = options.customValuePath ?? 'customApiKey';
  const { value, isCustom } = chooseValue(options.customValue, path);
  const digest = keyDigest(scope.keys.digestKey, value);
  await assertValueUnused(scope.tx, digest, path);
  const [row] = await scope.tx
    .insert(apiKeys)
    .values({
      id: newId('apiKey'),
      name: options.name ?? randomKeyName(),
      displayName: options.displayName ?? null,
      digest,
      masked: maskSecret(value),
      isCustom,
      expiresAt: options.expiresAt ?? null,
      apiId: owner.apiId ?? null,
      subscriptionId: owner.subscriptionId ?? null,
      applicationId: owner.applicationId ?? null,
      createdById: scope.actor.userId,
      createdByName: scope.actor.username,
      createdAt: scope.now,
      updatedAt: scope.now,
    })
    .returning();
  const key = toApiKey(row!, scope.now);
  await scope.audit({ action: 'api-key.create', entityType: 'api-key', entityId: key.id, after: auditView(key) });
  return { key, value };
}

/** Revokes the not yet revoked keys matching `which`, auditing each with the reason. */
async function revokeMatching(scope: WriteScope, which: SQL | undefined, reason: string): Promise<void> {
  const revoked = await scope.tx
    .update(apiKeys)
    .set({ status: 'revoked', revokedAt: scope.now, updatedAt: scope.now })
    .where(and(which, isNull(apiKeys.revokedAt)))
    .returning();
  for (const row of revoked) {
    await scope.audit({
      action: 'api-key.revoke',
      entityType: 'api-key',
      entityId: row.id,
      before: { status: 'active', masked: row.masked },
      after: { status: 'revoked', masked: row.masked, reason },
    });
  }
}

/** Revokes the keys a subscription owns (closing or rejecting it); shared keys are left alone. */
export function revokeSubscriptionKeys(scope: WriteScope, subscriptionId: string, reason: string): Promise<void> {
  return revokeMatching(scope, eq(apiKeys.subscriptionId, subscriptionId), reason);
}

/** Revokes the v0.9 keys a user created on APIs (deleting the user): a key never outlives its holder's account. */
export function revokeKeysCreatedBy(scope: WriteScope, userId: string, reason: string): Promise<void> {
  return revokeMatching(scope, and(eq(apiKeys.createdById, userId), isNotNull(apiKeys.apiId)), reason);
}

// ---------------------------------------------------------------------------------------------------------------
// Reads.

async function findKeyRow(ctx: DomainContext, db: Executor, id: string): Promise<KeyRow> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), visibility(ctx.actor)))
    .limit(1);
  if (!row) throw new NotFoundError('ApiKey', id);
  return row;
}

export async function getApiKey(ctx: DomainContext, id: string): Promise<ApiKey> {
  return toApiKey(await findKeyRow(ctx, ctx.db, id), ctx.now());
}

export async function loadApiKeys(ctx: DomainContext, ids: readonly string[]): Promise<(ApiKey | null)[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(inArray(apiKeys.id, [...ids]), visibility(ctx.actor)));
  const now = ctx.now();
  const byId = new Map(rows.map((r) => [r.id, toApiKey(r, now)]));
  return ids.map((id) => byId.get(id) ?? null);
}

export async function listApiKeys(ctx: DomainContext, filters: ApiKeyFilters, page: PageArgs): Promise<ApiKey[]> {
  const now = ctx.now();
  const where: (SQL | undefined)[] = [visibility(ctx.actor)];
  if (filters.apiId) {
    where.push(
      or(
        eq(apiKeys.apiId, filters.apiId),
        inArray(apiKeys.subscriptionId, ctx.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.apiId, filters.apiId))),
      ),
    );
  }
  if (filters.subscriptionId) where.push(eq(apiKeys.subscriptionId, filters.subscriptionId));
  if (filters.applicationId) {
    where.push(
      or(
        eq(apiKeys.applicationId, filters.applicationId),
        inArray(
          apiKeys.subscriptionId,
          ctx.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.applicationId, filters.applicationId)),
        ),
      ),
    );
  }
  if (filters.owner === 'subscription') where.push(isNotNull(apiKeys.subscriptionId));
  if (filters.owner === 'application') where.push(isNotNull(apiKeys.applicationId));
  if (filters.owner === 'api') where.push(and(isNotNull(apiKeys.apiId), isNull(apiKeys.subscriptionId), isNull(apiKeys.applicationId)));
  if (filters.status) where.push(statusCondition(filters.status, now));
  if (filters.createdById) where.push(eq(apiKeys.createdById, filters.createdById));
  if (filters.currentOnly) where.push(isNull(apiKeys.replacedById));
  const rows = await selectPage(ctx.db, apiKeys, where, page);
  return rows.map((r) => toApiKey(r, now));
}

/**
 * Batch loader: the keys each subscription authenticates with: its own keys, plus its application's
 * shared key(s) when it uses the shared key. Same order as `subscriptionIds`.
 */
export async function listApiKeysForSubscriptions(ctx: DomainContext, subscriptionIds: readonly string[]): Promise<ApiKey[][]> {
  if (subscriptionIds.length === 0) return [];
  const subs = await ctx.db
    .select({ id: subscriptions.id, applicationId: subscriptions.applicationId, usesSharedKey: subscriptions.usesSharedKey })
    .from(subscriptions)
    .where(inArray(subscriptions.id, [...subscriptionIds]));
  const sharedApps = [...new Set(subs.filter((s) => s.usesSharedKey && s.applicationId).map((s) => s.applicationId as string))];
  const ownership = sharedApps.length > 0 ? or(inArray(apiKeys.subscriptionId, [...subscriptionIds]), inArray(apiKeys.applicationId, sharedApps)) : inArray(apiKeys.subscriptionId, [...subscriptionIds]);
  const rows = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(ownership, visibility(ctx.actor)))
    .orderBy(asc(apiKeys.id));
  const now = ctx.now();
  const subById = new Map(subs.map((s) => [s.id, s]));
  return subscriptionIds.map((id) => {
    const sub = subById.get(id);
    if (!sub) return [];
    return rows
      .filter((r) => r.subscriptionId === id || (sub.usesSharedKey && r.applicationId !== null && r.applicationId === sub.applicationId))
      .map((r) => toApiKey(r, now));
  });
}

/** Batch loader: each API's v0.9 keys (current ones, any status). */
export async function listApiKeysForApis(ctx: DomainContext, apiIds: readonly string[]): Promise<ApiKey[][]> {
  if (apiIds.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(inArray(apiKeys.apiId, [...apiIds]), isNull(apiKeys.replacedById), visibility(ctx.actor)))
    .orderBy(asc(apiKeys.id));
  const now = ctx.now();
  return apiIds.map((id) => rows.filter((r) => r.apiId === id).map((r) => toApiKey(r, now)));
}

/** Batch loader: each application's current shared key (the newest not replaced by a renewal), or null. */
export async function loadSharedKeysForApplications(ctx: DomainContext, applicationIds: readonly string[]): Promise<(ApiKey | null)[]> {
  if (applicationIds.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(inArray(apiKeys.applicationId, [...applicationIds]), isNull(apiKeys.replacedById), visibility(ctx.actor)))
    .orderBy(desc(apiKeys.id));
  const now = ctx.now();
  return applicationIds.map((id) => {
    const row = rows.find((r) => r.applicationId === id && apiKeyStatusAt(r, now) !== 'revoked') ?? rows.find((r) => r.applicationId === id);
    return row ? toApiKey(row, now) : null;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// v0.9 keys on an API.

async function countActiveOwnKeys(tx: Executor, actor: Actor, apiId: string, now: Date): Promise<number> {
  const creator = actor.userId ? eq(apiKeys.createdById, actor.userId) : isNull(apiKeys.createdById);
  const [row] = await tx
    .select({ n: count() })
    .from(apiKeys)
    .where(and(eq(apiKeys.apiId, apiId), isNull(apiKeys.subscriptionId), isNull(apiKeys.applicationId), creator, activeCondition(now)));
  return row?.n ?? 0;
}

/** How many more v0.9 keys the actor may create on the API (`remainingApiKeyQuota`). */
export async function remainingApiKeyQuota(ctx: DomainContext, apiRef: string): Promise<number> {
  const api = await findVisibleApi(ctx, ctx.db, apiRef);
  return Math.max(0, ctx.settings.apiKeyQuotaPerUser - (await countActiveOwnKeys(ctx.db, ctx.actor, api.id, ctx.now())));
}

async function nameTaken(tx: Executor, apiId: string, name: string): Promise<boolean> {
  const [hit] = await tx
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.apiId, apiId), eq(apiKeys.name, name), isNull(apiKeys.revokedAt), isNull(apiKeys.replacedById)))
    .limit(1);
  return hit !== undefined;
}

/** Creates a v0.9 key on an API (seed 002 POST /rest-apis/{id}/api-keys); any role, within the per-user quota. */
export async function createApiKey(ctx: DomainContext, input: CreateApiKeyInput): Promise<IssuedApiKeyWithQuota> {
  const now = ctx.now();
  const issues: FieldIssue[] = [];
  if (input.name !== null && input.name !== undefined) issues.push(...apiKeyNameIssues(input.name));
  if (input.displayName !== null && input.displayName !== undefined && (input.displayName.length < 1 || input.displayName.length > 100)) {
    issues.push({ path: 'displayName', message: 'displayName must be 1-100 characters' });
  }
  if (input.apiKey !== null && input.apiKey !== undefined) issues.push(...customApiKeyIssues(input.apiKey, 'apiKey'));
  const expiresAt = resolveExpiry(now, input, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return write(ctx, async (scope) => {
    const api = await findVisibleApi(ctx, scope.tx, input.apiId);
    const used = await countActiveOwnKeys(scope.tx, ctx.actor, api.id, scope.now);
    const quota = ctx.settings.apiKeyQuotaPerUser;
    if (used >= quota) {
      throw new ValidationError(
        [{ path: 'apiKey', message: `API key quota exceeded: at most ${quota} active keys per user on this API` }],
        `API key quota exceeded: at most ${quota} active keys per user on this API`,
      );
    }
    let name = input.name ?? generateApiKeyName(input.displayName);
    if (input.name) {
      // Names are unique per API (reference: UNIQUE(artifact, name)), but the message must not tell a caller
      // whose key holds it: another consumer's keys are invisible to it.
      if (await nameTaken(scope.tx, api.id, name)) throw new ConflictError(`API key name '${name}' is not available on this API; choose another name`);
    } else {
      while (await nameTaken(scope.tx, api.id, name)) name = randomKeyName();
    }
    const issued = await issueApiKey(scope, { apiId: api.id }, {
      customValue: input.apiKey,
      name,
      displayName: input.displayName ?? null,
      expiresAt,
      customValuePath: 'apiKey',
    });
    return { ...issued, remainingApiKeyQuota: quota - used - 1 };
  });
}

/** The current (not revoked, not replaced) v0.9 key of that name on the API. */
async function findNamedKey(ctx: DomainContext, tx: Executor, apiId: string, name: string): Promise<KeyRow | undefined> {
  const [row] = await tx
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.apiId, apiId), eq(apiKeys.name, name), isNull(apiKeys.revokedAt), isNull(apiKeys.replacedById), visibility(ctx.actor)))
    .limit(1);
  return row;
}

/**
 * Replaces a v0.9 key's value in place (seed 002 regenerate, and PUT with a custom value): the previous
 * value stops at once, name and creation stay. `customValue` absent = generated.
 */
export async function regenerateApiKey(
  ctx: DomainContext,
  apiRef: string,
  name: string,
  options: { customValue?: string | null | undefined } = {},
): Promise<IssuedApiKeyWithQuota> {
  const path = 'apiKey';
  const { value, isCustom } = chooseValue(options.customValue, path);
  return write(ctx, async (scope) => {
    const api = await findVisibleApi(ctx, scope.tx, apiRef);
    const row = await findNamedKey(ctx, scope.tx, api.id, name);
    if (!row) throw new NotFoundError('ApiKey', name, `API key '${name}' not found on API '${api.handle}'`);
    await assertMayChange(scope.tx, ctx.actor, row);
    const digest = keyDigest(scope.keys.digestKey, value);
    await assertValueUnused(scope.tx, digest, path);
    const before = toApiKey(row, scope.now);
    const [updated] = await scope.tx
      .update(apiKeys)
      .set({ digest, masked: maskSecret(value), isCustom, updatedAt: scope.now })
      .where(eq(apiKeys.id, row.id))
      .returning();
    const key = toApiKey(updated!, scope.now);
    await scope.audit({ action: 'api-key.regenerate', entityType: 'api-key', entityId: key.id, before: auditView(before), after: auditView(key) });
    const used = await countActiveOwnKeys(scope.tx, ctx.actor, api.id, scope.now);
    return { key, value, remainingApiKeyQuota: Math.max(0, ctx.settings.apiKeyQuotaPerUser - used) };
  });
}

/**
 * v0.9 GET /rest-apis/{id}/api-keys: the API's active v0.9 keys (current values only), masked. Only an admin
 * sees everyone's; any other caller sees the keys it created (seed 002: "a non-admin sees its own").
 */
export async function listApiKeysOfApi(ctx: DomainContext, apiRef: string): Promise<ApiKey[]> {
  const api = await findVisibleApi(ctx, ctx.db, apiRef);
  const isAdmin = ctx.actor.role === 'admin';
  if (!isAdmin && ctx.actor.userId === null) return [];
  return listApiKeys(
    ctx,
    { apiId: api.id, owner: 'api', status: 'active', currentOnly: true, createdById: isAdmin ? undefined : (ctx.actor.userId ?? undefined) },
    allRows,
  );
}

/** Revokes the v0.9 key of that name; revoking an already revoked key succeeds again (idempotent). */
export async function revokeApiKeyByName(ctx: DomainContext, apiRef: string, name: string): Promise<ApiKey> {
  const api = await findVisibleApi(ctx, ctx.db, apiRef);
  const current = await findNamedKey(ctx, ctx.db, api.id, name);
  if (current) return revokeApiKey(ctx, current.id);
  const [revoked] = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.apiId, api.id), eq(apiKeys.name, name), isNotNull(apiKeys.revokedAt), visibility(ctx.actor)))
    .orderBy(desc(apiKeys.id))
    .limit(1);
  if (!revoked) throw new NotFoundError('ApiKey', name, `API key '${name}' not found on API '${api.handle}'`);
  return toApiKey(revoked, ctx.now());
}

// ---------------------------------------------------------------------------------------------------------------
// Renew and revoke (any key).

/**
 * Seed 000: publishers may read shared keys but not renew or revoke them; other keys they change when they created
 * them or manage the key's API (owner, member). Consumers change only their own (visible) keys.
 */
async function assertMayChange(db: Executor, actor: Actor, row: KeyRow): Promise<void> {
  if (actor.role !== 'publisher') return;
  if (row.applicationId !== null) {
    throw new ForbiddenError("A shared API key can only be renewed or revoked by its application's owner");
  }
  if (row.createdById !== null && row.createdById === actor.userId) return;
  let apiId = row.apiId;
  if (apiId === null && row.subscriptionId !== null) {
    const [sub] = await db.select({ apiId: subscriptions.apiId }).from(subscriptions).where(eq(subscriptions.id, row.subscriptionId));
    apiId = sub?.apiId ?? null;
  }
  if (apiId === null || !(await isApiManager(db, actor, apiId))) {
    throw new ForbiddenError("Only the API's owner, its members and admins administer its keys");
  }
}

/**
 * Gives the key a new value as a new key row (same owner, name and display name). The old value keeps
 * working until now + grace, then stops; with no grace it is revoked at once.
 */
export async function renewApiKey(ctx: DomainContext, id: string, input: RenewApiKeyInput = {}): Promise<IssuedApiKey> {
  const now = ctx.now();
  const issues: FieldIssue[] = [];
  if (input.customValue !== null && input.customValue !== undefined) issues.push(...customApiKeyIssues(input.customValue, 'customValue'));
  const grace = input.graceSeconds ?? ctx.settings.apiKeyRenewGraceSeconds;
  if (!Number.isInteger(grace) || grace < 0 || grace > 366 * 86_400) {
    issues.push({ path: 'graceSeconds', message: 'graceSeconds must be an integer between 0 and 31622400 (366 days)' });
  }
  const requestedExpiry = resolveExpiry(now, input, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return write(ctx, async (scope) => {
    const row = await findKeyRow(ctx, scope.tx, id);
    await assertMayChange(scope.tx, ctx.actor, row);
    const status = apiKeyStatusAt(row, scope.now);
    if (status === 'revoked') throw new InvalidTransitionError('A revoked API key cannot be renewed', 'revoked', 'active');
    if (row.replacedById) throw new InvalidTransitionError('This API key was already renewed; renew its successor', 'renewed', 'active');
    const successorId = newId('apiKey');
    const graceEnd = new Date(scope.now.getTime() + grace * 1000);
    const before = toApiKey(row, scope.now);
    // The predecessor first: it gives up its name (unique among current keys) before the successor takes it.
    const [old] = await scope.tx
      .update(apiKeys)
      .set(
        grace > 0
          ? { replacedById: successorId, expiresAt: row.expiresAt && row.expiresAt < graceEnd ? row.expiresAt : graceEnd, updatedAt: scope.now }
          : { replacedById: successorId, status: 'revoked', revokedAt: scope.now, updatedAt: scope.now },
      )
      .where(eq(apiKeys.id, row.id))
      .returning();
    await scope.audit({ action: 'api-key.renew', entityType: 'api-key', entityId: row.id, before: auditView(before), after: auditView(toApiKey(old!, scope.now)) });
    const inherited = row.expiresAt && row.expiresAt > scope.now ? row.expiresAt : null;
    const { value, isCustom } = chooseValue(input.customValue, 'customValue');
    const digest = keyDigest(scope.keys.digestKey, value);
    await assertValueUnused(scope.tx, digest, 'customValue');
    const [created] = await scope.tx
      .insert(apiKeys)
      .values({
        id: successorId,
        name: row.name,
        displayName: row.displayName,
        digest,
        masked: maskSecret(value),
        isCustom,
        source: row.source,
        expiresAt: requestedExpiry ?? inherited,
        apiId: row.apiId,
        subscriptionId: row.subscriptionId,
        applicationId: row.applicationId,
        createdById: row.createdById,
        createdByName: row.createdByName,
        createdAt: scope.now,
        updatedAt: scope.now,
      })
      .returning();
    const key = toApiKey(created!, scope.now);
    await scope.audit({ action: 'api-key.create', entityType: 'api-key', entityId: key.id, after: auditView(key) });
    return { key, value };
  });
}

/**
 * Revokes a key (and any predecessor still in its renewal grace period). Idempotent: revoking a revoked
 * key returns it unchanged.
 */
export async function revokeApiKey(ctx: DomainContext, id: string): Promise<ApiKey> {
  return write(ctx, async (scope) => {
    const row = await findKeyRow(ctx, scope.tx, id);
    await assertMayChange(scope.tx, ctx.actor, row);
    if (apiKeyStatusAt(row, scope.now) === 'revoked') return toApiKey(row, scope.now);
    const chain: KeyRow[] = [];
    let ids = [row.id];
    let condition: SQL = eq(apiKeys.id, row.id);
    // The key itself, then (level by level) predecessors still within their renewal grace period.
    while (ids.length > 0) {
      const revoked = await scope.tx
        .update(apiKeys)
        .set({ status: 'revoked', revokedAt: scope.now, updatedAt: scope.now })
        .where(and(condition, isNull(apiKeys.revokedAt)))
        .returning();
      chain.push(...revoked);
      ids = revoked.map((r) => r.id);
      condition = inArray(apiKeys.replacedById, ids.length > 0 ? ids : ['']);
    }
    for (const r of chain) {
      await scope.audit({
        action: 'api-key.revoke',
        entityType: 'api-key',
        entityId: r.id,
        before: { status: 'active', masked: r.masked },
        after: { status: 'revoked', masked: r.masked },
      });
    }
    return toApiKey(chain.find((r) => r.id === row.id) ?? row, scope.now);
  });
}
