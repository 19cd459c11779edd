import { index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { id, timestamptz } from './columns.ts';

/** Every change: who, what, when, before and after (secrets never included). */
export const auditLog = pgTable(
  'audit_log',
  {
    id: id(),
    actorId: text('actor_id'),
    actorName: text('actor_name').notNull(),
    /** `<entity>.<verb>`, e.g. `plan.publish`. */
    action: text('action').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    before: jsonb('before'),
    after: jsonb('after'),
    at: timestamptz('at')
      .notNull()
      .$defaultFn(() => new Date()),
  },
  (t) => [
    // An entity's history, newest first.
    index('audit_log_entity_idx').on(t.entityType, t.entityId, t.at),
    // The audit feed in order.
    index('audit_log_at_idx').on(t.at),
  ],
);
