import { sql } from 'drizzle-orm';
import { check, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { id, lifecycleDates } from './columns.ts';

/**
 * Key managers: the token issuers `jwt` (v0.9 `jwt-auth`) policies name in `params.issuers`, each with the public
 * keys that sign its tokens: a JWKS URL, a PEM certificate or public key, or an inline JWK Set (exactly one).
 * docs/key-managers.md.
 */
export const keyManagers = pgTable(
  'key_managers',
  {
    id: id(),
    /** What policies refer to (immutable). */
    name: text('name').notNull(),
    /** The `iss` its tokens carry; null = any issuer its keys sign for. */
    issuer: text('issuer'),
    jwksUrl: text('jwks_url'),
    certificate: text('certificate'),
    /** An inline JWK Set (JSON text, public keys only). */
    jwks: text('jwks'),
    /** Audiences a policy naming this key manager requires when it lists none. */
    audiences: text('audiences').array().notNull().default([]),
    ...lifecycleDates,
  },
  (t) => [
    // Policies refer to key managers by name (createKeyManager's uniqueness check, keyManager(name)).
    uniqueIndex('key_managers_name_key').on(t.name),
    check('key_managers_one_key_source', sql`num_nonnulls(${t.jwksUrl}, ${t.certificate}, ${t.jwks}) = 1`),
  ],
);
