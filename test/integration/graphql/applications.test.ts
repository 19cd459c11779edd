import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apis, applications, auditLog, subscriptions } from '../../../server/db/schema/index.ts';
import { newId } from '../../../server/domain/ids.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const rawOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':').slice(1).join(':');

const appFields = 'id name description clientId apiKeyMode owner { id username }';
const errorFields = '... on Error { message code } ... on ValidationError { issues { path } } ... on InvalidTransitionError { from to }';

interface AppResult {
  __typename: string;
  application?: { id: string; name: string; description: string | null; clientId: string | null; apiKeyMode: string; owner: { id: string; username: string } };
  issues?: { path: string }[];
  code?: string;
  from?: string;
  to?: string;
}

describe.each(shapeDrivers)('GraphQL applications (%s)', (driver) => {
  let t: TestPlatform;
  const cora = basicAuth('cora', 'cora-password');
  const dan = basicAuth('dan', 'dan-password');
  const pat = basicAuth('pat', 'pat-password');
  const userIds = new Map<string, string>();

  async function create(input: Record<string, unknown>, auth = cora): Promise<AppResult> {
    const res = await t.graphql<{ createApplication: AppResult }>(
      `mutation($input: CreateApplicationInput!) { createApplication(input: $input) { __typename ... on CreateApplicationPayload { application { ${appFields} } } ${errorFields} } }`,
      { input },
      auth,
    );
    expect(res.errors).toBeUndefined();
    return res.data!.createApplication;
  }

  async function update(input: Record<string, unknown>, auth = cora): Promise<AppResult> {
    const res = await t.graphql<{ updateApplication: AppResult }>(
      `mutation($input: UpdateApplicationInput!) { updateApplication(input: $input) { __typename ... on UpdateApplicationPayload { application { ${appFields} } } ${errorFields} } }`,
      { input },
      auth,
    );
    expect(res.errors).toBeUndefined();
    return res.data!.updateApplication;
  }

  async function remove(input: Record<string, unknown>, auth = cora): Promise<{ __typename: string; deletedApplicationId?: string }> {
    const res = await t.graphql<{ deleteApplication: { __typename: string; deletedApplicationId?: string } }>(
      `mutation($input: DeleteApplicationInput!) { deleteApplication(input: $input) { __typename ... on DeleteApplicationPayload { deletedApplicationId } } }`,
      { input },
      auth,
    );
    expect(res.errors).toBeUndefined();
    return res.data!.deleteApplication;
  }

  async function applicationCount(): Promise<number> {
    const [row] = await t.platform.database.db.select({ n: count() }).from(applications);
    return row?.n ?? 0;
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['cora', 'consumer'], ['dan', 'consumer'], ['pat', 'publisher']] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
        input: { username, password: `${username}-password`, role },
      });
      const me = await t.graphql<{ me: { id: string } }>('{ me { id } }', {}, basicAuth(username, `${username}-password`));
      userIds.set(username, me.data!.me.id);
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates an application owned by the caller', async () => {
    const result = await create({ name: 'Mobile', description: 'iOS app', clientId: 'mobile-1' });
    expect(result).toMatchObject({
      __typename: 'CreateApplicationPayload',
      application: { name: 'Mobile', description: 'iOS app', clientId: 'mobile-1', apiKeyMode: 'UNSPECIFIED', owner: { username: 'cora', id: userIds.get('cora') } },
    });
    const [entry] = await t.platform.database.db.select().from(auditLog).where(eq(auditLog.entityId, rawOf(result.application!.id)));
    expect(entry?.action).toBe('application.create');
  });

  it('returns ValidationError paths and ConflictError without writing anything', async () => {
    const before = await applicationCount();
    const invalid = await create({ name: ' ', clientId: 'two words' });
    expect(invalid.__typename).toBe('ValidationError');
    expect(invalid.issues?.map((i) => i.path).sort()).toEqual(['clientId', 'name']);
    await create({ name: 'First', clientId: 'taken-id' });
    const conflict = await create({ name: 'Second', clientId: 'taken-id' }, dan);
    expect(conflict).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect(await applicationCount()).toBe(before + 1);
  });

  it('lets an admin create an application for a consumer but forbids a consumer to do so', async () => {
    const forDan = await create({ name: 'Assigned', ownerId: userIds.get('dan') }, undefined);
    expect(forDan.__typename).toBe('ForbiddenError');
    const res = await t.graphql<{ createApplication: AppResult }>(
      `mutation($input: CreateApplicationInput!) { createApplication(input: $input) { __typename ... on CreateApplicationPayload { application { ${appFields} } } } }`,
      { input: { name: 'Assigned', ownerId: userIds.get('dan') } },
    );
    expect(res.data?.createApplication.application?.owner.username).toBe('dan');
  });

  it('shows a consumer only its own applications; another consumer\u2019s is null or NotFoundError', async () => {
    const mine = await create({ name: 'Cora only' });
    const theirs = await create({ name: 'Dan only' }, dan);
    const list = await t.graphql<{ applications: { nodes: { name: string; owner: { username: string } }[] } }>(
      '{ applications(first: 50) { nodes { name owner { username } } } }',
      {},
      cora,
    );
    const names = list.data!.applications.nodes;
    expect(names.every((n) => n.owner.username === 'cora')).toBe(true);
    expect(names.map((n) => n.name)).toContain('Cora only');
    expect(names.map((n) => n.name)).not.toContain('Dan only');
    const byId = await t.graphql<{ application: null }>(`{ application(id: "${theirs.application!.id}") { name } }`, {}, cora);
    expect(byId.data?.application).toBeNull();
    expect((await update({ id: theirs.application!.id, name: 'Hijacked' })).__typename).toBe('NotFoundError');
    expect((await remove({ id: theirs.application!.id })).__typename).toBe('NotFoundError');
    const own = await t.graphql<{ application: { name: string } }>(`{ application(id: "${mine.application!.id}") { name } }`, {}, cora);
    expect(own.data?.application.name).toBe('Cora only');
  });

  it('lets a publisher read every application, filtered by name and owner, but not change them', async () => {
    const app = await create({ name: 'Filterable Widget' }, dan);
    const res = await t.graphql<{ applications: { nodes: { name: string }[] } }>(
      `query($owner: ID) { applications(first: 50, name: "widget", ownerId: $owner) { nodes { name } } }`,
      { owner: userIds.get('dan') },
      pat,
    );
    expect(res.data?.applications.nodes).toEqual([{ name: 'Filterable Widget' }]);
    expect((await update({ id: app.application!.id, name: 'Mine' }, pat)).__typename).toBe('ForbiddenError');
  });

  it('fixes the API-key mode once chosen', async () => {
    const { application } = await create({ name: 'Keys' });
    expect((await update({ id: application!.id, apiKeyMode: 'EXCLUSIVE' })).application?.apiKeyMode).toBe('EXCLUSIVE');
    expect(await update({ id: application!.id, apiKeyMode: 'SHARED' })).toMatchObject({ __typename: 'InvalidTransitionError', from: 'EXCLUSIVE', to: 'SHARED' });
    expect((await update({ id: application!.id, description: 'still editable', clientId: null })).application).toMatchObject({ description: 'still editable', clientId: null, apiKeyMode: 'EXCLUSIVE' });
  });

  it('refuses to delete an application with an accepted subscription unless forced', async () => {
    const { application } = await create({ name: 'Subscribed' });
    const db = t.platform.database.db;
    const apiId = newId('api');
    await db.insert(apis).values({ id: apiId, handle: 'subscribed-api', displayName: 'S', version: '1', context: '/s' });
    const subscriptionId = newId('subscription');
    await db.insert(subscriptions).values({ id: subscriptionId, apiId, applicationId: rawOf(application!.id), status: 'ACCEPTED' });
    expect((await remove({ id: application!.id })).__typename).toBe('InvalidTransitionError');
    expect(await remove({ id: application!.id, force: true })).toEqual({ __typename: 'DeleteApplicationPayload', deletedApplicationId: application!.id });
    expect(await db.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId))).toEqual([]);
  });
});
