import { pgEnum, pgTable, text } from 'drizzle-orm/pg-core';
import { id, lifecycleDates } from './columns.ts';

export const userRole = pgEnum('user_role', ['admin', 'publisher', 'consumer']);

export const users = pgTable('users', {
  id: id(),
  username: text('username').notNull().unique(),
  /** scrypt hash in PHC-like form `scrypt$N$r$p$salt$hash`; never the password. */
  passwordHash: text('password_hash').notNull(),
  role: userRole('role').notNull(),
  ...lifecycleDates,
});
