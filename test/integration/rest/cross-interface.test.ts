import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

type Json = Record<string, unknown>;

/** GraphQL data or a thrown error with the whole answer, so a failing step says why. */
async function gql<T>(t: TestPlatform, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await t.graphql<T>(query, variables);
  if (res.errors || !res.data) throw new Error(JSON.stringify(res));
  return res.data;
}

const apiByHandle = `query($h: String!) { apiByHandle(handle: $h) {
  id handle displayName version context resolvedContext deploymentState
  operations { method path } policies { name version params }
  apiKeys { id name masked status }
} }`;

interface GqlApi {
  id: string;
  handle: string;
  displayName: string;
  version: string;
  context: string;
  resolvedContext: string;
  deploymentState: string;
  operations: { method: string; path: string }[];
  policies: { name: string; version: string; params: unknown }[];
  apiKeys: { id: string; name: string; masked: string; status: string }[];
}

describe.each(shapeDrivers)('REST and GraphQL over the same domain (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const readApi = async (handle: string) => (await gql<{ apiByHandle: GqlApi | null }>(t, apiByHandle, { h: handle })).apiByHandle;

  describe('rest-apis', () => {
    it('an API made over REST reads the same over GraphQL', async () => {
      expect((await rest.post('/rest-apis', seedRestApi)).status).toBe(201);
      const api = await readApi('reading-list-api-v1.0');
      expect(api).toMatchObject({
        handle: 'reading-list-api-v1.0',
        displayName: 'Reading-List-API',
        version: 'v1.0',
        context: '/reading-list/$version',
        resolvedContext: '/reading-list/v1.0',
        deploymentState: 'deployed',
        operations: seedRestApi.spec.operations,
        policies: [{ name: 'set-headers', version: 'v1', params: seedRestApi.spec.policies[0].params }],
      });
    });

    it('an API changed over GraphQL reads changed over REST (update, then undeploy)', async () => {
      const api = await readApi('reading-list-api-v1.0');
      const updated = await gql<{ updateApi: { __typename: string } }>(
        t,
        `mutation($input: UpdateApiInput!) { updateApi(input: $input) { __typename ... on Error { message } } }`,
        {
          input: {
            id: api?.id,
            spec: {
              displayName: 'Reading-List-API-2',
              version: 'v2.0',
              context: '/reading-list/$version',
              upstream: { main: { url: 'https://books.example/v2' } },
              operations: [{ method: 'GET', path: '/books' }],
            },
          },
        },
      );
      expect(updated.updateApi.__typename).toBe('UpdateApiPayload');
      const read = await rest.get<Json>('/rest-apis/reading-list-api-v1.0');
      expect(read.body).toMatchObject({
        metadata: { name: 'reading-list-api-v1.0' },
        spec: { displayName: 'Reading-List-API-2', version: 'v2.0', upstream: { main: { url: 'https://books.example/v2' } }, operations: [{ method: 'GET', path: '/books' }] },
      });
      expect(read.body.spec).not.toHaveProperty('policies');
      const list = await rest.get<{ apis: { spec: { context: string } }[] }>('/rest-apis?version=v2.0');
      expect(list.body.apis.map((a) => a.spec.context)).toEqual(['/reading-list/v2.0']);

      const undeployed = await gql<{ undeployApi: { __typename: string } }>(
        t,
        `mutation($input: UndeployApiInput!) { undeployApi(input: $input) { __typename } }`,
        { input: { id: api?.id } },
      );
      expect(undeployed.undeployApi.__typename).toBe('UndeployApiPayload');
      const off = await rest.get<Json>('/rest-apis/reading-list-api-v1.0');
      expect(off.body).toMatchObject({ status: { state: 'undeployed' } });
      expect(off.body.status).not.toHaveProperty('deployedAt');
    });

    it('keeps allowMethodOverride a GraphQL field: a REST body cannot set it and the v0.9 shape does not show it', async () => {
      const body = {
        ...seedRestApi,
        metadata: { name: 'override-over-rest' },
        spec: { ...seedRestApi.spec, context: '/override-rest/$version', operations: [{ method: 'POST', path: '/books', allowMethodOverride: true }] },
      };
      expect((await rest.post('/rest-apis', body)).status).toBe(201);
      const read = await gql<{ apiByHandle: { operations: { allowMethodOverride: boolean }[] } }>(
        t, 'query($h: String!) { apiByHandle(handle: $h) { operations { allowMethodOverride } } }', { h: 'override-over-rest' },
      );
      expect(read.apiByHandle.operations).toEqual([{ allowMethodOverride: false }]);

      const created = await gql<{ createApi: { __typename: string } }>(
        t,
        `mutation($input: CreateApiInput!) { createApi(input: $input) { __typename } }`,
        {
          input: {
            metadata: { name: 'override-over-graphql' },
            spec: {
              displayName: 'Override', version: 'v1', context: '/override-gql/$version', upstream: { main: { url: 'https://override.example' } },
              operations: [{ method: 'POST', path: '/orders', allowMethodOverride: true }],
            },
          },
        },
      );
      expect(created.createApi.__typename).toBe('CreateApiPayload');
      const shown = await rest.get<{ spec: { operations: unknown[] } }>('/rest-apis/override-over-graphql');
      expect(shown.body.spec.operations).toEqual([{ method: 'POST', path: '/orders' }]);
    });

    it('an API made over GraphQL reads in the v0.9 shape over REST, and deleted over GraphQL is gone from REST', async () => {
      const created = await gql<{ createApi: { __typename: string; api?: { id: string } } }>(
        t,
        `mutation($input: CreateApiInput!) { createApi(input: $input) { __typename ... on CreateApiPayload { api { id } } } }`,
        {
          input: {
            metadata: { name: 'made-in-graphql', labels: [{ key: 'team', value: 'books' }] },
            spec: {
              displayName: 'Made-In-GraphQL',
              version: 'v1',
              context: '/made/$version',
              upstream: { main: { url: 'https://made.example' } },
              operations: [{ method: 'POST', path: '/orders/{orderId}' }],
            },
          },
        },
      );
      expect(created.createApi.__typename).toBe('CreateApiPayload');
      const read = await rest.get<Json>('/rest-apis/made-in-graphql');
      expect(read.body).toEqual({
        apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
        kind: 'RestApi',
        metadata: { name: 'made-in-graphql', labels: { team: 'books' } },
        spec: {
          displayName: 'Made-In-GraphQL',
          version: 'v1',
          context: '/made/$version',
          upstream: { main: { url: 'https://made.example' } },
          operations: [{ method: 'POST', path: '/orders/{orderId}' }],
        },
        status: { id: 'made-in-graphql', state: 'deployed', createdAt: expect.any(String), updatedAt: expect.any(String), deployedAt: expect.any(String) },
      });
      const deleted = await gql<{ deleteApi: { __typename: string } }>(
        t,
        `mutation($input: DeleteApiInput!) { deleteApi(input: $input) { __typename } }`,
        { input: { id: created.createApi.api?.id } },
      );
      expect(deleted.deleteApi.__typename).toBe('DeleteApiPayload');
      expect((await rest.get('/rest-apis/made-in-graphql')).status).toBe(404);
    });
  });

  describe('api-keys', () => {
    it('a key made over REST is listed masked over GraphQL; revoked over GraphQL it leaves the REST list', async () => {
      await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'keys-api' }, spec: { ...seedRestApi.spec, displayName: 'Keys-API', context: '/keys' } });
      const made = await rest.post<{ apiKey: { apiKey: string } }>('/rest-apis/keys-api/api-keys', { name: 'rest-made' });
      const api = await readApi('keys-api');
      expect(api?.apiKeys).toEqual([expect.objectContaining({ name: 'rest-made', status: 'active', masked: `***${made.body.apiKey.apiKey.slice(-5)}` })]);
      const revoked = await gql<{ revokeApiKey: { __typename: string } }>(
        t,
        `mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { __typename } }`,
        { input: { id: api?.apiKeys[0]?.id } },
      );
      expect(revoked.revokeApiKey.__typename).toBe('RevokeApiKeyPayload');
      expect((await rest.get('/rest-apis/keys-api/api-keys')).body).toMatchObject({ totalCount: 0 });
    });

    it('a key made over GraphQL is listed over REST', async () => {
      const api = await readApi('keys-api');
      const made = await gql<{ createApiKey: { __typename: string } }>(
        t,
        `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename ... on Error { message } } }`,
        { input: { apiId: api?.id, name: 'graphql-made' } },
      );
      expect(made.createApiKey.__typename).toBe('CreateApiKeyPayload');
      const list = await rest.get<{ apiKeys: { name: string; apiId: string }[] }>('/rest-apis/keys-api/api-keys');
      expect(list.body.apiKeys).toEqual([expect.objectContaining({ name: 'graphql-made', apiId: 'keys-api' })]);
    });
  });

  describe('subscription-plans', () => {
    it('a plan made over REST reads over GraphQL; updated over GraphQL it reads updated over REST', async () => {
      const made = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Silver', throttleLimitCount: 100, throttleLimitUnit: 'Min' });
      const read = await gql<{ subscriptionPlans: { edges: { node: { id: string; planName: string; throttleLimitCount: number; throttleLimitUnit: string; status: string } }[] } }>(
        t,
        `query { subscriptionPlans(planName: "Silver") { edges { node { id planName throttleLimitCount throttleLimitUnit status } } } }`,
      );
      const node = read.subscriptionPlans.edges[0]?.node;
      expect(node).toMatchObject({ planName: 'Silver', throttleLimitCount: 100, throttleLimitUnit: 'Min', status: 'ACTIVE' });
      const updated = await gql<{ updateSubscriptionPlan: { __typename: string } }>(
        t,
        `mutation($input: UpdateSubscriptionPlanInput!) { updateSubscriptionPlan(input: $input) { __typename } }`,
        { input: { id: node?.id, status: 'INACTIVE', throttleLimitCount: 50 } },
      );
      expect(updated.updateSubscriptionPlan.__typename).toBe('UpdateSubscriptionPlanPayload');
      expect((await rest.get(`/subscription-plans/${made.body.id}`)).body).toMatchObject({ planName: 'Silver', status: 'INACTIVE', throttleLimitCount: 50, throttleLimitUnit: 'Min' });
    });
  });

  describe('subscriptions', () => {
    it('a subscription made over REST reads over GraphQL (token never readable); paused over GraphQL it reads INACTIVE over REST', async () => {
      await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'subs-api' }, spec: { ...seedRestApi.spec, displayName: 'Subs-API', context: '/subs' } });
      const made = await rest.post<{ id: string }>('/subscriptions', { apiId: 'subs-api', subscriptionToken: 'cross-token', applicationId: 'ext-app', billingCustomerId: 'cus_7' });
      expect(made.status).toBe(201);
      const api = await readApi('subs-api');
      const read = await gql<{ subscriptions: { edges: { node: { id: string; status: string; hasToken: boolean; applicationRef: string; billingCustomerId: string } }[] } }>(
        t,
        `query($api: ID!) { subscriptions(apiId: $api) { edges { node { id status hasToken applicationRef billingCustomerId } } } }`,
        { api: api?.id },
      );
      const node = read.subscriptions.edges[0]?.node;
      expect(node).toMatchObject({ status: 'ACCEPTED', hasToken: true, applicationRef: 'ext-app', billingCustomerId: 'cus_7' });
      const paused = await gql<{ pauseSubscription: { __typename: string } }>(
        t,
        `mutation($input: PauseSubscriptionInput!) { pauseSubscription(input: $input) { __typename ... on Error { message } } }`,
        { input: { id: node?.id } },
      );
      expect(paused.pauseSubscription.__typename).toBe('PauseSubscriptionPayload');
      expect((await rest.get(`/subscriptions/${made.body.id}`)).body).toMatchObject({ id: made.body.id, apiId: 'subs-api', status: 'INACTIVE' });
    });
  });

  describe('users', () => {
    it('a consumer made over GraphQL is refused (403) a manager route over REST', async () => {
      await gql(t, `mutation { createUser(input: { username: "cross-consumer", password: "consumer-pass-1", role: consumer }) { __typename } }`);
      const res = await rest.post('/subscription-plans', { planName: 'Nope' }, { auth: `Basic ${Buffer.from('cross-consumer:consumer-pass-1').toString('base64')}` });
      expect(res.status).toBe(403);
    });
  });
});
