import { and, asc, count, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { apiPolicies, authorizationServers, planPolicies, plans } from '../db/schema/index.ts';
import { canManageApis, requireRole } from './access/index.ts';
import { type DomainContext, write } from './context.ts';
import { assertUniqueFree } from './db-errors.ts';
import { ConflictError, type FieldIssue, NotFoundError, assertNoIssues } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import type { SecretBox } from './secret-box.ts';
import { isHttpUrl } from './http-primitives.ts';

/**
 * OAuth2 authorization servers: the RFC 7662 introspection endpoints OAUTH2 plans refer to
 * (`security.oauth2.authorizationServerId`), defined once and shared by plans. The client secret authenticates the
 * gateway's introspection calls (HTTP Basic); it is write-only: stored, shipped to the oauth2 module, never read
 * back (`hasClientSecret`), never audited. docs/authorization-servers.md.
 */
export interface AuthorizationServer {
  id: string;
  name: string;
  introspectionUrl: string;
  clientId: string;
  /** Always true: a server cannot exist without its secret. */
  hasClientSecret: true;
  /** `token_type_hint` sent with each introspection (RFC 7662 2.1); null = none. */
  tokenTypeHint: string | null;
  /** Introspection call timeout. */
  timeoutMs: number;
  /** Upper bound on how long an active introspection answer is reused (also bounded by the token's `exp`). */
  maxCacheSeconds: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Create: name, introspectionUrl, clientId, clientSecret required. Update: absent (or null) = unchanged, except
 *  tokenTypeHint where null clears it. */
export interface AuthorizationServerInput {
  name?: string | null | undefined;
  introspectionUrl?: string | null | undefined;
  clientId?: string | null | undefined;
  /** Write-only. Omit on update to keep the current secret. */
  clientSecret?: string | null | undefined;
  tokenTypeHint?: string | null | undefined;
  /** 100..30000. @default 2000 */
  timeoutMs?: number | null | undefined;
  /** 0..3600; 0 = no cache. @default 300 */
  maxCacheSeconds?: number | null | undefined;
}

export interface AuthorizationServerFilters {
  name?: string | undefined;
}

/** The stored form the deployment model ships to the gateway (with the secret). Never leaves the server side. */
export interface StoredAuthorizationServer extends Omit<AuthorizationServer, 'hasClientSecret' | 'createdAt' | 'updatedAt'> {
  clientSecret: string;
}

export const authorizationServerDefaults = { timeoutMs: 2000, maxCacheSeconds: 300 } as const;
export const authorizationServerLimits = { timeoutMs: [100, 30_000], maxCacheSeconds: [0, 3600] } as const;

type Row = typeof authorizationServers.$inferSelect;

function toServer(row: Row): AuthorizationServer {
  return {
    id: row.id,
    name: row.name,
    introspectionUrl: row.introspectionUrl,
    clientId: row.clientId,
    hasClientSecret: true,
    tokenTypeHint: row.tokenTypeHint,
    timeoutMs: row.timeoutMs,
    maxCacheSeconds: row.maxCacheSeconds,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The server as data planes need it: the client secret opened (only the deployment model calls this). */
export function toStoredAuthorizationServer(row: Row, box: SecretBox): StoredAuthorizationServer {
  return {
    id: row.id,
    name: row.name,
    introspectionUrl: row.introspectionUrl,
    clientId: row.clientId,
    clientSecret: box.open(row.clientSecret),
    tokenTypeHint: row.tokenTypeHint,
    timeoutMs: row.timeoutMs,
    maxCacheSeconds: row.maxCacheSeconds,
  };
}

// RFC 7662 2.1 / RFC 7009 4.1.2: token type hints are registered names such as access_token, refresh_token.
const tokenTypeHintPattern = /^[A-Za-z0-9._~-]{1,64}$/;
// Sent inside HTTP Basic (RFC 6749 2.3.1: form-urlencoded first), so any printable text is fine; no control characters.
// eslint-disable-next-line no-control-regex
const printable = /^[^\x00-\x1f\x7f]+$/;

/** Every problem of the merged state a create or update would store (input may come from arbitrary JSON). */
function validate(state: { [K in keyof AuthorizationServerInput]?: unknown }): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { name, introspectionUrl, clientId, clientSecret, tokenTypeHint, timeoutMs, maxCacheSeconds } = state;
  if (typeof name !== 'string' || name.trim() === '') issues.push({ path: 'name', message: 'Required, not blank' });
  else if (name.trim().length > 128) issues.push({ path: 'name', message: 'Must be at most 128 characters' });
  if (typeof introspectionUrl !== 'string' || introspectionUrl === '') issues.push({ path: 'introspectionUrl', message: 'Required' });
  else if (introspectionUrl.length > 2048 || !isHttpUrl(introspectionUrl)) {
    issues.push({ path: 'introspectionUrl', message: 'Must be an http(s) URL without credentials' });
  }
  if (typeof clientId !== 'string' || clientId === '') issues.push({ path: 'clientId', message: 'Required' });
  else if (clientId.length > 256 || !printable.test(clientId)) issues.push({ path: 'clientId', message: 'Must be 1-256 printable characters' });
  if (typeof clientSecret !== 'string' || clientSecret === '') issues.push({ path: 'clientSecret', message: 'Required' });
  else if (clientSecret.length > 1024 || !printable.test(clientSecret)) issues.push({ path: 'clientSecret', message: 'Must be 1-1024 printable characters' });
  if (tokenTypeHint != null && (typeof tokenTypeHint !== 'string' || !tokenTypeHintPattern.test(tokenTypeHint))) {
    issues.push({ path: 'tokenTypeHint', message: 'Must be a token type name such as access_token' });
  }
  const [minTimeout, maxTimeout] = authorizationServerLimits.timeoutMs;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < minTimeout || timeoutMs > maxTimeout) {
    issues.push({ path: 'timeoutMs', message: `Must be an integer from ${minTimeout} to ${maxTimeout}` });
  }
  const [minCache, maxCache] = authorizationServerLimits.maxCacheSeconds;
  if (typeof maxCacheSeconds !== 'number' || !Number.isInteger(maxCacheSeconds) || maxCacheSeconds < minCache || maxCacheSeconds > maxCache) {
    issues.push({ path: 'maxCacheSeconds', message: `Must be an integer from ${minCache} to ${maxCache}` });
  }
  return issues;
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('AuthorizationServer', id, `authorization server '${id}' not found`);
}

function assertNameFree(db: Executor, name: string, selfId: string | null): Promise<void> {
  const columns = { id: authorizationServers.id, unique: authorizationServers.name };
  return assertUniqueFree(db, authorizationServers, columns, name, selfId, `authorization server '${name}' already exists`);
}

/**
 * What refers to this server: OAUTH2 plans (any status: a closed plan can still be versioned) whose options name
 * it, and `oauth2` policy attachments (API, operation or plan) whose params do.
 */
async function references(db: Executor, id: string): Promise<{ plans: number; policies: number }> {
  // One after the other: they run on the delete's transaction connection.
  const byPlans = await db.select({ n: count() }).from(plans).where(and(eq(plans.security, 'OAUTH2'), sql`${plans.securityConfig}->>'authorizationServerId' = ${id}`));
  const byApiPolicies = await db.select({ n: count() }).from(apiPolicies).where(and(eq(apiPolicies.name, 'oauth2'), sql`${apiPolicies.params}->>'authorizationServerId' = ${id}`));
  const byPlanPolicies = await db.select({ n: count() }).from(planPolicies).where(and(eq(planPolicies.name, 'oauth2'), sql`${planPolicies.params}->>'authorizationServerId' = ${id}`));
  return { plans: byPlans[0]?.n ?? 0, policies: (byApiPolicies[0]?.n ?? 0) + (byPlanPolicies[0]?.n ?? 0) };
}

export async function createAuthorizationServer(ctx: DomainContext, input: AuthorizationServerInput): Promise<AuthorizationServer> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const state = {
    ...input,
    timeoutMs: input.timeoutMs ?? authorizationServerDefaults.timeoutMs,
    maxCacheSeconds: input.maxCacheSeconds ?? authorizationServerDefaults.maxCacheSeconds,
  };
  assertNoIssues(validate(state));
  const name = input.name!.trim();
  return write(ctx, async ({ tx, audit, now }) => {
    await assertNameFree(tx, name, null);
    const [row] = await tx
      .insert(authorizationServers)
      .values({
        id: newId('authorizationServer'),
        name,
        introspectionUrl: input.introspectionUrl!,
        clientId: input.clientId!,
        clientSecret: ctx.keys.box.seal(input.clientSecret!),
        tokenTypeHint: input.tokenTypeHint ?? null,
        timeoutMs: state.timeoutMs,
        maxCacheSeconds: state.maxCacheSeconds,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    const server = toServer(row!);
    await audit({ action: 'authorization-server.create', entityType: 'authorization-server', entityId: server.id, after: server });
    return server;
  });
}

/** Merges: absent (or null) fields keep their value; tokenTypeHint null clears it; an omitted secret is kept. */
export async function updateAuthorizationServer(ctx: DomainContext, id: string, input: AuthorizationServerInput): Promise<AuthorizationServer> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async ({ tx, audit, now }) => {
    const [current] = await tx.select().from(authorizationServers).where(eq(authorizationServers.id, id)).for('update');
    if (!current) throw notFound(id);
    const merged = {
      name: input.name ?? current.name,
      introspectionUrl: input.introspectionUrl ?? current.introspectionUrl,
      clientId: input.clientId ?? current.clientId,
      clientSecret: input.clientSecret ?? null,
      tokenTypeHint: input.tokenTypeHint === undefined ? current.tokenTypeHint : input.tokenTypeHint,
      timeoutMs: input.timeoutMs ?? current.timeoutMs,
      maxCacheSeconds: input.maxCacheSeconds ?? current.maxCacheSeconds,
    };
    // An omitted secret is kept: it is validated as given, stored sealed.
    assertNoIssues(validate({ ...merged, clientSecret: merged.clientSecret ?? 'kept' }));
    const name = merged.name.trim();
    await assertNameFree(tx, name, id);
    const clientSecret = merged.clientSecret === null ? current.clientSecret : ctx.keys.box.seal(merged.clientSecret);
    const [row] = await tx
      .update(authorizationServers)
      .set({ ...merged, clientSecret, name, updatedAt: now })
      .where(eq(authorizationServers.id, id))
      .returning();
    const before = toServer(current);
    const after = toServer(row!);
    // The secret never enters the audit log; that it changed does.
    await audit({
      action: 'authorization-server.update',
      entityType: 'authorization-server',
      entityId: id,
      before,
      after: { ...after, clientSecretChanged: merged.clientSecret !== null },
    });
    return after;
  });
}

/** Refused (ConflictError) while an OAUTH2 plan or an `oauth2` policy attachment refers to the server. */
export async function deleteAuthorizationServer(ctx: DomainContext, id: string): Promise<AuthorizationServer> {
  requireRole(ctx.actor, 'admin', 'publisher');
  return write(ctx, async ({ tx, audit }) => {
    const [current] = await tx.select().from(authorizationServers).where(eq(authorizationServers.id, id)).for('update');
    if (!current) throw notFound(id);
    const used = await references(tx, id);
    if (used.plans > 0 || used.policies > 0) {
      throw new ConflictError(
        `authorization server '${current.name}' is used by ${used.plans} OAuth2 plan(s) and ${used.policies} oauth2 policy attachment(s) and cannot be deleted`,
      );
    }
    await tx.delete(authorizationServers).where(eq(authorizationServers.id, id));
    const before = toServer(current);
    await audit({ action: 'authorization-server.delete', entityType: 'authorization-server', entityId: id, before });
    return before;
  });
}

/** Admins and publishers read authorization servers (consumers never see them). */
export async function getAuthorizationServer(ctx: DomainContext, id: string): Promise<AuthorizationServer> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const [row] = await ctx.db.select().from(authorizationServers).where(eq(authorizationServers.id, id)).limit(1);
  if (!row) throw notFound(id);
  return toServer(row);
}

export async function listAuthorizationServers(ctx: DomainContext, filters: AuthorizationServerFilters, page: PageArgs): Promise<AuthorizationServer[]> {
  requireRole(ctx.actor, 'admin', 'publisher');
  const where: SQL[] = [];
  if (filters.name !== undefined) where.push(eq(authorizationServers.name, filters.name));
  const rows = await selectPage(ctx.db, authorizationServers, where, page);
  return rows.map(toServer);
}

/** Batch loader: servers in the order of `ids`, null where missing (or when the actor may not read them). */
export async function loadAuthorizationServers(ctx: DomainContext, ids: readonly string[]): Promise<(AuthorizationServer | null)[]> {
  if (ids.length === 0) return [];
  if (!canManageApis(ctx.actor)) return ids.map(() => null);
  const rows = await ctx.db.select().from(authorizationServers).where(inArray(authorizationServers.id, [...new Set(ids)]));
  const byId = new Map(rows.map((r) => [r.id, toServer(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The ids among `ids` that name no authorization server (for plan validation). */
export async function missingAuthorizationServers(db: Executor, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.select({ id: authorizationServers.id }).from(authorizationServers).where(inArray(authorizationServers.id, [...new Set(ids)]));
  const found = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !found.has(id));
}

/** Stored servers (with secrets) by id, for the deployment model; sorted by id. */
export async function loadStoredAuthorizationServers(db: Executor, box: SecretBox, ids: readonly string[]): Promise<StoredAuthorizationServer[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select()
    .from(authorizationServers)
    .where(inArray(authorizationServers.id, [...new Set(ids)]))
    .orderBy(asc(authorizationServers.id));
  return rows.map((row) => toStoredAuthorizationServer(row, box));
}
