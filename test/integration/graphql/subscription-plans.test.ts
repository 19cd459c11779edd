import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../server/domain/ids.ts';
import { subscriptions } from '../../../server/db/schema/index.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const planFields = 'id planName billingPlan stopOnQuotaReach throttleLimitCount throttleLimitUnit expiryTime gatewayId status createdAt updatedAt';
const createPlan = `mutation($input: CreateSubscriptionPlanInput!) { createSubscriptionPlan(input: $input) {
  __typename ... on CreateSubscriptionPlanPayload { subscriptionPlan { ${planFields} } }
  ... on Error { message code } ... on ValidationError { issues { path message } } } }`;
const updatePlan = `mutation($input: UpdateSubscriptionPlanInput!) { updateSubscriptionPlan(input: $input) {
  __typename ... on UpdateSubscriptionPlanPayload { subscriptionPlan { ${planFields} } }
  ... on Error { message code } ... on ValidationError { issues { path message } } } }`;
const deletePlan = `mutation($input: DeleteSubscriptionPlanInput!) { deleteSubscriptionPlan(input: $input) {
  __typename ... on DeleteSubscriptionPlanPayload { deletedId planName } ... on Error { message code } } }`;

interface PlanView {
  id: string;
  planName: string;
  [key: string]: unknown;
}
interface PlanResult {
  __typename: string;
  subscriptionPlan?: PlanView;
  message?: string;
  code?: string;
  issues?: { path: string; message: string }[];
}

const rawId = (globalId: string): string => Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';

// Past expiries are refused at write: every expiry here stays in the future whatever year the suite runs in.
const nextYear = new Date().getUTCFullYear() + 1;
let seq = 0;
const gold = (extra: Record<string, unknown> = {}) => ({
  planName: `Gold-${++seq}`,
  billingPlan: 'COMMERCIAL',
  stopOnQuotaReach: true,
  throttleLimitCount: 1000,
  throttleLimitUnit: 'Hour',
  expiryTime: `${nextYear}-12-31T23:59:59Z`,
  status: 'ACTIVE',
  ...extra,
});

describe.each(shapeDrivers)('GraphQL subscription plans (%s)', (driver) => {
  let t: TestPlatform;
  const consumerAuth = basicAuth('con', 'consumer-password');
  const publisherAuth = basicAuth('pub', 'publisher-password');

  async function create(input: Record<string, unknown>, auth?: string): Promise<PlanResult> {
    const res = await t.graphql<{ createSubscriptionPlan: PlanResult }>(createPlan, { input }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.createSubscriptionPlan;
  }

  async function planCount(): Promise<number> {
    const res = await t.graphql<{ subscriptionPlans: { edges: unknown[] } }>('{ subscriptionPlans(first: 100) { edges { cursor } } }');
    return res.data!.subscriptionPlans.edges.length;
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['pub', 'publisher'], ['con', 'consumer']] as const) {
      await t.graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`, {
        input: { username, password: `${role}-password`, role },
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates the seed plan and reads it by id, node and list', async () => {
    const input = gold();
    const created = await create(input, publisherAuth);
    expect(created.__typename).toBe('CreateSubscriptionPlanPayload');
    expect(created.subscriptionPlan).toMatchObject({ ...input, expiryTime: `${nextYear}-12-31T23:59:59.000Z`, gatewayId: null });
    const id = created.subscriptionPlan!.id;
    const read = await t.graphql<{ subscriptionPlan: PlanView; node: PlanView; subscriptionPlans: { edges: { node: PlanView }[] } }>(
      `query($id: ID!, $name: String) { subscriptionPlan(id: $id) { planName } node(id: $id) { ... on SubscriptionPlan { planName } }
        subscriptionPlans(first: 5, planName: $name, status: ACTIVE) { edges { node { id } } } }`,
      { id, name: input.planName },
      consumerAuth,
    );
    expect(read.data).toEqual({ subscriptionPlan: { planName: input.planName }, node: { planName: input.planName }, subscriptionPlans: { edges: [{ node: { id } }] } });
  });

  it('defaults stopOnQuotaReach to true when it is not given', async () => {
    const created = await create({ planName: `Bare-${++seq}` });
    expect(created.subscriptionPlan).toMatchObject({ stopOnQuotaReach: true, status: 'ACTIVE', throttleLimitCount: null });
  });

  it('returns ValidationError with field paths and writes nothing when count and unit break the rules', async () => {
    const before = await planCount();
    const zero = await create(gold({ throttleLimitCount: 0 }));
    expect(zero).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', issues: [{ path: 'throttleLimitCount', message: 'throttleLimitCount must be an integer greater than 0' }] });
    const alone = await create(gold({ throttleLimitUnit: null }));
    expect(alone.issues).toEqual([{ path: 'throttleLimitUnit', message: 'throttleLimitUnit is required when throttleLimitCount is set' }]);
    const blank = await create(gold({ planName: '' }));
    expect(blank.issues).toEqual([{ path: 'planName', message: 'planName is required' }]);
    expect(await planCount()).toBe(before);
  });

  it('rejects an unknown unit at the GraphQL layer when it is not an enum value', async () => {
    const res = await t.graphql(createPlan, { input: gold({ throttleLimitUnit: 'Week' }) });
    expect(res.errors?.[0]?.message).toMatch(/ThrottleLimitUnit/);
  });

  it('returns ConflictError when the planName is taken', async () => {
    const first = await create(gold());
    const again = await create(gold({ planName: first.subscriptionPlan!.planName }));
    expect(again).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT', message: `subscription plan '${first.subscriptionPlan!.planName}' already exists` });
  });

  it('merges an update and refuses a half throttle pair', async () => {
    const plan = (await create(gold())).subscriptionPlan!;
    const updated = await t.graphql<{ updateSubscriptionPlan: PlanResult }>(updatePlan, { input: { id: plan.id, status: 'INACTIVE', billingPlan: null } }, publisherAuth);
    expect(updated.data!.updateSubscriptionPlan.subscriptionPlan).toMatchObject({ planName: plan.planName, status: 'INACTIVE', billingPlan: null, throttleLimitCount: 1000 });
    const half = await t.graphql<{ updateSubscriptionPlan: PlanResult }>(updatePlan, { input: { id: plan.id, throttleLimitUnit: null } });
    expect(half.data!.updateSubscriptionPlan.issues).toEqual([{ path: 'throttleLimitUnit', message: 'throttleLimitUnit is required when throttleLimitCount is set' }]);
    const missing = await t.graphql<{ updateSubscriptionPlan: PlanResult }>(updatePlan, { input: { id: Buffer.from('SubscriptionPlan:spl_nope').toString('base64'), status: 'ACTIVE' } });
    expect(missing.data!.updateSubscriptionPlan.__typename).toBe('NotFoundError');
  });

  it('returns ConflictError on delete while a subscription uses the plan, then deletes it', async () => {
    const plan = (await create(gold())).subscriptionPlan!;
    const api = await t.graphql<{ createApi: { api: { id: string } } }>(
      `mutation($input: CreateApiInput!) { createApi(input: $input) { ... on CreateApiPayload { api { id } } } }`,
      { input: { metadata: { name: `sp-api-${seq}` }, spec: { displayName: `SP-API-${seq}`, version: 'v1', context: `/sp-${seq}`, upstream: { main: { url: 'http://up' } }, operations: [{ method: 'GET', path: '/' }] } } },
    );
    const subscriptionId = newId('subscription');
    await t.platform.database.db.insert(subscriptions).values({ id: subscriptionId, apiId: rawId(api.data!.createApi.api.id), subscriptionPlanId: rawId(plan.id), status: 'ACCEPTED' });
    const refused = await t.graphql<{ deleteSubscriptionPlan: PlanResult }>(deletePlan, { input: { id: plan.id } }, publisherAuth);
    expect(refused.status).toBe(200);
    expect(refused.data!.deleteSubscriptionPlan).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    const { eq } = await import('drizzle-orm');
    await t.platform.database.db.delete(subscriptions).where(eq(subscriptions.id, subscriptionId));
    const deleted = await t.graphql<{ deleteSubscriptionPlan: { __typename: string; deletedId: string } }>(deletePlan, { input: { id: plan.id } }, publisherAuth);
    expect(deleted.data!.deleteSubscriptionPlan).toEqual({ __typename: 'DeleteSubscriptionPlanPayload', deletedId: plan.id, planName: plan.planName });
    const audit = await t.graphql<{ auditLog: { edges: { node: { action: string } }[] } }>(
      `query($id: String) { auditLog(first: 10, entityId: $id) { edges { node { action } } } }`,
      { id: rawId(plan.id) },
    );
    expect(audit.data!.auditLog.edges.map((e) => e.node.action).sort()).toEqual(['subscription-plan.create', 'subscription-plan.delete']);
  });

  it('forbids a consumer every write and writes nothing', async () => {
    const plan = (await create(gold())).subscriptionPlan!;
    const before = await planCount();
    const created = await t.graphql<{ createSubscriptionPlan: PlanResult | null }>(createPlan, { input: gold() }, consumerAuth);
    const updated = await t.graphql<{ updateSubscriptionPlan: PlanResult | null }>(updatePlan, { input: { id: plan.id, status: 'INACTIVE' } }, consumerAuth);
    const deleted = await t.graphql<{ deleteSubscriptionPlan: PlanResult | null }>(deletePlan, { input: { id: plan.id } }, consumerAuth);
    for (const res of [created, updated, deleted]) {
      const data = res.data as Record<string, PlanResult | null> | undefined;
      const typed = data ? Object.values(data)[0]?.__typename : undefined;
      expect(typed === 'ForbiddenError' || res.errors?.[0]?.extensions?.code === 'FORBIDDEN').toBe(true);
    }
    expect(await planCount()).toBe(before);
  });
});
