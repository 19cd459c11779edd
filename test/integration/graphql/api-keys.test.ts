import { encodeGlobalID } from '@pothos/plugin-relay';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../server/db/client.ts';
import { apis, users } from '../../../server/db/schema/index.ts';
import { newId } from '../../../server/domain/ids.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const pubAuth = basicAuth('pub', 'pub-password');
const aliceAuth = basicAuth('alice', 'alice-password');
const bobAuth = basicAuth('bob', 'bob-password');

type Typed = { __typename: string; [field: string]: unknown };
interface Issued {
  __typename: string;
  remainingApiKeyQuota: number;
  issued: { value: string; key: { id: string; name: string; masked: string; status: string; expiresAt: string | null } };
}

const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename
  ... on CreateApiKeyPayload { remainingApiKeyQuota issued { value key { id name masked status expiresAt } } }
  ... on Error { code message }
  ... on ValidationError { issues { path message } } } }`;
const RENEW = `mutation($input: RenewApiKeyInput!) { renewApiKey(input: $input) { __typename
  ... on RenewApiKeyPayload { issued { value key { id name masked status } } }
  ... on Error { code message }
  ... on ValidationError { issues { path } } } }`;
const REVOKE = `mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { __typename
  ... on RevokeApiKeyPayload { apiKey { id status revokedAt } } ... on Error { code } } }`;
const KEY = `query($id: ID!) { node(id: $id) { ... on ApiKey { id name masked status expiresAt replacedBy { id } } } }`;

/** Rows of a raw query on either driver (postgres.js gives an array, PGlite `{ rows }`). */
function rowsOf(result: unknown): Record<string, unknown>[] {
  return (Array.isArray(result) ? result : (result as { rows: Record<string, unknown>[] }).rows) as Record<string, unknown>[];
}

describe.each(shapeDrivers)('GraphQL API keys (%s)', (driver) => {
  let t: TestPlatform;
  let db: Database;
  let n = 0;
  const t0 = new Date('2030-06-01T00:00:00Z');
  let clock = t0;

  async function makeApi(): Promise<string> {
    const id = newId('api');
    await db.insert(apis).values({ id, handle: `gql-key-api-${++n}`, displayName: `Key Api ${n}`, version: 'v1', context: `/k${n}` });
    return encodeGlobalID('Api', id);
  }

  async function create(input: Record<string, unknown>, auth: string): Promise<Issued> {
    const res = await t.graphql<{ createApiKey: Issued }>(CREATE, { input }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.createApiKey;
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver, { settings: { apiKeyQuotaPerUser: 3, apiKeyRenewGraceSeconds: 120 } }, { now: () => clock });
    db = t.platform.database.db;
    for (const [username, role] of [
      ['pub', 'publisher'],
      ['alice', 'consumer'],
      ['bob', 'consumer'],
    ] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
        input: { username, password: `${username}-password`, role },
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('returns the value once and stores it nowhere: every text and jsonb column of every table is free of it', async () => {
    const apiId = await makeApi();
    const created = await create({ apiId, name: 'once-only', displayName: 'Once' }, aliceAuth);
    expect(created).toMatchObject({ __typename: 'CreateApiKeyPayload', remainingApiKeyQuota: 2, issued: { key: { name: 'once-only', status: 'active' } } });
    const value = created.issued.value;
    expect(value).toMatch(/^apip_[0-9a-f]{64}$/);
    expect(created.issued.key.masked).toBe(`***${value.slice(-5)}`);

    const listed = await t.graphql(`query($api: ID!) { apiKeys(apiId: $api, first: 10) { nodes { id name masked status } } } `, { api: apiId }, aliceAuth);
    const viaApi = await t.graphql(`query($id: ID!) { node(id: $id) { ... on Api { apiKeys { name masked } } } }`, { id: apiId }, aliceAuth);
    for (const res of [listed, viaApi]) {
      expect(JSON.stringify(res)).toContain(created.issued.key.masked);
      expect(JSON.stringify(res)).not.toContain(value);
    }

    const columns = rowsOf(
      await db.execute(sql`select table_name, column_name from information_schema.columns where table_schema = 'public'
        and data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY')`),
    );
    expect(columns.length).toBeGreaterThan(20);
    for (const c of columns) {
      const [row] = rowsOf(
        await db.execute(
          sql`select count(*)::int as n from ${sql.identifier(String(c.table_name))} where ${sql.identifier(String(c.column_name))}::text like ${`%${value.slice(5)}%`}`,
        ),
      );
      expect(Number(row?.n), `${String(c.table_name)}.${String(c.column_name)}`).toBe(0);
    }
  });

  it('returns ValidationError with field paths for a bad name, a bad custom value and a past expiry, writing nothing', async () => {
    const apiId = await makeApi();
    const [before] = rowsOf(await db.execute(sql`select (select count(*) from api_keys)::int as k, (select count(*) from audit_log)::int as a`));
    const res = await create({ apiId, name: 'Bad Name', apiKey: 'short', expiresAt: '2020-01-01T00:00:00Z' }, pubAuth);
    expect(res.__typename).toBe('ValidationError');
    expect((res as unknown as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual(['apiKey', 'expiresAt', 'name']);
    const unit = await create({ apiId, expiresIn: { unit: 'days', duration: 0 } }, pubAuth);
    expect(unit).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'expiresIn.duration' }] });
    const [after] = rowsOf(await db.execute(sql`select (select count(*) from api_keys)::int as k, (select count(*) from audit_log)::int as a`));
    expect(after).toEqual(before);
  });

  it('returns ConflictError for a duplicate name or custom value, and NotFoundError for an unknown API', async () => {
    const apiId = await makeApi();
    await create({ apiId, name: 'dup', apiKey: 'custom-dup-value' }, pubAuth);
    expect(await create({ apiId, name: 'dup' }, pubAuth)).toMatchObject({ __typename: 'ConflictError' });
    expect(await create({ apiId, apiKey: 'custom-dup-value' }, pubAuth)).toMatchObject({ __typename: 'ConflictError' });
    expect(await create({ apiId: encodeGlobalID('Api', 'api_missing') }, pubAuth)).toMatchObject({ __typename: 'NotFoundError' });
  });

  it('computes expiresAt from expiresIn with the platform clock', async () => {
    clock = t0;
    const created = await create({ apiId: await makeApi(), expiresIn: { unit: 'hours', duration: 2 } }, pubAuth);
    expect(created.issued.key.expiresAt).toBe('2030-06-01T02:00:00.000Z');
  });

  it('enforces the per-user quota with a clear ValidationError', async () => {
    const apiId = await makeApi();
    for (const remaining of [2, 1, 0]) expect((await create({ apiId }, bobAuth)).remainingApiKeyQuota).toBe(remaining);
    const over = await create({ apiId }, bobAuth);
    expect(over).toMatchObject({ __typename: 'ValidationError', message: expect.stringContaining('quota'), issues: [{ path: 'apiKey' }] });
    expect((await create({ apiId }, aliceAuth)).remainingApiKeyQuota).toBe(2);
  });

  it('renews with the configured grace period: the old key works until it ends, then shows expired', async () => {
    clock = t0;
    const created = await create({ apiId: await makeApi(), name: 'rotate-me' }, aliceAuth);
    const renewed = await t.graphql<{ renewApiKey: { __typename: string; issued: { value: string; key: { id: string; name: string } } } }>(
      RENEW,
      { input: { id: created.issued.key.id } },
      aliceAuth,
    );
    expect(renewed.data?.renewApiKey).toMatchObject({ __typename: 'RenewApiKeyPayload', issued: { key: { name: 'rotate-me' } } });
    expect(renewed.data?.renewApiKey.issued.value).not.toBe(created.issued.value);
    const old = await t.graphql<{ node: { status: string; expiresAt: string; replacedBy: { id: string } } }>(KEY, { id: created.issued.key.id }, aliceAuth);
    expect(old.data?.node).toMatchObject({ status: 'active', expiresAt: '2030-06-01T00:02:00.000Z', replacedBy: { id: renewed.data?.renewApiKey.issued.key.id } });
    clock = new Date(t0.getTime() + 120_000);
    const later = await t.graphql<{ node: { status: string } }>(KEY, { id: created.issued.key.id }, aliceAuth);
    expect(later.data?.node.status).toBe('expired');
    clock = t0;
    const again = await t.graphql<{ renewApiKey: Typed }>(RENEW, { input: { id: created.issued.key.id } }, aliceAuth);
    expect(again.data?.renewApiKey.__typename).toBe('InvalidTransitionError');
    const bad = await t.graphql<{ renewApiKey: Typed }>(RENEW, { input: { id: renewed.data?.renewApiKey.issued.key.id, graceSeconds: -5 } }, aliceAuth);
    expect(bad.data?.renewApiKey).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'graceSeconds' }] });
  });

  it('revokes idempotently', async () => {
    const created = await create({ apiId: await makeApi() }, pubAuth);
    const first = await t.graphql<{ revokeApiKey: { apiKey: { status: string; revokedAt: string } } }>(REVOKE, { input: { id: created.issued.key.id } }, pubAuth);
    const second = await t.graphql<{ revokeApiKey: { apiKey: { status: string; revokedAt: string } } }>(REVOKE, { input: { id: created.issued.key.id } }, pubAuth);
    expect(first.data?.revokeApiKey.apiKey.status).toBe('revoked');
    expect(second.data?.revokeApiKey.apiKey).toEqual(first.data?.revokeApiKey.apiKey);
  });

  it("keeps a consumer from reading or changing another consumer's keys", async () => {
    const apiId = await makeApi();
    const bobs = await create({ apiId }, bobAuth);
    const node = await t.graphql<{ node: unknown }>(KEY, { id: bobs.issued.key.id }, aliceAuth);
    expect(node.data?.node ?? null).toBeNull();
    const list = await t.graphql<{ apiKeys: { nodes: unknown[] } }>(`query($api: ID!) { apiKeys(apiId: $api, first: 10) { nodes { id } } }`, { api: apiId }, aliceAuth);
    expect(list.data?.apiKeys.nodes).toEqual([]);
    const revoke = await t.graphql<{ revokeApiKey: Typed }>(REVOKE, { input: { id: bobs.issued.key.id } }, aliceAuth);
    expect(revoke.data?.revokeApiKey).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const renew = await t.graphql<{ renewApiKey: Typed }>(RENEW, { input: { id: bobs.issued.key.id } }, aliceAuth);
    expect(renew.data?.renewApiKey.__typename).toBe('NotFoundError');
    const publisherList = await t.graphql<{ apiKeys: { nodes: { id: string; masked: string }[] } }>(
      `query($api: ID!) { apiKeys(apiId: $api, first: 10, status: active) { nodes { id masked } } }`,
      { api: apiId },
      pubAuth,
    );
    expect(publisherList.data?.apiKeys.nodes).toEqual([{ id: bobs.issued.key.id, masked: bobs.issued.key.masked }]);
  });

  it('writes audit entries for key changes that never hold the value', async () => {
    const created = await create({ apiId: await makeApi(), apiKey: 'audit-me-value-1' }, pubAuth);
    await t.graphql(RENEW, { input: { id: created.issued.key.id, customValue: 'audit-me-value-2' } }, pubAuth);
    const rows = rowsOf(await db.execute(sql`select coalesce(before::text, '') || coalesce(after::text, '') as body from audit_log where entity_type = 'api-key'`));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) {
      expect(String(r.body)).not.toContain('audit-me-value');
    }
    const [u] = await db.select().from(users).where(eq(users.username, 'pub'));
    expect(u).toBeDefined();
  });
});
