import { relations } from 'drizzle-orm';
import { index, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { id, lifecycleDates } from './columns.ts';
import { users } from './users.ts';

export const apiKeyMode = pgEnum('api_key_mode', ['UNSPECIFIED', 'SHARED', 'EXCLUSIVE']);

export const applications = pgTable(
  'applications',
  {
    id: id(),
    name: text('name').notNull(),
    description: text('description'),
    ownerId: text('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    /** Matches the client id of JWT / OAuth2 tokens to this application. */
    clientId: text('client_id'),
    apiKeyMode: apiKeyMode('api_key_mode').notNull().default('UNSPECIFIED'),
    ...lifecycleDates,
  },
  (t) => [
    // A consumer lists its own applications.
    index('applications_owner_id_idx').on(t.ownerId),
    // Token client id -> application; unique where set.
    uniqueIndex('applications_client_id_key').on(t.clientId),
  ],
);

export const applicationsRelations = relations(applications, ({ one }) => ({
  owner: one(users, { fields: [applications.ownerId], references: [users.id] }),
}));
