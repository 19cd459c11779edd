-- Data migration (hand-written): v0.9 `source` is `external` for a key whose value the client brought. Keys made
-- before it was recorded all say `local`; a custom value (is_custom) is the best evidence left of an external one.
UPDATE "api_keys" SET "source" = 'external' WHERE "is_custom" AND "source" = 'local';
