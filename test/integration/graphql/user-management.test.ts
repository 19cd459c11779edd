import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { createUser, type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

const userGid = (id: string) => Buffer.from(`User:${id}`).toString('base64');
const apiGid = (id: string) => Buffer.from(`Api:${id}`).toString('base64');

/** Every user-management operation, for the 401/403 table: all but changeOwnPassword are admin-only. */
const adminOperations: [string, string, (userId: string) => Record<string, unknown>][] = [
  ['createUser', 'mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', () => ({ input: { username: 'someone', role: 'consumer' } })],
  ['updateUserRole', 'mutation($input: UpdateUserRoleInput!) { updateUserRole(input: $input) { __typename } }', (id) => ({ input: { userId: userGid(id), role: 'admin' } })],
  ['disableUser', 'mutation($input: DisableUserInput!) { disableUser(input: $input) { __typename } }', (id) => ({ input: { userId: userGid(id) } })],
  ['enableUser', 'mutation($input: EnableUserInput!) { enableUser(input: $input) { __typename } }', (id) => ({ input: { userId: userGid(id) } })],
  ['deleteUser', 'mutation($input: DeleteUserInput!) { deleteUser(input: $input) { __typename } }', (id) => ({ input: { userId: userGid(id) } })],
  ['forcePasswordReset', 'mutation($input: ForcePasswordResetInput!) { forcePasswordReset(input: $input) { __typename } }', (id) => ({ input: { userId: userGid(id) } })],
  ['users', '{ users(first: 5) { nodes { id } } }', () => ({})],
];

interface Typed {
  __typename: string;
  code?: string;
  message?: string;
  issues?: { path: string }[];
}

describe.each(shapeDrivers)('user management and API ownership through GraphQL and REST (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  /** A REST GET outside the OpenAPI conformance check (a forced reset answers 403 on every route). */
  async function restGet(path: string, auth: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${t.baseUrl}/api/management/v0.9${path}`, { headers: { authorization: auth } });
    return { status: res.status, body: await res.json() };
  }
  const ids = new Map<string, string>();
  async function user(username: string, role: 'admin' | 'publisher' | 'consumer'): Promise<string> {
    const auth = await createUser(t, username, role);
    const me = await t.graphql<{ viewer: { id: string } }>('{ viewer { id } }', {}, auth);
    ids.set(username, Buffer.from(me.data!.viewer.id, 'base64').toString().split(':')[1]!);
    return auth;
  }
  const idOf = (username: string) => ids.get(username)!;
  async function mutate(name: string, inputType: string, input: Record<string, unknown>, auth?: string, select = ''): Promise<Typed & Record<string, unknown>> {
    // undeployApi's result union has no ValidationError.
    const issues = name === 'undeployApi' ? '' : '... on ValidationError { issues { path } }';
    const res = await t.graphql<Record<string, Typed>>(
      `mutation($input: ${inputType}!) { ${name}(input: $input) { __typename ... on Error { code message } ${issues} ${select} } }`,
      { input },
      auth,
    );
    if (!res.data) throw new Error(JSON.stringify(res.errors));
    return res.data[name] as Typed & Record<string, unknown>;
  }

  let pub: string;
  let other: string;
  let consumer: string;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
    pub = await user('pia', 'publisher');
    other = await user('oli', 'publisher');
    consumer = await user('cem', 'consumer');
  });
  afterAll(async () => {
    await t.close();
  });

  describe.each(adminOperations)('%s', (_name, query, variables) => {
    it('answers 401 without credentials', async () => {
      expect((await t.graphql(query, variables(idOf('cem')), null)).status).toBe(401);
    });
    it('answers FORBIDDEN to a publisher and a consumer', async () => {
      for (const auth of [pub, consumer]) {
        const res = await t.graphql<Record<string, Typed>>(query, variables(idOf('cem')), auth);
        const typed = Object.values(res.data ?? {})[0];
        expect(typed?.__typename === 'ForbiddenError' || res.errors?.[0]?.extensions?.code === 'FORBIDDEN').toBe(true);
      }
    });
  });

  it('creates a user with a generated password shown once, which must be changed before anything else', async () => {
    const created = await mutate('createUser', 'CreateUserInput', { username: 'gina', role: 'publisher' }, undefined, '... on CreateUserPayload { generatedPassword user { passwordChangeRequired } }');
    const password = created.generatedPassword as string;
    expect(created.user).toEqual({ passwordChangeRequired: true });
    const auth = basicAuth('gina', password);
    const blocked = await t.graphql('{ apis(first: 1) { nodes { id } } }', {}, auth);
    expect(blocked.errors?.[0]?.extensions?.code).toBe('PASSWORD_CHANGE_REQUIRED');
    const blockedMutation = await t.graphql('mutation { createApplication(input: { name: "x" }) { __typename } }', {}, auth);
    expect(blockedMutation.errors?.[0]?.extensions?.code).toBe('PASSWORD_CHANGE_REQUIRED');
    const blockedRest = await restGet('/rest-apis', auth);
    expect(blockedRest.status).toBe(403);
    expect((await t.graphql<{ viewer: { username: string } }>('{ viewer { username } }', {}, auth)).data?.viewer.username).toBe('gina');
    const bad = await mutate('changeOwnPassword', 'ChangeOwnPasswordInput', { currentPassword: password, newPassword: 'short' }, auth);
    expect(bad).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'newPassword' }] });
    const changed = await mutate('changeOwnPassword', 'ChangeOwnPasswordInput', { currentPassword: password, newPassword: 'gina-chosen-password' }, auth);
    expect(changed.__typename).toBe('ChangeOwnPasswordPayload');
    expect((await t.graphql('{ viewer { username } }', {}, auth)).status).toBe(401);
    const fresh = basicAuth('gina', 'gina-chosen-password');
    expect((await t.graphql('{ apis(first: 1) { nodes { id } } }', {}, fresh)).errors).toBeUndefined();
    expect((await rest.get('/rest-apis', { auth: fresh })).status).toBe(200);
  });

  it('forcePasswordReset blocks a user that was working, through GraphQL and REST, until it changes its password', async () => {
    const auth = await user('fred', 'publisher');
    expect((await rest.get('/rest-apis', { auth })).status).toBe(200);
    expect((await mutate('forcePasswordReset', 'ForcePasswordResetInput', { userId: userGid(idOf('fred')) })).__typename).toBe('ForcePasswordResetPayload');
    expect(await restGet('/rest-apis', auth)).toEqual({ status: 403, body: { status: 'error', message: expect.stringContaining('Password change required') } });
    await mutate('changeOwnPassword', 'ChangeOwnPasswordInput', { currentPassword: 'fred-password', newPassword: 'fred-new-password' }, auth);
    expect((await rest.get('/rest-apis', { auth: basicAuth('fred', 'fred-new-password') })).status).toBe(200);
  });

  it('a disabled user gets 401 at once, although its credentials were cached, by Basic on GraphQL and REST', async () => {
    const auth = await user('dina', 'consumer');
    expect((await t.graphql('{ viewer { username } }', {}, auth)).status).toBe(200);
    expect((await mutate('disableUser', 'DisableUserInput', { userId: userGid(idOf('dina')) }, undefined, '... on DisableUserPayload { user { disabled } }')).user).toEqual({ disabled: true });
    expect((await t.graphql('{ viewer { username } }', {}, auth)).status).toBe(401);
    expect((await rest.get('/rest-apis', { auth })).status).toBe(401);
    await mutate('enableUser', 'EnableUserInput', { userId: userGid(idOf('dina')) });
    expect((await t.graphql('{ viewer { username } }', {}, auth)).status).toBe(200);
  });

  it('updates roles with typed errors, and protects the last active admin', async () => {
    const role = await mutate('updateUserRole', 'UpdateUserRoleInput', { userId: userGid(idOf('cem')), role: 'publisher' }, undefined, '... on UpdateUserRolePayload { user { role } }');
    expect(role.user).toEqual({ role: 'publisher' });
    await mutate('updateUserRole', 'UpdateUserRoleInput', { userId: userGid(idOf('cem')), role: 'consumer' });
    const admins = await t.graphql<{ viewer: { id: string } }>('{ viewer { id } }');
    const adminId = admins.data!.viewer.id;
    for (const [name, type, input] of [
      ['updateUserRole', 'UpdateUserRoleInput', { userId: adminId, role: 'consumer' }],
      ['disableUser', 'DisableUserInput', { userId: adminId }],
      ['deleteUser', 'DeleteUserInput', { userId: adminId }],
    ] as const) {
      expect(await mutate(name, type, input)).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    }
    expect(await mutate('disableUser', 'DisableUserInput', { userId: userGid('usr_nobody') })).toMatchObject({ __typename: 'NotFoundError' });
  });

  it('refuses to delete a user owning an API, naming it, and deletes one owning nothing', async () => {
    const auth = await user('owen', 'publisher');
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'owens-api' }, spec: { ...seedRestApi.spec, displayName: 'Owens', context: '/owens' } }, { auth })).status).toBe(201);
    expect(await mutate('deleteUser', 'DeleteUserInput', { userId: userGid(idOf('owen')) })).toMatchObject({ __typename: 'ConflictError', message: expect.stringContaining("'owens-api'") });
    await user('zed', 'consumer');
    expect((await mutate('deleteUser', 'DeleteUserInput', { userId: userGid(idOf('zed')) })).__typename).toBe('DeleteUserPayload');
    expect((await t.graphql('{ viewer { username } }', {}, basicAuth('zed', 'zed-password'))).status).toBe(401);
  });

  it("refuses another publisher's changes to an API the same way through GraphQL and REST; a member may, then the owner transfers it", async () => {
    const created = await rest.post<{ status: { id: string } }>('/rest-apis', { ...seedRestApi, metadata: { name: 'pias-api' }, spec: { ...seedRestApi.spec, displayName: 'Pias', context: '/pias' } }, { auth: pub });
    expect(created.status).toBe(201);
    const api = await t.graphql<{ apis: { nodes: { id: string; handle: string; owner: { username: string } | null; viewerCanManage: boolean }[] } }>(
      '{ apis(first: 50) { nodes { id handle owner { username } viewerCanManage } } }',
      {},
      other,
    );
    const node = api.data!.apis.nodes.find((n) => n.handle === 'pias-api')!;
    expect(node).toMatchObject({ owner: { username: 'pia' }, viewerCanManage: false });
    const viaGraphql = await mutate('undeployApi', 'UndeployApiInput', { id: node.id }, other);
    expect(viaGraphql).toMatchObject({ __typename: 'ForbiddenError', message: "Only the API's owner, its members and admins manage this API" });
    const viaRest = await rest.put('/rest-apis/pias-api', { ...seedRestApi, metadata: { name: 'pias-api' }, spec: { ...seedRestApi.spec, displayName: 'Pias', context: '/pias' } }, { auth: other });
    expect(viaRest).toMatchObject({ status: 403, body: { message: viaGraphql.message } });
    expect((await rest.delete('/rest-apis/pias-api', { auth: other })).status).toBe(403);

    const added = await mutate('addApiMember', 'AddApiMemberInput', { apiId: node.id, userId: userGid(idOf('oli')) }, pub, '... on AddApiMemberPayload { api { members { username } } }');
    expect(added.api).toEqual({ members: [{ username: 'oli' }] });
    expect((await mutate('undeployApi', 'UndeployApiInput', { id: node.id }, other)).__typename).toBe('UndeployApiPayload');

    const moved = await mutate('transferApiOwnership', 'TransferApiOwnershipInput', { apiId: node.id, newOwnerId: userGid(idOf('oli')) }, pub, '... on TransferApiOwnershipPayload { api { owner { username } members { username } } }');
    expect(moved.api).toEqual({ owner: { username: 'oli' }, members: [{ username: 'pia' }] });
    expect(await mutate('addApiMember', 'AddApiMemberInput', { apiId: node.id, userId: userGid(idOf('cem')) }, other)).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'userId' }] });
    // A consumer sees no team.
    const seen = await t.graphql<{ api: { owner: unknown; members: unknown[] } | null }>(`{ api(id: "${apiGid(Buffer.from(node.id, 'base64').toString().split(':')[1]!)}") { owner { username } members { username } } }`, {}, consumer);
    expect(seen.data?.api ?? { owner: null, members: [] }).toEqual({ owner: null, members: [] });
  });
});
