import { and, count, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiKeys } from '../../db/schema/index.ts';
import { apiKeyNameIssues, customApiKeyIssues, generateApiKeyName, randomKeyName, resolveExpiry } from './validation.ts';
import { type Actor, type DomainContext, write } from '../context.ts';
import { ConflictError, type FieldIssue, NotFoundError, ValidationError } from '../errors.ts';
import { allRows } from '../pagination.ts';
import { keyDigest, maskSecret } from '../secrets.ts';
import { findVisibleApi } from '../apis/visibility.ts';
import { auditView, type ApiKey, type CreateApiKeyInput, type IssuedApiKeyWithQuota, type KeyRow, keyUsableAt, toApiKey } from './model.ts';
import { assertValueUnused, chooseValue } from './issue.ts';
import { assertMayChange } from './lifecycle.ts';
import { listApiKeys } from './reads.ts';
import { issueApiKey } from './issue.ts';
import { revokeApiKey } from './lifecycle.ts';
import { apiKeysVisibleTo } from '../access/index.ts';

// ---------------------------------------------------------------------------------------------------------------
// v0.9 keys on an API.

async function countActiveOwnKeys(tx: Executor, actor: Actor, apiId: string, now: Date): Promise<number> {
  const creator = actor.userId ? eq(apiKeys.createdById, actor.userId) : isNull(apiKeys.createdById);
  const [row] = await tx
    .select({ n: count() })
    .from(apiKeys)
    .where(and(eq(apiKeys.apiId, apiId), isNull(apiKeys.subscriptionId), isNull(apiKeys.applicationId), creator, keyUsableAt(now)));
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
    .where(and(eq(apiKeys.apiId, apiId), eq(apiKeys.name, name), isNull(apiKeys.revokedAt), isNull(apiKeys.replacedById), apiKeysVisibleTo(ctx.actor)))
    .limit(1);
  return row;
}

/** The reference's words (v0.9 PUT on a generated key), kept verbatim: clients match on them. */
const onlyExternalKeysUpdatable =
  'operation not allowed: updates are only allowed for externally generated API keys. For locally generated keys, please use the regenerate endpoint to create a new key';

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
    // The reference's rule: a value we generated is replaced only by another generated one (regenerate).
    if (isCustom && row.source !== 'external') throw new ValidationError([{ path, message: onlyExternalKeysUpdatable }], onlyExternalKeysUpdatable);
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

/**
 * Revokes the v0.9 key of that name. Idempotent as the reference's revoke: a name that no key (visible to the caller)
 * holds, or a key already revoked, is a success that changes nothing (null), so a revoke tells nobody which names
 * exist. An unknown API stays the caller's NOT_FOUND.
 */
export async function revokeApiKeyByName(ctx: DomainContext, apiRef: string, name: string): Promise<ApiKey | null> {
  const api = await findVisibleApi(ctx, ctx.db, apiRef);
  const current = await findNamedKey(ctx, ctx.db, api.id, name);
  return current ? revokeApiKey(ctx, current.id) : null;
}
