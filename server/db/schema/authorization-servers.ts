import { integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { id, lifecycleDates } from './columns.ts';

/**
 * OAuth2 authorization servers (RFC 7662 token introspection) that OAUTH2 plans refer to. The client secret is
 * kept for the gateway's introspection calls and never read back by the management API (`hasClientSecret`).
 */
export const authorizationServers = pgTable(
  'authorization_servers',
  {
    id: id(),
    name: text('name').notNull(),
    introspectionUrl: text('introspection_url').notNull(),
    clientId: text('client_id').notNull(),
    clientSecret: text('client_secret').notNull(),
    /** `token_type_hint` sent with each introspection request; null = none. */
    tokenTypeHint: text('token_type_hint'),
    timeoutMs: integer('timeout_ms').notNull().default(2000),
    maxCacheSeconds: integer('max_cache_seconds').notNull().default(300),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('authorization_servers_name_key').on(t.name)],
);
