import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apis, auditLog, authorizationServers } from '../../../server/db/schema/index.ts';
import { systemActor } from '../../../server/domain/context.ts';
import { newId } from '../../../server/domain/ids.ts';
import { createPlan } from '../../../server/domain/plans/index.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const rawOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':').slice(1).join(':');

const serverFields = 'id name introspectionUrl clientId hasClientSecret tokenTypeHint timeoutMs maxCacheSeconds createdAt updatedAt';
const errorFields = '... on Error { message code } ... on ValidationError { issues { path message } }';
const createMutation = `mutation($input: CreateAuthorizationServerInput!) { createAuthorizationServer(input: $input) { __typename ... on CreateAuthorizationServerPayload { authorizationServer { ${serverFields} } } ${errorFields} } }`;
const updateMutation = `mutation($input: UpdateAuthorizationServerInput!) { updateAuthorizationServer(input: $input) { __typename ... on UpdateAuthorizationServerPayload { authorizationServer { ${serverFields} } } ${errorFields} } }`;
const deleteMutation = `mutation($input: DeleteAuthorizationServerInput!) { deleteAuthorizationServer(input: $input) { __typename ... on DeleteAuthorizationServerPayload { deletedId name } ... on Error { message code } } }`;

interface ServerResult {
  __typename: string;
  authorizationServer?: Record<string, unknown> & { id: string };
  issues?: { path: string; message: string }[];
  code?: string;
  deletedId?: string;
  name?: string;
}

const input = { name: 'corp-idp', introspectionUrl: 'https://idp.example.test/oauth2/introspect', clientId: 'gateway', clientSecret: 'gw-secret-value-1' };

describe.each(shapeDrivers)('GraphQL authorization servers (%s)', (driver) => {
  let t: TestPlatform;
  const publisher = basicAuth('pia', 'pia-password');
  const consumer = basicAuth('cody', 'cody-password');

  async function run(query: string, field: string, variables: Record<string, unknown>, auth = publisher): Promise<ServerResult> {
    const res = await t.graphql<Record<string, ServerResult>>(query, variables, auth);
    expect(res.errors).toBeUndefined();
    return res.data![field]!;
  }

  const create = (values: Record<string, unknown>, auth = publisher) => run(createMutation, 'createAuthorizationServer', { input: values }, auth);

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['pia', 'publisher'], ['cody', 'consumer']] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', { input: { username, password: `${username}-password`, role } });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates, reads, lists, updates and deletes a server', async () => {
    const created = await create({ ...input, tokenTypeHint: 'access_token' });
    expect(created.__typename).toBe('CreateAuthorizationServerPayload');
    const server = created.authorizationServer!;
    expect(server).toMatchObject({
      name: 'corp-idp',
      introspectionUrl: input.introspectionUrl,
      clientId: 'gateway',
      hasClientSecret: true,
      tokenTypeHint: 'access_token',
      timeoutMs: 2000,
      maxCacheSeconds: 300,
    });
    expect(rawOf(server.id)).toMatch(/^asv_[0-9a-z]{26}$/);

    const read = await t.graphql<{ authorizationServer: { name: string } | null; node: { __typename: string; name: string } | null }>(
      `query($id: ID!) { authorizationServer(id: $id) { name } node(id: $id) { __typename ... on AuthorizationServer { name } } }`,
      { id: server.id },
      publisher,
    );
    expect(read.data).toEqual({ authorizationServer: { name: 'corp-idp' }, node: { __typename: 'AuthorizationServer', name: 'corp-idp' } });

    await create({ ...input, name: 'second-idp' });
    const list = await t.graphql<{ authorizationServers: { edges: { node: { name: string } }[] } }>(
      '{ authorizationServers(first: 10) { edges { node { name } } } }',
      {},
      publisher,
    );
    expect(list.data!.authorizationServers.edges.map((e) => e.node.name)).toEqual(['corp-idp', 'second-idp']);
    const byName = await t.graphql<{ authorizationServers: { edges: { node: { name: string } }[] } }>(
      '{ authorizationServers(first: 10, name: "second-idp") { edges { node { name } } } }',
      {},
      publisher,
    );
    expect(byName.data!.authorizationServers.edges.map((e) => e.node.name)).toEqual(['second-idp']);

    const updated = await run(updateMutation, 'updateAuthorizationServer', { input: { id: server.id, timeoutMs: 750, maxCacheSeconds: 0, tokenTypeHint: null } });
    expect(updated.authorizationServer).toMatchObject({ name: 'corp-idp', timeoutMs: 750, maxCacheSeconds: 0, tokenTypeHint: null, hasClientSecret: true });

    const deleted = await run(deleteMutation, 'deleteAuthorizationServer', { input: { id: server.id } });
    expect(deleted).toEqual({ __typename: 'DeleteAuthorizationServerPayload', deletedId: server.id, name: 'corp-idp' });
    const after = await t.graphql<{ authorizationServer: unknown }>('query($id: ID!) { authorizationServer(id: $id) { name } }', { id: server.id }, publisher);
    expect(after.data!.authorizationServer).toBeNull();
  });

  it('never exposes the client secret: no field, not in the audit log', async () => {
    const type = await t.graphql<{ __type: { fields: { name: string }[] } }>('{ __type(name: "AuthorizationServer") { fields { name } } }');
    expect(type.data!.__type.fields.map((f) => f.name)).not.toContain('clientSecret');
    const asked = await t.graphql('{ authorizationServers(first: 1) { edges { node { clientSecret } } } }');
    expect(asked.errors?.[0]?.message).toContain('clientSecret');
    const created = await create({ ...input, name: 'secretive', clientSecret: 'never-shown-42' });
    const id = rawOf(created.authorizationServer!.id);
    await run(updateMutation, 'updateAuthorizationServer', { input: { id: created.authorizationServer!.id, clientSecret: 'rotated-never-shown-43' } });
    const audits = await t.platform.database.db.select().from(auditLog).where(eq(auditLog.entityId, id));
    expect(audits.map((a) => a.action)).toEqual(['authorization-server.create', 'authorization-server.update']);
    expect(JSON.stringify(audits)).not.toMatch(/never-shown/);
    const [row] = await t.platform.database.db.select().from(authorizationServers).where(eq(authorizationServers.id, id));
    // Stored sealed under the secrets key; only the data planes' configuration opens it.
    expect(row?.clientSecret).toMatch(/^enc:v1:/);
    expect(t.platform.keys.box.open(row!.clientSecret)).toBe('rotated-never-shown-43');
  });

  it('reports every invalid field with its path', async () => {
    const result = await create({ name: '', introspectionUrl: 'not a url', clientId: 'gw', clientSecret: 'x', timeoutMs: 50, maxCacheSeconds: -1, tokenTypeHint: 'two words' });
    expect(result.__typename).toBe('ValidationError');
    expect(result.code).toBe('VALIDATION');
    expect(result.issues!.map((i) => i.path).sort()).toEqual(['introspectionUrl', 'maxCacheSeconds', 'name', 'timeoutMs', 'tokenTypeHint']);
    const update = await run(updateMutation, 'updateAuthorizationServer', { input: { id: (await create({ ...input, name: 'valid-one' })).authorizationServer!.id, introspectionUrl: 'ftp://idp/x' } });
    expect(update.__typename).toBe('ValidationError');
    expect(update.issues!.map((i) => i.path)).toEqual(['introspectionUrl']);
  });

  it('refuses a duplicate name with ConflictError', async () => {
    await create({ ...input, name: 'dup' });
    const again = await create({ ...input, name: 'dup' });
    expect(again).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
  });

  it('refuses to delete a server while an OAuth2 plan refers to it', async () => {
    const server = (await create({ ...input, name: 'referenced' })).authorizationServer!;
    const apiId = newId('api');
    await t.platform.database.db.insert(apis).values({ id: apiId, handle: 'books', displayName: 'books', version: '1.0', context: '/books' });
    const admin = domainContext(t.platform.database, systemActor);
    await createPlan(admin, { apiId, name: 'OAuth', security: { type: 'OAUTH2', oauth2: { authorizationServerId: rawOf(server.id) } } });
    const refused = await run(deleteMutation, 'deleteAuthorizationServer', { input: { id: server.id } });
    expect(refused.__typename).toBe('ConflictError');
    expect(refused.code).toBe('CONFLICT');
    const still = await t.graphql<{ authorizationServer: { name: string } }>('query($id: ID!) { authorizationServer(id: $id) { name } }', { id: server.id }, publisher);
    expect(still.data!.authorizationServer.name).toBe('referenced');
  });

  it('answers NotFoundError for an unknown or foreign id', async () => {
    const unknown = Buffer.from('AuthorizationServer:asv_0000000000zzzzzzzzzzzzzzzz').toString('base64');
    expect((await run(deleteMutation, 'deleteAuthorizationServer', { input: { id: unknown } })).__typename).toBe('NotFoundError');
    const foreign = Buffer.from('Plan:asv_0000000000zzzzzzzzzzzzzzzz').toString('base64');
    expect((await run(updateMutation, 'updateAuthorizationServer', { input: { id: foreign, timeoutMs: 500 } })).__typename).toBe('NotFoundError');
  });

  it('keeps consumers out', async () => {
    const created = await t.graphql(createMutation, { input: { ...input, name: 'by-consumer' } }, consumer);
    expect(created.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const [row] = await t.platform.database.db.select().from(authorizationServers).where(eq(authorizationServers.name, 'by-consumer'));
    expect(row).toBeUndefined();
    const list = await t.graphql('{ authorizationServers(first: 5) { edges { node { name } } } }', {}, consumer);
    expect(list.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
