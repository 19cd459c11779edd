import { relations, sql } from 'drizzle-orm';
import { boolean, index, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { apis } from './apis.ts';
import { applications } from './applications.ts';
import { id, lifecycleDates, timestamptz } from './columns.ts';
import { subscriptions } from './subscriptions.ts';
import { users } from './users.ts';

export const apiKeyStatus = pgEnum('api_key_status', ['active', 'revoked', 'expired']);

/**
 * An API key, stored only as its SHA-256 digest and a masked form. Owned by exactly one of:
 * a subscription (exclusive key), an application (shared key), or an API (v0.9 keys).
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    name: text('name').notNull(),
    displayName: text('display_name'),
    /** Lowercase hex SHA-256 of the key; the key itself is shown once and never stored. */
    digest: text('digest').notNull(),
    /** `***` + last 5 characters, for lists. */
    masked: text('masked').notNull(),
    status: apiKeyStatus('status').notNull().default('active'),
    isCustom: boolean('is_custom').notNull().default(false),
    source: text('source').notNull().default('local'),
    expiresAt: timestamptz('expires_at'),
    revokedAt: timestamptz('revoked_at'),
    apiId: text('api_id').references(() => apis.id, { onDelete: 'cascade' }),
    subscriptionId: text('subscription_id').references(() => subscriptions.id, { onDelete: 'cascade' }),
    applicationId: text('application_id').references(() => applications.id, { onDelete: 'cascade' }),
    /** The key that replaced this one on renew; this one lives on until expires_at (grace period). */
    replacedById: text('replaced_by_id'),
    createdById: text('created_by_id').references(() => users.id, { onDelete: 'set null' }),
    createdByName: text('created_by_name'),
    ...lifecycleDates,
  },
  (t) => [
    // Gateway lookup and duplicate detection of custom values.
    uniqueIndex('api_keys_digest_key').on(t.digest),
    // v0.9 key names are unique per API among current keys (a renewed key's predecessor, still in its
    // grace period, keeps the name until it expires).
    uniqueIndex('api_keys_api_name_key')
      .on(t.apiId, t.name)
      .where(sql`${t.revokedAt} is null and ${t.replacedById} is null`),
    // An API's v0.9 keys (lists, quota per user).
    index('api_keys_api_id_idx').on(t.apiId, t.createdById),
    // A subscription's keys.
    index('api_keys_subscription_id_idx').on(t.subscriptionId),
    // An application's shared key.
    index('api_keys_application_id_idx').on(t.applicationId),
  ],
);

export const apiKeysRelations = relations(apiKeys, ({ one }) => ({
  api: one(apis, { fields: [apiKeys.apiId], references: [apis.id] }),
  subscription: one(subscriptions, { fields: [apiKeys.subscriptionId], references: [subscriptions.id] }),
  application: one(applications, { fields: [apiKeys.applicationId], references: [applications.id] }),
}));
