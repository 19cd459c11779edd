import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { adminAuth, basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

describe.each(shapeDrivers)('GraphQL users and authentication (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 401 with a Basic challenge when no credentials are sent', async () => {
    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { username } }' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('answers 401 when the password is wrong', async () => {
    const res = await t.graphql('{ me { username } }', {}, basicAuth('admin', 'wrong-password'));
    expect(res.status).toBe(401);
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('returns the configured admin as me when authenticated', async () => {
    const res = await t.graphql<{ me: { username: string; role: string } }>('{ me { username role } }', {}, adminAuth);
    expect(res.status).toBe(200);
    expect(res.data?.me).toEqual({ username: 'admin', role: 'admin' });
  });

  it('lets an admin create a consumer who can then authenticate', async () => {
    const created = await t.graphql<{ createUser: { __typename: string; user?: { role: string } } }>(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on CreateUserPayload { user { role } } } }`,
      { input: { username: 'carol', password: 'carol-password', role: 'consumer' } },
    );
    expect(created.data?.createUser).toEqual({ __typename: 'CreateUserPayload', user: { role: 'consumer' } });
    const me = await t.graphql<{ me: { username: string } }>('{ me { username } }', {}, basicAuth('carol', 'carol-password'));
    expect(me.data?.me.username).toBe('carol');
  });

  it('returns ConflictError when the username is taken', async () => {
    const res = await t.graphql<{ createUser: { __typename: string } }>(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`,
      { input: { username: 'admin', password: 'whatever-password', role: 'consumer' } },
    );
    expect(res.data?.createUser.__typename).toBe('ConflictError');
  });

  it('returns ValidationError with field paths for a short password and a bad username', async () => {
    const res = await t.graphql<{ createUser: { __typename: string; issues: { path: string }[] } }>(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on ValidationError { issues { path } } } }`,
      { input: { username: 'bad name', password: 'short', role: 'consumer' } },
    );
    expect(res.data?.createUser.__typename).toBe('ValidationError');
    expect(res.data?.createUser.issues.map((i) => i.path).sort()).toEqual(['password', 'username']);
  });

  it('forbids a consumer from listing users', async () => {
    await t.graphql(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`,
      { input: { username: 'dave', password: 'dave-password', role: 'consumer' } },
    );
    const res = await t.graphql('{ users(first: 5) { edges { node { username } } } }', {}, basicAuth('dave', 'dave-password'));
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(res.data ?? null).toBeNull();
  });
});
