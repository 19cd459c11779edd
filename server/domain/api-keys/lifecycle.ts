import { and, eq, inArray, isNotNull, isNull, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiKeys, subscriptions } from '../../db/schema/index.ts';
import { customApiKeyIssues, resolveExpiry } from './validation.ts';
import { type Actor, type DomainContext, type WriteScope, write } from '../context.ts';
import { type FieldIssue, ForbiddenError, InvalidTransitionError, ValidationError } from '../errors.ts';
import { newId } from '../ids.ts';
import { isApiManager } from '../access/index.ts';
import { auditView, type ApiKey, type IssuedApiKey, type KeyRow, type RenewApiKeyInput, apiKeyStatusAt, toApiKey } from './model.ts';
import { issueApiKey } from './issue.ts';
import { findKeyRow } from './reads.ts';

/** Revokes the not yet revoked keys matching `which`, auditing each with the reason. */
async function revokeMatching(scope: WriteScope, which: SQL | undefined, reason: string): Promise<void> {
  await auditRevocations(scope, await revokeRows(scope, which), reason);
}

/** Revokes the not yet revoked keys matching `which` and returns them. */
function revokeRows(scope: WriteScope, which: SQL | undefined): Promise<KeyRow[]> {
  return scope.tx
    .update(apiKeys)
    .set({ status: 'revoked', revokedAt: scope.now, updatedAt: scope.now })
    .where(and(which, isNull(apiKeys.revokedAt)))
    .returning();
}

async function auditRevocations(scope: WriteScope, revoked: readonly KeyRow[], reason?: string): Promise<void> {
  for (const row of revoked) {
    await scope.audit({
      action: 'api-key.revoke',
      entityType: 'api-key',
      entityId: row.id,
      before: { status: 'active', masked: row.masked },
      after: reason === undefined ? { status: 'revoked', masked: row.masked } : { status: 'revoked', masked: row.masked, reason },
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
// Renew and revoke (any key).

/**
 * Seed 000: publishers may read shared keys but not renew or revoke them; other keys they change when they created
 * them or manage the key's API (owner, member). Consumers change only their own (visible) keys.
 */
export async function assertMayChange(db: Executor, actor: Actor, row: KeyRow): Promise<void> {
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
    return issueApiKey(scope, { apiId: row.apiId, subscriptionId: row.subscriptionId, applicationId: row.applicationId }, {
      customValue: input.customValue,
      customValuePath: 'customValue',
      name: row.name,
      displayName: row.displayName,
      expiresAt: requestedExpiry ?? inherited,
      successorOf: { id: successorId, source: row.source, createdById: row.createdById, createdByName: row.createdByName },
    });
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
      const revoked = await revokeRows(scope, condition);
      chain.push(...revoked);
      ids = revoked.map((r) => r.id);
      condition = inArray(apiKeys.replacedById, ids.length > 0 ? ids : ['']);
    }
    await auditRevocations(scope, chain);
    return toApiKey(chain.find((r) => r.id === row.id) ?? row, scope.now);
  });
}

/** Revokes the keys the subscriptions own (closing a plan closes them all at once); shared keys are left alone. */
export function revokeKeysOfSubscriptions(scope: WriteScope, subscriptionIds: readonly string[], reason: string): Promise<void> {
  return revokeMatching(scope, inArray(apiKeys.subscriptionId, [...subscriptionIds]), reason);
}

/**
 * Seed 000: when the application chooses SHARED, the live key of its first API-key subscription becomes the
 * application's shared key (same value, now owned by the application).
 */
export async function shareSubscriptionKey(scope: WriteScope, subscriptionId: string, applicationId: string): Promise<void> {
  const moved = await scope.tx
    .update(apiKeys)
    .set({ subscriptionId: null, applicationId, updatedAt: scope.now })
    .where(and(eq(apiKeys.subscriptionId, subscriptionId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id, masked: apiKeys.masked });
  for (const key of moved) {
    await scope.audit({
      action: 'api-key.share',
      entityType: 'api-key',
      entityId: key.id,
      before: { owner: 'subscription', subscriptionId, masked: key.masked },
      after: { owner: 'application', applicationId, masked: key.masked },
    });
  }
}

/** Deletes the API's v0.9 keys (deleting the API; its subscriptions' keys go with the subscriptions). */
export async function deleteApiKeysOfApi(scope: WriteScope, apiId: string): Promise<void> {
  await scope.tx.delete(apiKeys).where(eq(apiKeys.apiId, apiId));
}
