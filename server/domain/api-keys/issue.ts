import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiKeys } from '../../db/schema/index.ts';
import { customApiKeyIssues, randomKeyName } from './validation.ts';
import type { WriteScope } from '../context.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { newId } from '../ids.ts';
import { generateApiKey, keyDigest, maskSecret } from '../secrets.ts';
import { auditView, type IssuedApiKey, keySource, toApiKey } from './model.ts';

// ---------------------------------------------------------------------------------------------------------------
// Issuing (subscriptions call it inside their own write).

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
  /** A renewal's successor keeps its predecessor's origin: a chosen id, its source and its creator. */
  successorOf?: { id: string; source: string; createdById: string | null; createdByName: string | null } | undefined;
}

/** Refuses a value some key (any owner, any status) already has: keys are unique platform-wide. */
export async function assertValueUnused(tx: Executor, digest: string, path: string): Promise<void> {
  const [hit] = await tx.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.digest, digest)).limit(1);
  if (hit) throw new ConflictError(`This API key value is already in use (${path})`);
}

/** Validates a custom value (throws ValidationError) or generates one. */
export function chooseValue(customValue: string | null | undefined, path: string): { value: string; isCustom: boolean } {
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
      id: options.successorOf?.id ?? newId('apiKey'),
      name: options.name ?? randomKeyName(),
      displayName: options.displayName ?? null,
      digest,
      masked: maskSecret(value),
      isCustom,
      expiresAt: options.expiresAt ?? null,
      apiId: owner.apiId ?? null,
      subscriptionId: owner.subscriptionId ?? null,
      applicationId: owner.applicationId ?? null,
      // v0.9 `source`: how the key came to be, kept for life (a renewal's successor inherits it).
      source: options.successorOf?.source ?? keySource(isCustom),
      createdById: options.successorOf ? options.successorOf.createdById : scope.actor.userId,
      createdByName: options.successorOf ? options.successorOf.createdByName : scope.actor.username,
      createdAt: scope.now,
      updatedAt: scope.now,
    })
    .returning();
  const key = toApiKey(row!, scope.now);
  await scope.audit({ action: 'api-key.create', entityType: 'api-key', entityId: key.id, after: auditView(key) });
  return { key, value };
}
