import { encodeGlobalID } from '@pothos/plugin-relay';
import { eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../server/db/client.ts';
import { apis, applications, plans, users } from '../../../server/db/schema/index.ts';
import { type Actor, ChangeFeed, defaultSettings } from '../../../server/domain/context.ts';
import { newId } from '../../../server/domain/ids.ts';
import { toSchema } from '../../../server/graphql/schema/index.ts';
import { createGraphQLServer } from '../../../server/graphql/yoga.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const pubAuth = basicAuth('pub', 'pub-password');
const aliceAuth = basicAuth('alice', 'alice-password');
const bobAuth = basicAuth('bob', 'bob-password');

type Typed = { __typename: string; [field: string]: unknown };

const SUBSCRIBE = `mutation($input: SubscribeInput!) { subscribe(input: $input) { __typename
  ... on SubscribePayload { subscription { id status usesSharedKey api { handle } plan { name } application { name } keys { id masked status owner } }
    issuedKey { value key { id masked status owner } } }
  ... on Error { message code }
  ... on InvalidTransitionError { from }
  ... on ValidationError { issues { path message } } } }`;

const lifecycle = (name: string, extra = '') => `mutation($input: ${name.charAt(0).toUpperCase()}${name.slice(1)}Input!) { ${name}(input: $input) { __typename
  ... on ${name.charAt(0).toUpperCase()}${name.slice(1)}Payload { subscription { id status reason plan { id } } ${extra} }
  ... on Error { message code }
  ... on ValidationError { issues { path } } } }`;

describe.each(shapeDrivers)('GraphQL subscriptions (%s)', (driver) => {
  let t: TestPlatform;
  let db: Database;
  let n = 0;
  const ids: Record<string, string> = {};

  async function makeApi(
    visibility: 'public' | 'private' = 'public',
    deploymentState: 'deployed' | 'undeployed' = 'deployed',
  ): Promise<{ id: string; handle: string }> {
    const id = newId('api');
    const handle = `gql-sub-api-${++n}`;
    // Owned by `pub`: publishers process subscriptions of the APIs they manage only.
    await db
      .insert(apis)
      .values({ id, handle, displayName: `Api ${n}`, version: 'v1', context: `/s${n}`, visibility, deploymentState, ownerId: ids.pub ?? null });
    return { id, handle };
  }

  async function makePlan(
    apiId: string,
    options: { security?: 'API_KEY' | 'JWT' | 'KEYLESS'; validation?: 'AUTO' | 'MANUAL'; status?: 'STAGING' | 'PUBLISHED' | 'DEPRECATED' } = {},
  ): Promise<string> {
    const id = newId('plan');
    await db.insert(plans).values({
      id,
      apiId,
      lineageId: id,
      name: `plan-${++n}`,
      security: options.security ?? 'API_KEY',
      validation: options.validation ?? 'AUTO',
      status: options.status ?? 'PUBLISHED',
    });
    return id;
  }

  async function makeApp(owner: 'alice' | 'bob', clientId: string | null = null): Promise<string> {
    const id = newId('application');
    await db.insert(applications).values({ id, name: `app-${++n}`, ownerId: ids[owner]!, clientId });
    return id;
  }

  async function doSubscribe(input: Record<string, unknown>, auth: string): Promise<Typed> {
    const res = await t.graphql<{ subscribe: Typed }>(SUBSCRIBE, { input }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.subscribe;
  }

  const gApp = (id: string) => encodeGlobalID('Application', id);
  const gPlan = (id: string) => encodeGlobalID('Plan', id);

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    db = t.platform.database.db;
    for (const [username, role] of [
      ['pub', 'publisher'],
      ['alice', 'consumer'],
      ['bob', 'consumer'],
    ] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
        input: { username, password: `${username}-password`, role },
      });
      const [row] = await db.select().from(users).where(eq(users.username, username));
      ids[username] = row!.id;
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('accepts an AUTO API-key subscription at once and shows the key value exactly once', async () => {
    const api = await makeApi();
    const planId = await makePlan(api.id);
    const appId = await makeApp('alice');
    const result = await doSubscribe({ applicationId: gApp(appId), planId: gPlan(planId) }, aliceAuth);
    expect(result.__typename).toBe('SubscribePayload');
    const payload = result as unknown as {
      subscription: { id: string; status: string; api: { handle: string }; keys: { masked: string; owner: string }[] };
      issuedKey: { value: string; key: { masked: string } };
    };
    expect(payload.subscription).toMatchObject({ status: 'ACCEPTED', api: { handle: api.handle }, usesSharedKey: false });
    expect(payload.issuedKey.value).toMatch(/^apip_[0-9a-f]{64}$/);
    expect(payload.subscription.keys).toEqual([expect.objectContaining({ masked: payload.issuedKey.key.masked, owner: 'subscription', status: 'active' })]);

    const again = await t.graphql<{ subscription: unknown }>(
      `query($id: ID!) { subscription(id: $id) { id status keys { id masked status } application { name } plan { name } } }`,
      { id: payload.subscription.id },
      aliceAuth,
    );
    expect(JSON.stringify(again)).not.toContain(payload.issuedKey.value);
    expect(JSON.stringify(again)).toContain(payload.issuedKey.key.masked);
  });

  it.each(['STAGING', 'DEPRECATED'] as const)('returns InvalidTransitionError when subscribing to a %s plan', async (status) => {
    const planId = await makePlan((await makeApi()).id, { status });
    const result = await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId) }, pubAuth);
    expect(result).toMatchObject({ __typename: 'InvalidTransitionError', code: 'INVALID_TRANSITION', from: status });
  });

  it('returns ConflictError for a second live subscription of the same application and plan', async () => {
    const planId = await makePlan((await makeApi()).id, { security: 'JWT' });
    const appId = await makeApp('alice', `gql-client-${++n}`);
    expect((await doSubscribe({ applicationId: gApp(appId), planId: gPlan(planId) }, aliceAuth)).__typename).toBe('SubscribePayload');
    expect(await doSubscribe({ applicationId: gApp(appId), planId: gPlan(planId) }, aliceAuth)).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
  });

  it('returns ValidationError on planId when a publisher subscribes to a plan of an API that is not deployed', async () => {
    const planId = await makePlan((await makeApi('public', 'undeployed')).id);
    const result = await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId) }, pubAuth);
    expect(result).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'planId' }] });
  });

  it('returns ValidationError on applicationId when an application without a clientId subscribes to a JWT plan', async () => {
    const planId = await makePlan((await makeApi()).id, { security: 'JWT' });
    const result = await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId) }, aliceAuth);
    expect(result).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'applicationId' }] });
  });

  it('returns ValidationError with the field path for an invalid custom key', async () => {
    const planId = await makePlan((await makeApi()).id);
    const result = await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId), customApiKey: 'has#hash' }, aliceAuth);
    expect(result).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'customApiKey' }] });
  });

  it("returns NotFoundError when a consumer subscribes another consumer's application", async () => {
    const planId = await makePlan((await makeApi()).id);
    const result = await doSubscribe({ applicationId: gApp(await makeApp('bob')), planId: gPlan(planId) }, aliceAuth);
    expect(result).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  it('runs the MANUAL approval flow: pending, forbidden to the consumer, approved by a publisher with a key', async () => {
    const planId = await makePlan((await makeApi()).id, { validation: 'MANUAL' });
    const pending = (await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId), requestMessage: 'hi' }, aliceAuth)) as unknown as {
      subscription: { id: string; status: string };
      issuedKey: null;
    };
    expect(pending).toMatchObject({ subscription: { status: 'PENDING' }, issuedKey: null });
    const approve = lifecycle('approveSubscription', 'issuedKey { value key { masked } }');
    const byConsumer = await t.graphql<{ approveSubscription: Typed }>(approve, { input: { id: pending.subscription.id } }, aliceAuth);
    expect(byConsumer.data?.approveSubscription).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const byOther = await t.graphql<{ approveSubscription: Typed }>(approve, { input: { id: pending.subscription.id } }, bobAuth);
    expect(byOther.data?.approveSubscription.__typename).toBe('NotFoundError');
    const approved = await t.graphql<{ approveSubscription: { subscription: { status: string; reason: string }; issuedKey: { value: string } } }>(
      approve,
      { input: { id: pending.subscription.id, reason: 'welcome' } },
      pubAuth,
    );
    expect(approved.data?.approveSubscription).toMatchObject({ subscription: { status: 'ACCEPTED', reason: 'welcome' } });
    expect(approved.data?.approveSubscription.issuedKey.value).toMatch(/^apip_/);
    const twice = await t.graphql<{ approveSubscription: Typed }>(approve, { input: { id: pending.subscription.id } }, pubAuth);
    expect(twice.data?.approveSubscription).toMatchObject({ __typename: 'InvalidTransitionError' });
    const reject = await t.graphql<{ rejectSubscription: Typed }>(lifecycle('rejectSubscription'), { input: { id: pending.subscription.id } }, pubAuth);
    expect(reject.data?.rejectSubscription.__typename).toBe('InvalidTransitionError');
  });

  it('rejects a pending subscription with a reason', async () => {
    const planId = await makePlan((await makeApi()).id, { validation: 'MANUAL' });
    const pending = (await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(planId) }, aliceAuth)) as unknown as {
      subscription: { id: string };
    };
    const res = await t.graphql<{ rejectSubscription: Typed }>(lifecycle('rejectSubscription'), { input: { id: pending.subscription.id, reason: 'sorry' } }, pubAuth);
    expect(res.data?.rejectSubscription).toMatchObject({ __typename: 'RejectSubscriptionPayload', subscription: { status: 'REJECTED', reason: 'sorry' } });
  });

  it('pauses, resumes, transfers and closes through mutations, refusing wrong transitions', async () => {
    const apiId = (await makeApi()).id;
    const from = await makePlan(apiId);
    const to = await makePlan(apiId);
    const jwt = await makePlan(apiId, { security: 'JWT' });
    const sub = (await doSubscribe({ applicationId: gApp(await makeApp('alice')), planId: gPlan(from) }, aliceAuth)) as unknown as { subscription: { id: string } };
    const id = sub.subscription.id;
    const call = async (name: string, input: Record<string, unknown>, auth = pubAuth) =>
      (await t.graphql<Record<string, Typed>>(lifecycle(name), { input }, auth)).data?.[name];

    expect(await call('resumeSubscription', { id })).toMatchObject({ __typename: 'InvalidTransitionError' });
    expect(await call('pauseSubscription', { id }, aliceAuth)).toMatchObject({ __typename: 'ForbiddenError' });
    expect(await call('pauseSubscription', { id, reason: 'maintenance' })).toMatchObject({ subscription: { status: 'PAUSED', reason: 'maintenance' } });
    expect(await call('resumeSubscription', { id })).toMatchObject({ subscription: { status: 'ACCEPTED' } });
    expect(await call('transferSubscription', { id, planId: gPlan(jwt) })).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'planId' }] });
    expect(await call('transferSubscription', { id, planId: gPlan(to) })).toMatchObject({ subscription: { plan: { id: gPlan(to) } } });
    expect(await call('closeSubscription', { id }, bobAuth)).toMatchObject({ __typename: 'NotFoundError' });
    expect(await call('closeSubscription', { id, reason: 'bye' }, aliceAuth)).toMatchObject({ subscription: { status: 'CLOSED', reason: 'bye' } });
    expect(await call('closeSubscription', { id })).toMatchObject({ __typename: 'InvalidTransitionError' });
    const keys = await t.graphql<{ subscription: { keys: { status: string }[] } }>(`query($id: ID!) { subscription(id: $id) { keys { status } } }`, { id }, aliceAuth);
    expect(keys.data?.subscription.keys).toEqual([{ status: 'revoked' }]);
  });

  it('shares one key across two APIs and lets only the owner revoke it', async () => {
    const appId = await makeApp('alice');
    const first = (await doSubscribe({ applicationId: gApp(appId), planId: gPlan(await makePlan((await makeApi()).id)) }, aliceAuth)) as unknown as {
      issuedKey: { value: string; key: { id: string } };
    };
    const second = (await doSubscribe(
      { applicationId: gApp(appId), planId: gPlan(await makePlan((await makeApi()).id)), apiKeyMode: 'SHARED' },
      aliceAuth,
    )) as unknown as { subscription: { usesSharedKey: boolean; keys: { id: string; owner: string }[] }; issuedKey: null };
    expect(second.issuedKey).toBeNull();
    expect(second.subscription.usesSharedKey).toBe(true);
    expect(second.subscription.keys).toEqual([expect.objectContaining({ id: first.issuedKey.key.id, owner: 'application' })]);

    const app = await t.graphql<{ application: { apiKeyMode: string; sharedKey: { id: string }; subscriptions: { usesSharedKey: boolean }[] } }>(
      `query($id: ID!) { application(id: $id) { apiKeyMode sharedKey { id masked } subscriptions { usesSharedKey } } }`,
      { id: gApp(appId) },
      aliceAuth,
    );
    expect(app.data?.application).toMatchObject({ apiKeyMode: 'SHARED', sharedKey: { id: first.issuedKey.key.id }, subscriptions: [{ usesSharedKey: true }, { usesSharedKey: true }] });

    const revoke = `mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { __typename ... on RevokeApiKeyPayload { apiKey { status } } ... on Error { code } } }`;
    const byPublisher = await t.graphql<{ revokeApiKey: Typed }>(revoke, { input: { id: first.issuedKey.key.id } }, pubAuth);
    expect(byPublisher.data?.revokeApiKey).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const byStranger = await t.graphql<{ revokeApiKey: Typed }>(revoke, { input: { id: first.issuedKey.key.id } }, bobAuth);
    expect(byStranger.data?.revokeApiKey.__typename).toBe('NotFoundError');
    const byOwner = await t.graphql<{ revokeApiKey: Typed }>(revoke, { input: { id: first.issuedKey.key.id } }, aliceAuth);
    expect(byOwner.data?.revokeApiKey).toMatchObject({ __typename: 'RevokeApiKeyPayload', apiKey: { status: 'revoked' } });
  });

  it("hides another consumer's subscriptions from queries", async () => {
    const planId = await makePlan((await makeApi()).id, { security: 'JWT' });
    const bobs = (await doSubscribe({ applicationId: gApp(await makeApp('bob', `gql-client-${++n}`)), planId: gPlan(planId) }, bobAuth)) as unknown as { subscription: { id: string } };
    const one = await t.graphql<{ subscription: unknown }>(`query($id: ID!) { subscription(id: $id) { id } }`, { id: bobs.subscription.id }, aliceAuth);
    expect(one.data?.subscription).toBeNull();
    const node = await t.graphql<{ node: unknown }>(`query($id: ID!) { node(id: $id) { id } }`, { id: bobs.subscription.id }, aliceAuth);
    expect(node.data?.node ?? null).toBeNull();
    const list = await t.graphql<{ subscriptions: { nodes: { id: string }[] } }>(
      `query($plan: ID!) { subscriptions(planId: $plan, first: 50) { nodes { id } } }`,
      { plan: gPlan(planId) },
      aliceAuth,
    );
    expect(list.data?.subscriptions.nodes).toEqual([]);
    const asPublisher = await t.graphql<{ subscriptions: { nodes: { id: string }[] } }>(
      `query($plan: ID!) { subscriptions(planId: $plan, status: [ACCEPTED], first: 50) { nodes { id } } }`,
      { plan: gPlan(planId) },
      pubAuth,
    );
    expect(asPublisher.data?.subscriptions.nodes).toEqual([{ id: bobs.subscription.id }]);
  });

  it('answers 401 without credentials', async () => {
    const res = await t.graphql(SUBSCRIBE, { input: { applicationId: gApp('x'), planId: gPlan('y') } }, null);
    expect(res.status).toBe(401);
  });

  it('loads a page of APIs -> plans -> subscriptions -> application and keys in a constant number of queries', async () => {
    const admin: Actor = { userId: null, username: 'system', role: 'admin' };
    let queries = 0;
    const counting = new Proxy(db, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (prop === 'select' || prop === 'execute' || prop === 'selectDistinct' || prop === 'query') {
          return (...args: unknown[]) => {
            queries++;
            return fn.apply(target, args);
          };
        }
        return fn.bind(target);
      },
    });
    const yoga = createGraphQLServer({
      schema: toSchema(),
      domain: { db: counting, changes: new ChangeFeed(), now: () => new Date(), settings: { ...defaultSettings }, keys: t.platform.keys },
      logger: pino({ level: 'silent' }),
      deploymentStatus: () => ({ version: null, problems: [], apis: [], dataPlanes: [] }),
    });
    const label = `bench-${driver}`;
    const seed = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const api = await makeApi();
        await db.execute(sql`update apis set labels = ${JSON.stringify({ batch: `${label}-${count}` })}::jsonb where id = ${api.id}`);
        for (let p = 0; p < 2; p++) {
          const planId = await makePlan(api.id);
          for (let s = 0; s < 2; s++) {
            await doSubscribe({ applicationId: gApp(await makeApp(s === 0 ? 'alice' : 'bob')), planId: gPlan(planId) }, pubAuth);
          }
        }
      }
    };
    const run = async (count: number) => {
      queries = 0;
      const res = await yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `query($labels: [LabelFilterInput!]) { apis(first: 50, labels: $labels) { nodes { handle plans { name subscriptions { status application { name } keys { masked } } } } } }`,
          variables: { labels: [{ key: 'batch', value: `${label}-${count}` }] },
        }),
      }, { actor: admin });
      const body = (await res.json()) as { data?: { apis: { nodes: { plans: { subscriptions: { application: unknown; keys: unknown[] }[] }[] }[] } }; errors?: unknown };
      expect(body.errors).toBeUndefined();
      const nodes = body.data!.apis.nodes;
      expect(nodes).toHaveLength(count);
      expect(nodes.flatMap((a) => a.plans.flatMap((p) => p.subscriptions)).every((s) => s.application !== null && s.keys.length === 1)).toBe(true);
      return queries;
    };
    await seed(1);
    await seed(8);
    const one = await run(1);
    const eight = await run(8);
    expect(eight).toBe(one);
    expect(eight).toBeLessThanOrEqual(15);
  });
});
