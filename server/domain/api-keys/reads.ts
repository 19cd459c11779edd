import { and, asc, desc, eq, inArray, isNotNull, isNull, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiKeys, subscriptions } from '../../db/schema/index.ts';
import type { DomainContext } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { type PageArgs, selectPage } from '../pagination.ts';
import { type ApiKey, type ApiKeyFilters, type KeyRow, apiKeyStatusAt, statusCondition, toApiKey } from './model.ts';
import { apiKeysVisibleTo } from '../access/index.ts';

// ---------------------------------------------------------------------------------------------------------------
// Reads.

export async function findKeyRow(ctx: DomainContext, db: Executor, id: string): Promise<KeyRow> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), apiKeysVisibleTo(ctx.actor)))
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
    .where(and(inArray(apiKeys.id, [...ids]), apiKeysVisibleTo(ctx.actor)));
  const now = ctx.now();
  const byId = new Map(rows.map((r) => [r.id, toApiKey(r, now)]));
  return ids.map((id) => byId.get(id) ?? null);
}

export async function listApiKeys(ctx: DomainContext, filters: ApiKeyFilters, page: PageArgs): Promise<ApiKey[]> {
  const now = ctx.now();
  const where: (SQL | undefined)[] = [apiKeysVisibleTo(ctx.actor)];
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
    .where(and(ownership, apiKeysVisibleTo(ctx.actor)))
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

/** The keys (visible to the actor, not replaced by a renewal) owned by these APIs or applications. */
function currentKeysOf(ctx: DomainContext, owner: typeof apiKeys.apiId | typeof apiKeys.applicationId, ids: readonly string[], order: SQL): Promise<KeyRow[]> {
  return ctx.db
    .select()
    .from(apiKeys)
    .where(and(inArray(owner, [...ids]), isNull(apiKeys.replacedById), apiKeysVisibleTo(ctx.actor)))
    .orderBy(order);
}

/** Batch loader: each API's v0.9 keys (current ones, any status). */
export async function listApiKeysForApis(ctx: DomainContext, apiIds: readonly string[]): Promise<ApiKey[][]> {
  if (apiIds.length === 0) return [];
  const rows = await currentKeysOf(ctx, apiKeys.apiId, apiIds, asc(apiKeys.id));
  const now = ctx.now();
  return apiIds.map((id) => rows.filter((r) => r.apiId === id).map((r) => toApiKey(r, now)));
}

/** Batch loader: each application's current shared key (the newest not replaced by a renewal), or null. */
export async function loadSharedKeysForApplications(ctx: DomainContext, applicationIds: readonly string[]): Promise<(ApiKey | null)[]> {
  if (applicationIds.length === 0) return [];
  const rows = await currentKeysOf(ctx, apiKeys.applicationId, applicationIds, desc(apiKeys.id));
  const now = ctx.now();
  return applicationIds.map((id) => {
    const row = rows.find((r) => r.applicationId === id && apiKeyStatusAt(r, now) !== 'revoked') ?? rows.find((r) => r.applicationId === id);
    return row ? toApiKey(row, now) : null;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// What the subscriptions aggregate asks of keys inside its writes.

/** Which of the subscriptions own a key not yet revoked. */
export async function subscriptionsWithLiveKey(tx: Executor, subscriptionIds: readonly string[]): Promise<Set<string>> {
  if (subscriptionIds.length === 0) return new Set();
  const owned = await tx
    .select({ subscriptionId: apiKeys.subscriptionId })
    .from(apiKeys)
    .where(and(inArray(apiKeys.subscriptionId, [...subscriptionIds]), isNull(apiKeys.revokedAt)));
  return new Set(owned.map((o) => o.subscriptionId as string));
}

/** Whether the application has a current shared key (not revoked, not replaced by a renewal). */
export async function hasLiveSharedKey(tx: Executor, applicationId: string): Promise<boolean> {
  const [shared] = await tx
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.applicationId, applicationId), isNull(apiKeys.revokedAt), isNull(apiKeys.replacedById)))
    .limit(1);
  return shared !== undefined;
}
