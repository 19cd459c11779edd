import { boolean, integer, pgEnum, pgTable, text } from 'drizzle-orm/pg-core';
import { id, lifecycleDates, timestamptz } from './columns.ts';

export const userRole = pgEnum('user_role', ['admin', 'publisher', 'consumer']);

export const users = pgTable('users', {
  id: id(),
  username: text('username').notNull().unique(),
  /** scrypt hash in PHC-like form `scrypt$N$r$p$salt$hash`; never the password. */
  passwordHash: text('password_hash').notNull(),
  role: userRole('role').notNull(),
  /** Set while the user is disabled: it cannot authenticate by any means. */
  disabledAt: timestamptz('disabled_at'),
  /** The user must change its password before anything else works (forcePasswordReset, generated passwords). */
  passwordChangeRequired: boolean('password_change_required').notNull().default(false),
  /** Grows with every password change, so a credential cache never outlives the password it verified. */
  credentialsVersion: integer('credentials_version').notNull().default(0),
  ...lifecycleDates,
});
