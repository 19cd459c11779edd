-- Data migration (hand-written): every API gets an owner. The creator recorded in the audit log when it still
-- exists as a user, otherwise the oldest admin (ids sort by creation). APIs created by the system actor have none
-- recorded and fall back to the oldest admin too. With no users at all (a fresh database) nothing is updated.
UPDATE "apis" SET "owner_id" = COALESCE(
  (SELECT "audit_log"."actor_id" FROM "audit_log"
     JOIN "users" ON "users"."id" = "audit_log"."actor_id"
    WHERE "audit_log"."action" = 'api.create' AND "audit_log"."entity_id" = "apis"."id"
    ORDER BY "audit_log"."at" LIMIT 1),
  (SELECT "users"."id" FROM "users" WHERE "users"."role" = 'admin' ORDER BY "users"."id" LIMIT 1)
) WHERE "owner_id" IS NULL;
