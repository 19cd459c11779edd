import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivers } from '../helpers/database.ts';
import { must, createApi, createApplication, createPlan, subscribe } from '../helpers/plans-traffic.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { restClient } from '../helpers/rest.ts';
import { seedRestApi } from '../helpers/rest-seed.ts';

// Acceptance of issue 10 item 3 (docs/security.md#secrets-at-rest): after every kind of secret was created through
// GraphQL and REST, no table holds a clear secret anywhere, and no hash or digest outside the one column meant for it.

const marker = `${Date.now().toString(36)}Zq`;
const secrets = {
  authorizationServerSecret: `as-client-secret-${marker}`,
  inlineOAuth2Secret: `inline-client-secret-${marker}`,
  hmacJwtKey: `hmac-jwt-key-material-0123456789-${marker}`,
  graphqlBasicAuthPassword: `gql-basic-password-${marker}`,
  restBasicAuthPassword: `rest-basic-password-${marker}`,
  planBasicAuthPassword: `plan-basic-password-${marker}`,
  userPassword: `user-password-${marker}`,
  customRestKey: `custom-rest-key-${marker}`,
  subscriptionToken: `v09-subscription-token-${marker}`,
};

const b64url = (text: string) => Buffer.from(text).toString('base64url');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Every text, varchar and json(b) value of every table, as `table.column` with the value as text. */
async function everyTextValue(t: TestPlatform): Promise<{ at: string; value: string }[]> {
  const db = t.platform.database.db;
  const columns = (await db.execute(sql`select table_name, column_name from information_schema.columns
    where table_schema = 'public' and data_type in ('text', 'character varying', 'json', 'jsonb', 'ARRAY')`)) as unknown;
  const rows = (Array.isArray(columns) ? columns : (columns as { rows: unknown[] }).rows) as { table_name: string; column_name: string }[];
  const out: { at: string; value: string }[] = [];
  for (const { table_name: table, column_name: column } of rows) {
    const result = (await db.execute(sql.raw(`select "${column}"::text as v from "${table}" where "${column}" is not null`))) as unknown;
    const values = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { v: string }[];
    for (const { v } of values) out.push({ at: `${table}.${column}`, value: v });
  }
  return out;
}

describe.each(drivers)('secrets at rest (%s)', (driver) => {
  let t: TestPlatform;
  const issuedKeys: string[] = [];

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    const rest = restClient(t);
    // GraphQL: an authorization server, OAuth2 (inline) and HS256 JWT plans, a basic-auth API and plan, an API-key
    // plan with a subscriber's key, a user with a password.
    await must(t, 'createAuthorizationServer', 'CreateAuthorizationServerInput', 'authorizationServer { id }', {
      name: 'idp', introspectionUrl: 'https://idp.example.test/introspect', clientId: 'gw', clientSecret: secrets.authorizationServerSecret,
    });
    const apiId = await createApi(t, 'vault', {
      context: '/vault', upstreamUrl: 'http://127.0.0.1:9',
      operations: [{ method: 'GET', path: '/items', policies: [{ name: 'basic-auth', version: 'v1', params: { users: [{ username: 'ops', password: secrets.graphqlBasicAuthPassword }] } }] }],
    });
    await createPlan(t, apiId, 'Inline', { type: 'OAUTH2', oauth2: { introspectionUrl: 'https://idp.example.test/i', clientId: 'gw', clientSecret: secrets.inlineOAuth2Secret } });
    await createPlan(t, apiId, 'Hmac', {
      type: 'JWT',
      jwt: { signatureAlgorithms: ['HS256'], keyResolver: 'GIVEN_KEY', givenKey: JSON.stringify({ kty: 'oct', k: b64url(secrets.hmacJwtKey) }) },
    }, { publish: false });
    const keyed = await createPlan(t, apiId, 'Keyed', { type: 'API_KEY' }, {
      policies: [{ name: 'basic-auth', version: 'v1', params: { users: [{ username: 'plan-user', password: secrets.planBasicAuthPassword }] } }],
    });
    const exclusive = await createApplication(t, 'exclusive', { apiKeyMode: 'EXCLUSIVE' });
    const shared = await createApplication(t, 'shared', { apiKeyMode: 'SHARED' });
    for (const application of [exclusive, shared]) {
      const sub = await subscribe(t, application, keyed);
      if (sub.key) issuedKeys.push(sub.key);
    }
    await must(t, 'createUser', 'CreateUserInput', 'user { id }', { username: 'carol', password: secrets.userPassword, role: 'consumer' });

    // REST: an API with a basic-auth policy, its v0.9 keys (generated and custom) and a v0.9 subscription token.
    const spec = { ...structuredClone(seedRestApi.spec), policies: [{ name: 'basic-auth', version: 'v1', params: { users: [{ username: 'ops', password: secrets.restBasicAuthPassword }] } }] };
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'rest-vault' }, spec })).status).toBe(201);
    const generated = await rest.post<{ apiKey: { apiKey: string } }>('/rest-apis/rest-vault/api-keys', {});
    expect(generated.status).toBe(201);
    issuedKeys.push(generated.body.apiKey.apiKey);
    expect((await rest.post('/rest-apis/rest-vault/api-keys', { apiKey: secrets.customRestKey })).status).toBe(201);
    expect((await rest.post('/subscriptions', { apiId: 'rest-vault', subscriptionToken: secrets.subscriptionToken })).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('finds no clear secret, key or password in any column of any table', async () => {
    const values = await everyTextValue(t);
    expect(values.length).toBeGreaterThan(50);
    const clear = [...Object.values(secrets), ...issuedKeys, b64url(secrets.hmacJwtKey)];
    expect(issuedKeys.length).toBeGreaterThanOrEqual(3);
    const found = values.flatMap(({ at, value }) => clear.filter((s) => value.includes(s)).map((s) => `${at}: ${s}`));
    expect(found).toEqual([]);
  });

  it('finds each hash and digest only in its own column, and no unkeyed digest of a key anywhere', async () => {
    const values = await everyTextValue(t);
    // Where each kind of hash belongs: key digests, token digests, user password hashes, basic-auth hashes in params.
    const own: Record<string, RegExp> = {
      'api_keys.digest': /^[0-9a-f]{64}$/,
      'subscriptions.token_hash': /^[0-9a-f]{64}$/,
      'users.password_hash': /^scrypt\$/,
    };
    const hashes = new Map<string, string>();
    for (const { at, value } of values) {
      if (own[at]?.test(value)) hashes.set(value, at);
      for (const m of value.matchAll(/pbkdf2-sha256\$[^"]+/g)) hashes.set(m[0], at);
    }
    expect([...hashes.values()].filter((at) => at === 'api_keys.digest').length).toBeGreaterThanOrEqual(4);
    expect([...hashes.values()]).toContain('subscriptions.token_hash');
    expect([...hashes.values()].filter((at) => at === 'api_policies.params' || at === 'plan_policies.params').length).toBe(3);
    const misplaced = values.flatMap(({ at, value }) =>
      [...hashes].filter(([hash, home]) => home !== at && value.includes(hash)).map(([hash, home]) => `${at} holds ${home} ${hash.slice(0, 20)}…`),
    );
    expect(misplaced).toEqual([]);
    // Digests are keyed: the plain SHA-256 of a key or token (what a dump alone could be tested against) is nowhere.
    const plain = [...issuedKeys, secrets.customRestKey, secrets.subscriptionToken].map(sha256);
    expect(values.filter(({ value }) => plain.some((d) => value.includes(d)))).toEqual([]);
  });

  it('keeps secrets of recoverable form sealed and shows that they changed in the audit log', async () => {
    const values = await everyTextValue(t);
    const sealed = values.filter(({ value }) => value.includes('enc:v1:'));
    expect(new Set(sealed.map((v) => v.at))).toEqual(new Set(['authorization_servers.client_secret', 'plans.security_config']));
    const audit = values.filter(({ at }) => at.startsWith('audit_log.')).map((v) => v.value).join('\n');
    expect(audit).toContain('"passwordHash": "(changed)"');
    expect(audit).not.toContain('enc:v1:');
  });
});
