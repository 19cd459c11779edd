import { pgTable, text } from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.ts';

/**
 * Public facts about the keys held outside the database (never the keys): the digest key's fingerprint and the
 * secrets key's id. A row also marks its start-up conversion done (keyed digests, sealed secrets), so it never runs
 * twice, and a start with other keys fails with a clear message instead of silently breaking every key.
 */
export const platformKeys = pgTable('platform_keys', {
  /** `key_digest` or `secrets`. */
  name: text('name').primaryKey(),
  /** The digest key's fingerprint, or the secrets key's id (secret-box.ts `secretsKeyId`). */
  fingerprint: text('fingerprint').notNull(),
  updatedAt: timestamptz('updated_at')
    .notNull()
    .$defaultFn(() => new Date()),
});
