import { type AnyPgColumn, text, timestamp } from 'drizzle-orm/pg-core';

/** Primary key: a prefixed, time-sortable id from server/domain/ids.ts, set by the domain. */
export const id = () => text('id').primaryKey();

/** created_at / updated_at, both set by drizzle so every driver behaves the same. */
export const lifecycleDates = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .$defaultFn(() => new Date()),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .$defaultFn(() => new Date())
    .$onUpdateFn(() => new Date()),
};

/** A required reference to the row this one belongs to: deleting that row deletes this one. */
export const belongsTo = (name: string, parent: () => AnyPgColumn) => text(name).notNull().references(parent, { onDelete: 'cascade' });

export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
