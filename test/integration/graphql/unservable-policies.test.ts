import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPolicies } from '../../../server/db/schema/index.ts';
import { newId } from '../../../server/domain/ids.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const rawOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':').slice(1).join(':');
const errorFields = `... on Error { message code } ... on ValidationError { issues { path message } }`;
const createApi = `mutation($input: CreateApiInput!) { createApi(input: $input) { __typename ... on CreateApiPayload { api { id } } ${errorFields} } }`;
const createPlan = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { __typename ... on CreatePlanPayload { plan { id } } ${errorFields} } }`;
const updatePlan = `mutation($input: UpdatePlanInput!) { updatePlan(input: $input) { __typename ${errorFields} } }`;
const publishPlan = `mutation($input: PublishPlanInput!) { publishPlan(input: $input) { __typename ${errorFields} } }`;

interface Result {
  __typename: string;
  api?: { id: string };
  plan?: { id: string };
  issues?: { path: string; message: string }[];
}

// Issue 12 item 2: plan policies and conditions no data plane serves used to be stored and, once the plan was
// published, took the whole API off traffic (404 for everyone). They are refused at write time, naming the field.
describe.each(shapeDrivers)('GraphQL refuses policies no data plane serves (%s)', (driver) => {
  let t: TestPlatform;
  let apiGid: string;

  async function mutate(query: string, input: Record<string, unknown>): Promise<Result> {
    const res = await t.graphql<Record<string, Result>>(query, { input });
    expect(res.errors).toBeUndefined();
    return Object.values(res.data!)[0]!;
  }
  const plan = (policies: unknown[]) => mutate(createPlan, { apiId: apiGid, name: 'Gold', security: { type: 'KEYLESS' }, policies });

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    const api = await mutate(createApi, {
      metadata: { name: 'served' },
      spec: { displayName: 'served', version: 'v1', context: '/served', upstream: { main: { url: 'http://127.0.0.1:9' } }, operations: [{ method: 'GET', path: '/items' }] },
    });
    apiGid = api.api!.id;
  });
  afterAll(async () => {
    await t.close();
  });

  it('returns a ValidationError at policies[0].name when a plan policy is interceptor-service', async () => {
    const res = await plan([{ name: 'interceptor-service', version: 'v1', params: { url: 'http://interceptor.internal' } }]);
    expect(res).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[0].name', message: expect.stringContaining("Unknown policy 'interceptor-service'") }] });
  });

  it('returns a ValidationError at policies[0].name when a plan policy is cors (API and operations only)', async () => {
    const res = await plan([{ name: 'cors', version: 'v1', params: { allowedOrigins: ['*'] } }]);
    expect(res).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[0].name', message: expect.stringContaining('cannot be attached to a plan') }] });
  });

  it('returns a ValidationError at policies[i].name when a plan policy kind cannot run per plan', async () => {
    const res = await plan([
      { name: 'throttle', version: 'v1', params: { limits: [{ requests: 10, duration: '1m' }] } },
      { name: 'api-key', version: 'v1', params: { key: 'x-api-key', in: 'header' } },
    ]);
    expect(res).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[1].name', message: expect.stringContaining('cannot be attached to a plan') }] });
    const staging = await plan([]);
    const update = await mutate(updatePlan, { id: staging.plan!.id, policies: [{ name: 'subscription-validation', version: 'v1' }] });
    expect(update).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[0].name' }] });
  });

  it('returns a ValidationError at executionCondition on plan and API policies', async () => {
    const conditioned = { name: 'set-headers', version: 'v1', executionCondition: 'request.path == "/x"', params: { request: { headers: [{ name: 'x-a', value: '1' }] } } };
    expect(await plan([conditioned])).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[0].executionCondition' }] });
    const api = await mutate(createApi, {
      metadata: { name: 'conditioned' },
      spec: {
        displayName: 'conditioned', version: 'v1', context: '/conditioned', upstream: { main: { url: 'http://127.0.0.1:9' } },
        operations: [{ method: 'GET', path: '/items', policies: [conditioned] }],
      },
    });
    expect(api).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'spec.operations[0].policies[0].executionCondition' }] });
  });

  it('returns a ValidationError naming the later plan policy when two cannot be combined', async () => {
    const users = (name: string) => ({ name: 'basic-auth', version: 'v1', params: { realm: 'ops', users: [{ username: name, password: `${name}-password` }] } });
    const res = await plan([users('alice'), users('bob')]);
    expect(res).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[1]', message: expect.stringContaining('two different basic-auth policies') }] });
  });

  it('refuses to publish a plan stored with a policy no data plane serves (a row from before these rules)', async () => {
    const staging = await plan([]);
    await t.platform.database.db.insert(planPolicies).values({ id: newId('policy'), planId: rawOf(staging.plan!.id), position: 0, name: 'interceptor-service', version: 'v1', params: { url: 'http://interceptor.internal' } });
    const res = await mutate(publishPlan, { id: staging.plan!.id });
    expect(res).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'policies[0].name' }] });
    await t.platform.database.db.delete(planPolicies).where(eq(planPolicies.planId, rawOf(staging.plan!.id)));
    expect((await mutate(publishPlan, { id: staging.plan!.id })).__typename).toBe('PublishPlanPayload');
  });
});
