import { asc, count, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import { importJWK, importSPKI, importX509, type JWK } from 'jose';
import type { Executor } from '../db/client.ts';
import { apiPolicies, keyManagers } from '../db/schema/index.ts';
import { isRecord } from '../json/is-record.ts';
import { policyKindOf } from '../policies/index.ts';
import { keyManagerName } from '../policies/jwt.ts';
import { authScopes, requireRole } from './access/index.ts';
import { type DomainContext, write } from './context.ts';
import { assertUniqueFree } from './db-errors.ts';
import { ConflictError, type FieldIssue, NotFoundError, assertNoIssues } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { isHttpUrl } from './http-primitives.ts';

/**
 * Key managers (the reference's gateway-level `keyManagers` of jwt-auth): a token issuer and the public keys that
 * sign its tokens, defined once and named by `jwt` / `jwt-auth` policies in `params.issuers`. Keys come from
 * exactly one source: a JWKS URL (fetched by the control plane), a PEM certificate or public key, or an inline
 * JWK Set. Public keys only: nothing here is secret. Admins manage them; docs/key-managers.md.
 */
export interface KeyManager {
  id: string;
  name: string;
  /** The `iss` its tokens must carry; null = any issuer its keys sign for. */
  issuer: string | null;
  jwksUrl: string | null;
  certificate: string | null;
  /** Inline JWK Set (JSON text). */
  jwks: string | null;
  /** Required of tokens by a policy naming this key manager and no audiences of its own. */
  audiences: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** Create: name and one key source required. Update: absent = unchanged; issuer null clears it; a key source given replaces the current one. */
export interface KeyManagerInput {
  name?: string | null | undefined;
  issuer?: string | null | undefined;
  jwksUrl?: string | null | undefined;
  certificate?: string | null | undefined;
  jwks?: string | null | undefined;
  audiences?: readonly string[] | null | undefined;
}

/** What the deployment model carries of a key manager (the translator and the JWKS resolver read it). */
export type DeployedKeyManager = Omit<KeyManager, 'id' | 'createdAt' | 'updatedAt'>;

type Row = typeof keyManagers.$inferSelect;

function toKeyManager(row: Row): KeyManager {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    jwksUrl: row.jwksUrl,
    certificate: row.certificate,
    jwks: row.jwks,
    audiences: [...row.audiences],
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

// eslint-disable-next-line no-control-regex
const printable = /^[^\x00-\x1f\x7f]+$/;
const keySources = ['jwksUrl', 'certificate', 'jwks'] as const;
/** Algorithms a PEM key may be imported for, one per key type the jwt module verifies. */
const pemAlgorithms = ['RS256', 'ES256', 'ES384', 'EdDSA'] as const;
const jwkAlgorithms: Record<string, string | undefined> = { RSA: 'RS256', OKP: 'EdDSA' };

async function certificateProblem(text: string): Promise<string | null> {
  const pem = text.trim();
  const isCertificate = pem.startsWith('-----BEGIN CERTIFICATE-----');
  if (!isCertificate && !pem.startsWith('-----BEGIN PUBLIC KEY-----')) return 'Must be a PEM certificate or public key';
  for (const alg of pemAlgorithms) {
    try {
      await (isCertificate ? importX509(pem, alg) : importSPKI(pem, alg));
      return null;
    } catch {
      // PEM does not say its key type up front: try the next one.
    }
  }
  return 'The key could not be read as an RSA, EC (P-256, P-384) or Ed25519 public key';
}

/** Problems of an inline JWK Set (or a single JWK), each with its path. */
async function jwksIssues(text: string): Promise<FieldIssue[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [{ path: 'jwks', message: 'Must be a JWK Set ({"keys": [...]}) or a JWK, as JSON' }];
  }
  const keys = isRecord(parsed) && Array.isArray(parsed.keys) ? (parsed.keys as unknown[]) : isRecord(parsed) && 'kty' in parsed ? [parsed] : null;
  if (keys === null || keys.length === 0) return [{ path: 'jwks', message: 'Must be a JWK Set ({"keys": [...]}) with at least one key, or a JWK' }];
  const issues: FieldIssue[] = [];
  const kids = new Set<string>();
  for (const [i, key] of keys.entries()) {
    const path = `jwks.keys[${i}]`;
    if (!isRecord(key)) {
      issues.push({ path, message: 'Must be a JWK' });
      continue;
    }
    // Private members and symmetric keys are secrets: a key manager holds public keys only.
    if ('d' in key || key.kty === 'oct') {
      issues.push({ path, message: 'Must be a public key (no private or symmetric keys)' });
      continue;
    }
    if (typeof key.kid === 'string') {
      if (kids.has(key.kid)) issues.push({ path: `${path}.kid`, message: `Duplicates kid '${key.kid}'` });
      kids.add(key.kid);
    }
    const alg = key.kty === 'EC' ? (key.crv === 'P-384' ? 'ES384' : 'ES256') : jwkAlgorithms[String(key.kty)];
    try {
      if (alg === undefined) throw new Error('kty');
      await importJWK({ ...(key as JWK), alg: typeof key.alg === 'string' ? key.alg : alg });
    } catch {
      issues.push({ path, message: 'Must be an RSA, EC (P-256, P-384) or Ed25519 public JWK' });
    }
  }
  return issues;
}

/** Every problem of the state a create or update would store (input may come from arbitrary JSON). */
async function validate(state: { [K in keyof KeyManagerInput]?: unknown }): Promise<FieldIssue[]> {
  const issues: FieldIssue[] = [];
  const { name, issuer, jwksUrl, certificate, jwks, audiences } = state;
  // Names travel in policy params and key-set names: the jwt kind's rule, no spaces or slashes.
  if (!keyManagerName.safeParse(name).success) issues.push({ path: 'name', message: 'Must be 1-64 letters, digits, dots, hyphens or underscores, starting with a letter or digit' });
  if (issuer != null && (typeof issuer !== 'string' || issuer.length > 2048 || !printable.test(issuer))) issues.push({ path: 'issuer', message: 'Must be 1-2048 printable characters' });
  const given = keySources.filter((k) => state[k] != null);
  if (given.length !== 1) issues.push({ path: given[1] ?? 'jwksUrl', message: 'Give exactly one of jwksUrl, certificate or jwks' });
  if (jwksUrl != null && (typeof jwksUrl !== 'string' || jwksUrl.length > 2048 || !isHttpUrl(jwksUrl))) issues.push({ path: 'jwksUrl', message: 'Must be an http(s) URL without credentials' });
  if (certificate != null) {
    const problem = typeof certificate !== 'string' || certificate.length > 16_384 ? 'Must be a PEM text of at most 16384 characters' : await certificateProblem(certificate);
    if (problem) issues.push({ path: 'certificate', message: problem });
  }
  if (jwks != null) {
    if (typeof jwks !== 'string' || jwks.length > 65_536) issues.push({ path: 'jwks', message: 'Must be a JSON text of at most 65536 characters' });
    else issues.push(...(await jwksIssues(jwks)));
  }
  if (audiences != null) {
    if (!Array.isArray(audiences) || audiences.length > 32) issues.push({ path: 'audiences', message: 'Must be a list of at most 32 audiences' });
    else audiences.forEach((a: unknown, i) => {
      if (typeof a !== 'string' || a.length === 0 || a.length > 512 || !printable.test(a)) issues.push({ path: `audiences[${i}]`, message: 'Must be 1-512 printable characters' });
    });
  }
  return issues;
}

function notFound(name: string): NotFoundError {
  return new NotFoundError('KeyManager', name, `key manager '${name}' not found`);
}

/** `jwt` attachments (either name: the canonical one or the v0.9 alias) whose `params.issuers` names `name`. */
async function referenceCount(db: Executor, name: string): Promise<number> {
  const jwtNames = or(eq(apiPolicies.name, 'jwt'), eq(apiPolicies.name, 'jwt-auth'));
  const [row] = await db
    .select({ n: count() })
    .from(apiPolicies)
    .where(sql`${jwtNames} and ${apiPolicies.params} -> 'issuers' @> jsonb_build_array(${name}::text)`);
  return row?.n ?? 0;
}

async function lockedRow(db: Executor, name: string): Promise<Row> {
  const [row] = await db.select().from(keyManagers).where(eq(keyManagers.name, name)).for('update');
  if (!row) throw notFound(name);
  return row;
}

export async function createKeyManager(ctx: DomainContext, input: KeyManagerInput): Promise<KeyManager> {
  requireRole(ctx.actor, 'admin');
  assertNoIssues(await validate(input));
  const name = input.name!;
  return write(ctx, async ({ tx, audit, now }) => {
    await assertUniqueFree(tx, keyManagers, { id: keyManagers.id, unique: keyManagers.name }, name, null, `key manager '${name}' already exists`);
    const [row] = await tx
      .insert(keyManagers)
      .values({
        id: newId('keyManager'),
        name,
        issuer: input.issuer ?? null,
        jwksUrl: input.jwksUrl ?? null,
        certificate: input.certificate ?? null,
        jwks: input.jwks ?? null,
        audiences: [...(input.audiences ?? [])],
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    const created = toKeyManager(row!);
    await audit({ action: 'key-manager.create', entityType: 'key-manager', entityId: created.id, after: created });
    return created;
  });
}

/** By name (immutable: policies refer to it). A key source given replaces the current one. */
export async function updateKeyManager(ctx: DomainContext, name: string, input: Omit<KeyManagerInput, 'name'>): Promise<KeyManager> {
  requireRole(ctx.actor, 'admin');
  return write(ctx, async ({ tx, audit, now }) => {
    const current = await lockedRow(tx, name);
    const replacesSource = keySources.some((k) => input[k] != null);
    const merged = {
      name,
      issuer: input.issuer === undefined ? current.issuer : input.issuer,
      jwksUrl: replacesSource ? (input.jwksUrl ?? null) : current.jwksUrl,
      certificate: replacesSource ? (input.certificate ?? null) : current.certificate,
      jwks: replacesSource ? (input.jwks ?? null) : current.jwks,
      audiences: input.audiences == null ? current.audiences : [...input.audiences],
    };
    assertNoIssues(await validate(merged));
    const [row] = await tx
      .update(keyManagers)
      .set({ issuer: merged.issuer, jwksUrl: merged.jwksUrl, certificate: merged.certificate, jwks: merged.jwks, audiences: merged.audiences, updatedAt: now })
      .where(eq(keyManagers.id, current.id))
      .returning();
    const after = toKeyManager(row!);
    await audit({ action: 'key-manager.update', entityType: 'key-manager', entityId: current.id, before: toKeyManager(current), after });
    return after;
  });
}

/** Refused (ConflictError) while a `jwt` policy names it in `params.issuers`. */
export async function deleteKeyManager(ctx: DomainContext, name: string): Promise<KeyManager> {
  requireRole(ctx.actor, 'admin');
  return write(ctx, async ({ tx, audit }) => {
    const current = await lockedRow(tx, name);
    const used = await referenceCount(tx, name);
    if (used > 0) throw new ConflictError(`key manager '${name}' is named by ${used} jwt policy attachment(s) and cannot be deleted`);
    await tx.delete(keyManagers).where(eq(keyManagers.id, current.id));
    const before = toKeyManager(current);
    await audit({ action: 'key-manager.delete', entityType: 'key-manager', entityId: current.id, before });
    return before;
  });
}

/** The key manager named `name`, or null. */
export async function findKeyManager(ctx: DomainContext, name: string): Promise<KeyManager | null> {
  requireRole(ctx.actor, 'admin');
  const [row] = await ctx.db.select().from(keyManagers).where(eq(keyManagers.name, name)).limit(1);
  return row ? toKeyManager(row) : null;
}

export async function listKeyManagers(ctx: DomainContext, page: PageArgs): Promise<KeyManager[]> {
  requireRole(ctx.actor, 'admin');
  const where: SQL[] = [];
  return (await selectPage(ctx.db, keyManagers, where, page)).map(toKeyManager);
}

/** Batch loader: key managers in the order of `ids`, null where missing (or for anyone but an admin). */
export async function loadKeyManagers(ctx: DomainContext, ids: readonly string[]): Promise<(KeyManager | null)[]> {
  if (ids.length === 0) return [];
  if (!authScopes(ctx.actor).admin) return ids.map(() => null);
  const rows = await ctx.db.select().from(keyManagers).where(inArray(keyManagers.id, [...new Set(ids)]));
  const byId = new Map(rows.map((r) => [r.id, toKeyManager(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** A policy attachment and where it sits (`spec.operations[0].policies[1]`). */
export interface PlacedPolicy {
  path: string;
  name: string;
  params: Record<string, unknown> | null | undefined;
}

/**
 * `params.issuers[i]` of `jwt` attachments that name no key manager. Run inside the writer's transaction: the
 * named rows are share-locked, so a concurrent delete (which locks the row for update, then counts references)
 * either waits for this write and sees its reference, or has already removed the row and this write fails.
 */
export async function unknownKeyManagerIssues(tx: Executor, policies: readonly PlacedPolicy[]): Promise<FieldIssue[]> {
  const named: { path: string; name: string }[] = [];
  for (const policy of policies) {
    const issuers = policy.params?.issuers;
    if (policyKindOf(policy.name) !== 'jwt' || !Array.isArray(issuers)) continue;
    issuers.forEach((name: unknown, i) => {
      if (typeof name === 'string') named.push({ path: `${policy.path}.params.issuers[${i}]`, name });
    });
  }
  if (named.length === 0) return [];
  const rows = await tx
    .select({ name: keyManagers.name })
    .from(keyManagers)
    .where(inArray(keyManagers.name, [...new Set(named.map((n) => n.name))]))
    .for('share');
  const found = new Set(rows.map((r) => r.name));
  return named.filter((n) => !found.has(n.name)).map((n) => ({ path: n.path, message: `No key manager named '${n.name}'` }));
}

/** Every key manager as the deployment model carries it, by name. */
export async function loadDeployedKeyManagers(db: Executor): Promise<DeployedKeyManager[]> {
  const rows = await db.select().from(keyManagers).orderBy(asc(keyManagers.name));
  return rows.map((row) => ({ name: row.name, issuer: row.issuer, jwksUrl: row.jwksUrl, certificate: row.certificate, jwks: row.jwks, audiences: [...row.audiences] }));
}
