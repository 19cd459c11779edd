import { pbkdf2Sync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPolicies, apis, auditLog, planPolicies } from '../../../server/db/schema/index.ts';
import { WRITE_ONLY_MARKER, validatePolicyAttachment } from '../../../server/domain/policy-registry.ts';
import { BASIC_AUTH_PBKDF2_ITERATIONS, hashBasicAuthPassword } from '../../../server/policies/basic-auth.ts';
import { newId } from '../../../server/domain/ids.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { restClient, type RestClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

// basic-auth params: clients give clear passwords; the domain stores, audits and serves only salted PBKDF2 hashes
// (docs/policies.md#basic-auth, docs/plan-selection.md).

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');
const hashPattern = /^pbkdf2-sha256\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

const apiPassword = 'api-level-Secret-1';
const operationPassword = 'operation-level-Secret-2';
const planPassword = 'plan-level-Secret-3';
const secondPlanPassword = 'plan-level-Secret-4';
const passwords = [apiPassword, operationPassword, planPassword, secondPlanPassword];

/** True when `hash` is a PBKDF2-HMAC-SHA256 hash of `password` in the stored format. */
function verifies(hash: unknown, password: string): boolean {
  const m = hashPattern.exec(String(hash));
  if (!m) return false;
  const expected = Buffer.from(m[3]!, 'base64url');
  return pbkdf2Sync(password, Buffer.from(m[2]!, 'base64url'), Number(m[1]), expected.length, 'sha256').equals(expected);
}

function expectNoPassword(value: unknown): void {
  const text = JSON.stringify(value);
  for (const password of passwords) expect(text).not.toContain(password);
  expect(text).not.toMatch(/"password"/);
}

type Users = { username: string; passwordHash?: string; password?: string }[];

function usersOf(params: unknown): Users {
  return (params as { users: Users }).users;
}

const planMutation = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { __typename
  ... on CreatePlanPayload { plan { id policies { name params } } }
  ... on ValidationError { issues { path message } } } }`;

describe('basic-auth params (unit)', () => {
  it('produces hashes node:crypto verifies, with a fresh salt each time and the documented count', async () => {
    const first = await hashBasicAuthPassword('pw');
    const second = await hashBasicAuthPassword('pw');
    expect(first).not.toBe(second);
    expect(verifies(first, 'pw')).toBe(true);
    expect(verifies(first, 'pW')).toBe(false);
    expect(first.split('$')[1]).toBe(String(BASIC_AUTH_PBKDF2_ITERATIONS));
    expect(Buffer.from(first.split('$')[2]!, 'base64url')).toHaveLength(16);
  });

  it('reports each invalid user at its path', async () => {
    const at = 'policies[0]';
    const issues = (params: unknown) => validatePolicyAttachment({ name: 'basic-auth', version: 'v1', params }, at, 'plan').map((i) => i.path);
    expect(issues({ realm: 'ops', users: [{ username: 'a', password: 'x' }, { username: 'b', passwordHash: await hashBasicAuthPassword('y') }] })).toEqual([]);
    expect(issues({ realm: 'ops' })).toEqual([`${at}.params.users`]);
    expect(issues({ users: [] })).toEqual([`${at}.params.users`]);
    expect(issues({ users: [{ username: 'a' }] })).toEqual([`${at}.params.users[0].password`]);
    expect(issues({ users: [{ username: 'a', password: 'x', passwordHash: await hashBasicAuthPassword('x') }] })).toEqual([`${at}.params.users[0].password`]);
    expect(issues({ users: [{ username: 'a:b', password: 'x' }] })).toEqual([`${at}.params.users[0].username`]);
    expect(issues({ users: [{ username: 'a', password: '' }] })).toEqual([`${at}.params.users[0].password`]);
    expect(issues({ users: [{ username: 'a', password: 'x' }, { username: 'a', password: 'y' }] })).toEqual([`${at}.params.users[1].username`]);
    expect(issues({ users: [{ username: 'a', password: 'x', role: 'admin' }] })).toEqual([`${at}.params.users[0].role`]);
    expect(issues({ realm: 'a"b', users: [{ username: 'a', password: 'x' }] })).toEqual([`${at}.params.realm`]);
    for (const passwordHash of [
      'plain-text',
      'pbkdf2-sha1$1000$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5',
      (await hashBasicAuthPassword('x')).replace(/\$100000\$/, '$0$'),
      (await hashBasicAuthPassword('x')).replace(/\$100000\$/, '$1000001$'),
      `pbkdf2-sha256$1000$${Buffer.alloc(4).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`,
      `pbkdf2-sha256$1000$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(8).toString('base64url')}`,
    ]) {
      expect(issues({ users: [{ username: 'a', passwordHash }] }), passwordHash).toEqual([`${at}.params.users[0].passwordHash`]);
    }
  });
});

describe.each(shapeDrivers)('basic-auth params (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('stores operation basic-auth users as salted hashes only and serves them write-only over REST', async () => {
    // Two operations with their own users (an API-level basic-auth with other users could not be combined with
    // them on one route, and is refused).
    const spec = structuredClone(seedRestApi.spec) as unknown as Record<string, unknown> & { operations: Record<string, unknown>[] };
    spec.operations[0] = {
      ...spec.operations[0],
      policies: [{ name: 'basic-auth', version: 'v1', params: { realm: 'staff', users: [{ username: 'ops', password: apiPassword }] } }],
    };
    spec.operations[1] = {
      ...spec.operations[1],
      policies: [{ name: 'basic-auth', version: 'v1', params: { users: [{ username: 'audit', password: operationPassword }] } }],
    };
    const created = await rest.post<{ spec: { operations: { policies?: { params: unknown }[] }[] } }>(
      '/rest-apis', { ...seedRestApi, metadata: { name: 'staff-api' }, spec },
    );
    expect(created.status).toBe(201);
    expectNoPassword(created.body);
    // Write-only: the hash is stored but never shown, to anyone.
    const [apiUser] = usersOf(created.body.spec.operations[0]!.policies![0]!.params);
    expect(apiUser).toEqual({ username: 'ops', passwordHash: WRITE_ONLY_MARKER });
    expect(usersOf(created.body.spec.operations[1]!.policies![0]!.params)[0]!.passwordHash).toBe(WRITE_ONLY_MARKER);
    const storedHashes = async () => (await t.platform.database.db.select().from(apiPolicies)).filter((r) => r.name === 'basic-auth').map((r) => usersOf(r.params)[0]!.passwordHash);
    const [apiHash, operationHash] = await storedHashes();
    expect(verifies(apiHash, apiPassword)).toBe(true);
    expect(verifies(operationHash, operationPassword)).toBe(true);

    const read = await rest.get<{ spec: Record<string, unknown> & { operations: { policies?: { params: unknown }[] }[] } }>('/rest-apis/staff-api');
    expect(read.status).toBe(200);
    expectNoPassword(read.body);

    // Rows as stored, and the audit trail.
    const db = t.platform.database.db;
    const rows = await db.select().from(apiPolicies);
    expect(rows.filter((r) => r.name === 'basic-auth')).toHaveLength(2);
    expectNoPassword(rows);
    expectNoPassword(await db.select().from(auditLog));
    expectNoPassword(await db.select().from(apis));

    expect(JSON.stringify(read.body)).not.toContain(apiHash);
    expect(JSON.stringify(await db.select().from(auditLog))).not.toContain(apiHash!);

    // Round trip: what was read back (the marker) is accepted as is and keeps the stored hashes; so does leaving
    // the hash out; a new password replaces it.
    const updated = await rest.put('/rest-apis/staff-api', { ...seedRestApi, metadata: { name: 'staff-api' }, spec: read.body.spec });
    expect(updated.status).toBe(200);
    expect(await storedHashes()).toEqual([apiHash, operationHash]);
    const omitted = structuredClone(read.body.spec) as typeof read.body.spec;
    omitted.operations[0]!.policies![0] = { ...omitted.operations[0]!.policies![0], params: { realm: 'staff', users: [{ username: 'ops' }] } };
    expect((await rest.put('/rest-apis/staff-api', { ...seedRestApi, metadata: { name: 'staff-api' }, spec: omitted })).status).toBe(200);
    expect((await storedHashes())[0]).toBe(apiHash);
    // A user with nothing stored under its name cannot keep anything: 400 at the user's path.
    const unknown = structuredClone(read.body.spec) as typeof read.body.spec;
    unknown.operations[0]!.policies![0] = { ...unknown.operations[0]!.policies![0], params: { users: [{ username: 'newcomer', passwordHash: WRITE_ONLY_MARKER }] } };
    const refused = await rest.put<{ message: string }>('/rest-apis/staff-api', { ...seedRestApi, metadata: { name: 'staff-api' }, spec: unknown });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('passwordHash');
  });

  it('stores plan basic-auth users as salted hashes only and serves them write-only over GraphQL', async () => {
    const apiId = newId('api');
    await t.platform.database.db.insert(apis).values({ id: apiId, handle: 'plan-api', displayName: 'plan-api', version: '1.0', context: '/plan-api' });
    const res = await t.graphql<{ createPlan: { __typename: string; plan: { id: string; policies: { name: string; params: unknown }[] } } }>(planMutation, {
      input: {
        apiId: gid('Api', apiId),
        name: 'Staff',
        security: { type: 'KEYLESS' },
        policies: [{
          name: 'basic-auth',
          version: 'v1',
          params: { realm: 'staff', users: [{ username: 'ops', password: planPassword }, { username: 'audit', password: secondPlanPassword }] },
        }],
      },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data!.createPlan.__typename).toBe('CreatePlanPayload');
    const plan = res.data!.createPlan.plan;
    expectNoPassword(plan);
    const users = usersOf(plan.policies[0]!.params);
    expect(users).toEqual([{ username: 'ops', passwordHash: WRITE_ONLY_MARKER }, { username: 'audit', passwordHash: WRITE_ONLY_MARKER }]);
    const [row] = await t.platform.database.db.select().from(planPolicies);
    expect(verifies(usersOf(row!.params)[0]!.passwordHash, planPassword)).toBe(true);
    expect(verifies(usersOf(row!.params)[1]!.passwordHash, secondPlanPassword)).toBe(true);

    const read = await t.graphql<{ node: { policies: { params: unknown }[] } }>(
      'query($id: ID!) { node(id: $id) { ... on Plan { policies { name params } } } }', { id: plan.id },
    );
    expect(read.errors).toBeUndefined();
    expectNoPassword(read.data);
    expect(usersOf(read.data!.node.policies[0]!.params)).toEqual(users);

    const db = t.platform.database.db;
    expectNoPassword(await db.select().from(planPolicies));
    expectNoPassword(await db.select().from(auditLog));
  });

  it('answers a ValidationError with the user path when a plan basic-auth user has no password', async () => {
    const apiId = newId('api');
    await t.platform.database.db.insert(apis).values({ id: apiId, handle: 'plan-api-2', displayName: 'plan-api-2', version: '1.0', context: '/plan-api-2' });
    const res = await t.graphql<{ createPlan: { __typename: string; issues: { path: string }[] } }>(planMutation, {
      input: {
        apiId: gid('Api', apiId), name: 'Staff', security: { type: 'KEYLESS' },
        policies: [{ name: 'basic-auth', version: 'v1', params: { users: [{ username: 'ops' }] } }],
      },
    });
    expect(res.data!.createPlan.__typename).toBe('ValidationError');
    expect(res.data!.createPlan.issues.map((i) => i.path)).toEqual(['policies[0].params.users[0].password']);
  });
});
