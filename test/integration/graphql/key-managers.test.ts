import { eq } from 'drizzle-orm';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, keyManagers } from '../../../server/db/schema/index.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const fields = 'id name issuer jwksUrl certificate jwks audiences createdAt updatedAt';
const errorFields = '... on Error { message code } ... on ValidationError { issues { path message } }';
const createMutation = `mutation($input: CreateKeyManagerInput!) { createKeyManager(input: $input) { __typename ... on CreateKeyManagerPayload { keyManager { ${fields} } } ${errorFields} } }`;
const updateMutation = `mutation($input: UpdateKeyManagerInput!) { updateKeyManager(input: $input) { __typename ... on UpdateKeyManagerPayload { keyManager { ${fields} } } ${errorFields} } }`;
const deleteMutation = `mutation($input: DeleteKeyManagerInput!) { deleteKeyManager(input: $input) { __typename ... on DeleteKeyManagerPayload { deletedId name } ... on Error { message code } } }`;

interface Result {
  __typename: string;
  keyManager?: Record<string, unknown> & { id: string };
  issues?: { path: string; message: string }[];
  code?: string;
  name?: string;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const publicJwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1' };
const privateJwk = { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'k2' };

describe.each(shapeDrivers)('GraphQL key managers (%s)', (driver) => {
  let t: TestPlatform;
  const publisher = basicAuth('pia', 'pia-password');

  async function run(query: string, input: Record<string, unknown>, auth?: string): Promise<Result> {
    const res = await t.graphql<Record<string, Result>>(query, { input }, auth);
    expect(res.errors).toBeUndefined();
    return Object.values(res.data!)[0]!;
  }
  const create = (input: Record<string, unknown>) => run(createMutation, input);

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', { input: { username: 'pia', password: 'pia-password', role: 'publisher' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates, reads, lists, updates and deletes a key manager, auditing each change', async () => {
    const created = await create({ name: 'corp-idp', issuer: 'https://idp.corp.test', jwksUrl: 'https://idp.corp.test/jwks', audiences: ['corp-api'] });
    expect(created).toMatchObject({
      __typename: 'CreateKeyManagerPayload',
      keyManager: { name: 'corp-idp', issuer: 'https://idp.corp.test', jwksUrl: 'https://idp.corp.test/jwks', certificate: null, jwks: null, audiences: ['corp-api'] },
    });
    const read = await t.graphql<{ keyManager: { name: string } | null; missing: null; keyManagers: { edges: { node: { name: string } }[] } }>(
      '{ keyManager(name: "corp-idp") { name } missing: keyManager(name: "nope") { name } keyManagers(first: 10) { edges { node { name } } } }',
    );
    expect(read.data).toEqual({ keyManager: { name: 'corp-idp' }, missing: null, keyManagers: { edges: [{ node: { name: 'corp-idp' } }] } });

    // A key source given replaces the current one; issuer null clears it; absent fields are kept.
    const updated = await run(updateMutation, { name: 'corp-idp', certificate: publicPem, issuer: null });
    expect(updated).toMatchObject({ __typename: 'UpdateKeyManagerPayload', keyManager: { issuer: null, jwksUrl: null, certificate: publicPem, audiences: ['corp-api'] } });

    expect(await run(deleteMutation, { name: 'corp-idp' })).toMatchObject({ __typename: 'DeleteKeyManagerPayload', name: 'corp-idp' });
    expect(await t.platform.database.db.select().from(keyManagers).where(eq(keyManagers.name, 'corp-idp'))).toEqual([]);
    const actions = (await t.platform.database.db.select({ action: auditLog.action }).from(auditLog).where(eq(auditLog.entityType, 'key-manager'))).map((r) => r.action);
    expect(actions).toEqual(['key-manager.create', 'key-manager.update', 'key-manager.delete']);
  });

  it('accepts a PEM public key and an inline JWK Set of public keys', async () => {
    expect((await create({ name: 'pem-km', certificate: publicPem })).__typename).toBe('CreateKeyManagerPayload');
    expect((await create({ name: 'inline-km', jwks: JSON.stringify({ keys: [publicJwk] }) })).__typename).toBe('CreateKeyManagerPayload');
  });

  it('names every invalid field', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ name: 'has space', jwksUrl: 'https://idp/jwks' }, ['name']],
      [{ name: 'no-source' }, ['jwksUrl']],
      [{ name: 'two-sources', jwksUrl: 'https://idp/jwks', certificate: publicPem }, ['certificate']],
      [{ name: 'ftp', jwksUrl: 'ftp://idp/jwks' }, ['jwksUrl']],
      [{ name: 'creds', jwksUrl: 'https://user:pw@idp/jwks' }, ['jwksUrl']],
      [{ name: 'bad-pem', certificate: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, ['certificate']],
      [{ name: 'not-json', jwks: '{keys' }, ['jwks']],
      [{ name: 'private', jwks: JSON.stringify({ keys: [publicJwk, privateJwk] }) }, ['jwks.keys[1]']],
      [{ name: 'secret', jwks: JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA' }] }) }, ['jwks.keys[0]']],
      [{ name: 'dup-kid', jwks: JSON.stringify({ keys: [publicJwk, publicJwk] }) }, ['jwks.keys[1].kid']],
      [{ name: 'empty-aud', jwksUrl: 'https://idp/jwks', audiences: [''] }, ['audiences[0]']],
    ];
    for (const [input, paths] of cases) {
      const result = await create(input);
      expect({ input, typename: result.__typename, paths: result.issues?.map((i) => i.path) }).toEqual({ input, typename: 'ValidationError', paths });
    }
  });

  it('answers ConflictError for a name taken and NotFoundError for an unknown name', async () => {
    await create({ name: 'taken', jwksUrl: 'https://idp/jwks' });
    expect(await create({ name: 'taken', jwksUrl: 'https://idp/other' })).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect(await run(updateMutation, { name: 'nope', issuer: 'x' })).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await run(deleteMutation, { name: 'nope' })).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  it('refuses deleting a key manager a jwt-auth policy names, and allows it once the policy is gone', async () => {
    await create({ name: 'in-use', issuer: 'https://in-use.test', jwksUrl: 'https://in-use.test/jwks' });
    const api = await t.graphql<{ createApi: { __typename: string; api?: { id: string } } }>(
      'mutation($input: CreateApiInput!) { createApi(input: $input) { __typename ... on CreateApiPayload { api { id } } } }',
      {
        input: {
          metadata: { name: 'km-user' },
          spec: {
            displayName: 'KM user',
            version: 'v1',
            context: '/km-user/$version',
            upstream: { main: { url: 'http://127.0.0.1:9/' } },
            operations: [{ method: 'GET', path: '/p', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['in-use'] } }] }],
          },
        },
      },
    );
    expect(api.data?.createApi.__typename).toBe('CreateApiPayload');
    expect(await run(deleteMutation, { name: 'in-use' })).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    const deleted = await t.graphql('mutation($input: DeleteApiInput!) { deleteApi(input: $input) { __typename } }', { input: { id: api.data!.createApi.api!.id } });
    expect(deleted.errors).toBeUndefined();
    expect((await run(deleteMutation, { name: 'in-use' })).__typename).toBe('DeleteKeyManagerPayload');
  });

  it('keeps everyone but admins out', async () => {
    const created = await t.graphql(createMutation, { input: { name: 'by-publisher', jwksUrl: 'https://idp/jwks' } }, publisher);
    expect(created.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const list = await t.graphql('{ keyManagers(first: 5) { edges { node { name } } } }', {}, publisher);
    expect(list.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
