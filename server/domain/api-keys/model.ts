import { and, eq, gt, isNotNull, isNull, lte, ne, or, type SQL } from 'drizzle-orm';
import { apiKeys } from '../../db/schema/index.ts';
import type { ExpiryInput } from './validation.ts';

export type ApiKeyStatus = 'active' | 'revoked' | 'expired';
/** v0.9 `source`: `external` when the client brought the value (a custom `apiKey`), `local` when we generated it. */
export type ApiKeySource = 'local' | 'external';

/** The source a new key gets; it never changes afterwards (regenerating an external key keeps it external). */
export function keySource(isCustom: boolean): ApiKeySource {
  return isCustom ? 'external' : 'local';
}
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

export type KeyRow = typeof apiKeys.$inferSelect;

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
export function auditView(key: ApiKey): Record<string, unknown> {
  const { id, name, masked, status, owner, isCustom, apiId, subscriptionId, applicationId, expiresAt, revokedAt, replacedById } = key;
  return { id, name, masked, status, owner, isCustom, apiId, subscriptionId, applicationId, expiresAt, revokedAt, replacedById };
}

/** "Key usable now": neither revoked nor expired at `now`. The one definition, for lists, quotas and the data plane. */
export function keyUsableAt(now: Date): SQL {
  return and(
    eq(apiKeys.status, 'active'),
    isNull(apiKeys.revokedAt),
    or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
  ) as SQL;
}

export function statusCondition(status: ApiKeyStatus, now: Date): SQL {
  if (status === 'active') return keyUsableAt(now);
  if (status === 'revoked') return or(eq(apiKeys.status, 'revoked'), isNotNull(apiKeys.revokedAt)) as SQL;
  return and(isNull(apiKeys.revokedAt), ne(apiKeys.status, 'revoked'), or(eq(apiKeys.status, 'expired'), lte(apiKeys.expiresAt, now))) as SQL;
}

