import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const statusQuery = '{ deploymentStatus { version problems { severity api path message } } }';

interface StatusData {
  deploymentStatus: { version: string | null; problems: { severity: string; api: string | null; path: string; message: string }[] };
}

const createApi = `mutation($input: CreateApiInput!) { createApi(input: $input) { __typename ... on Error { message } } }`;

function apiInput(handle: string, policies: unknown[] = []) {
  return {
    input: {
      metadata: { name: handle },
      spec: {
        displayName: handle, version: 'v1', context: `/${handle}`,
        upstream: { main: { url: 'http://127.0.0.1:9' } },
        operations: [{ method: 'GET', path: '/items' }],
        policies,
      },
    },
  };
}

describe.each(shapeDrivers)('deploymentStatus (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it('reports a new configuration version after an API is created', async () => {
    const before = await t.graphql<StatusData>(statusQuery);
    expect(before.data?.deploymentStatus.problems).toEqual([]);
    expect((await t.graphql<{ createApi: { __typename: string } }>(createApi, apiInput('good-api'))).data?.createApi.__typename).toBe('CreateApiPayload');
    await t.platform.rebuildSnapshot();
    const after = await t.graphql<StatusData>(statusQuery);
    expect(after.data?.deploymentStatus.version).not.toBe(before.data?.deploymentStatus.version);
  });

  it('names an API the data planes cannot serve, and still serves the others', async () => {
    // Configuration the data planes cannot serve is refused at write time; what is left is runtime: here a JWKS URL
    // that answers nothing, so the jwt policy has no key and the API is left out (failing closed).
    const res = await t.graphql<{ createApi: { __typename: string; message?: string } }>(
      createApi,
      apiInput('keyless-jwt-api', [{ name: 'jwt', version: 'v1', params: { jwksUrl: 'http://127.0.0.1:9/jwks.json' } }]),
    );
    expect(res.data?.createApi.__typename).toBe('CreateApiPayload');
    await t.platform.rebuildSnapshot();
    const status = await t.graphql<StatusData>(statusQuery);
    const problem = status.data?.deploymentStatus.problems.find((p) => p.api === 'keyless-jwt-api');
    expect(problem).toMatchObject({ severity: 'error', path: 'spec.policies[0].params.jwksUrl' });
    const routes = JSON.stringify(t.platform.snapshots.current()?.resources.routeConfiguration);
    expect(routes).toContain('good-api/GET/');
    expect(routes).not.toContain('keyless-jwt-api/GET/');
  });

  it('is refused to consumers', async () => {
    await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
      input: { username: 'viewer', password: 'viewer-password', role: 'consumer' },
    });
    const res = await t.graphql(statusQuery, {}, basicAuth('viewer', 'viewer-password'));
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
