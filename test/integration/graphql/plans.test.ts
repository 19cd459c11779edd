import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, apis, applications, auditLog, planPolicies, plans, subscriptions, users } from '../../../server/db/schema/index.ts';
import { newId } from '../../../server/domain/ids.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');
const rawOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':').slice(1).join(':');

const planFields = `id name status version lineageId publishedAt closedAt validation selectionRule
  api { id handle }
  policies { name version params }
  security {
    type
    apiKey { keyLocation keyName propagateKey }
    jwt { signatureAlgorithms keyResolver jwksUrl givenKey clientIdClaim userClaim requiredScopes strictScopes extractClaims { claim header } propagateAuthHeader leewaySeconds requireExpiration maxTokenLifetime }
    oauth2 { introspectionUrl clientId hasClientSecret cacheTtlSeconds requiredScopes strictScopes propagateAuthHeader }
  }`;

const errorFields = `... on Error { message code } ... on ValidationError { issues { path message } } ... on InvalidTransitionError { from to }`;

const createPlanMutation = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { __typename ... on CreatePlanPayload { plan { ${planFields} } } ${errorFields} } }`;
const updatePlanMutation = `mutation($input: UpdatePlanInput!) { updatePlan(input: $input) { __typename ... on UpdatePlanPayload { plan { ${planFields} } } ${errorFields} } }`;
const transition = (field: string, payload: string) =>
  `mutation($input: ${payload}Input!) { ${field}(input: $input) { __typename ... on ${payload}Payload { plan { ${planFields} } } ${errorFields} } }`;

interface PlanResult {
  __typename: string;
  plan?: { id: string; status: string; version: number; lineageId: string; security: Record<string, unknown>; policies: { name: string }[]; api: { handle: string } } & Record<string, unknown>;
  issues?: { path: string; message: string }[];
  code?: string;
  from?: string;
  to?: string;
}

describe.each(shapeDrivers)('GraphQL plans (%s)', (driver) => {
  let t: TestPlatform;
  const publisher = basicAuth('pia', 'pia-password');
  const consumer = basicAuth('cody', 'cody-password');
  let apiId: string;
  let apiGid: string;

  async function insertApi(handle: string): Promise<string> {
    const id = newId('api');
    // Owned by pia: publishers manage the plans of the APIs they own or are members of.
    const [owner] = await t.platform.database.db.select({ id: users.id }).from(users).where(eq(users.username, 'pia'));
    await t.platform.database.db.insert(apis).values({ id, handle, displayName: handle, version: '1.0', context: `/${handle}`, ownerId: owner?.id ?? null });
    return id;
  }

  async function create(input: Record<string, unknown>, auth = publisher): Promise<PlanResult> {
    const res = await t.graphql<{ createPlan: PlanResult }>(createPlanMutation, { input: { apiId: apiGid, name: 'Gold', security: { type: 'API_KEY' }, ...input } }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.createPlan;
  }

  async function run(field: string, payload: string, id: string, auth = publisher): Promise<PlanResult> {
    const res = await t.graphql<Record<string, PlanResult>>(transition(field, payload), { input: { id } }, auth);
    expect(res.errors).toBeUndefined();
    return res.data![field]!;
  }

  async function rowCounts() {
    const db = t.platform.database.db;
    const [p] = await db.select({ n: count() }).from(plans);
    const [pp] = await db.select({ n: count() }).from(planPolicies);
    const [a] = await db.select({ n: count() }).from(auditLog);
    return [p?.n, pp?.n, a?.n];
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['pia', 'publisher'], ['cody', 'consumer']] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
        input: { username, password: `${username}-password`, role },
      });
    }
    apiId = await insertApi('weather');
    apiGid = gid('Api', apiId);
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates a STAGING plan with typed security options, policies and its API', async () => {
    const result = await create({
      security: { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: 'https://idp.example/.well-known/jwks.json', signatureAlgorithms: ['RS256', 'ES256'], extractClaims: [{ claim: 'tenant', header: 'x-tenant' }] } },
      policies: [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 10000, duration: '24h' }] } }],
    });
    expect(result.__typename).toBe('CreatePlanPayload');
    expect(result.plan).toMatchObject({ status: 'STAGING', version: 1, api: { handle: 'weather' }, policies: [{ name: 'throttle' }] });
    expect(result.plan?.security).toEqual({
      type: 'JWT',
      apiKey: null,
      oauth2: null,
      jwt: {
        signatureAlgorithms: ['RS256', 'ES256'],
        keyResolver: 'JWKS_URL',
        jwksUrl: 'https://idp.example/.well-known/jwks.json',
        givenKey: null,
        clientIdClaim: null,
        userClaim: 'sub',
        requiredScopes: [],
        strictScopes: false,
        extractClaims: [{ claim: 'tenant', header: 'x-tenant' }],
        propagateAuthHeader: false,
        leewaySeconds: 0,
        requireExpiration: true,
        maxTokenLifetime: '24h',
      },
    });
  });

  it('takes a JWT plan\u2019s maxTokenLifetime as a duration, null for no bound, and names the field when it is invalid', async () => {
    const jwt = (options: Record<string, unknown>) => ({ security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', ...options } } });
    const lifetimeOf = (result: PlanResult) => {
      const security = result.plan?.security.jwt as { requireExpiration: boolean; maxTokenLifetime: string | null } | undefined;
      return security && { requireExpiration: security.requireExpiration, maxTokenLifetime: security.maxTokenLifetime };
    };
    expect(lifetimeOf(await create(jwt({ maxTokenLifetime: '15m' })))).toEqual({ requireExpiration: true, maxTokenLifetime: '15m' });
    expect(lifetimeOf(await create(jwt({ maxTokenLifetime: null })))).toEqual({ requireExpiration: true, maxTokenLifetime: null });
    expect(lifetimeOf(await create(jwt({ requireExpiration: false })))).toEqual({ requireExpiration: false, maxTokenLifetime: null });
    for (const options of [{ maxTokenLifetime: 'forever' }, { maxTokenLifetime: '0s' }, { requireExpiration: false, maxTokenLifetime: '1h' }]) {
      const refused = await create(jwt(options));
      expect(refused.__typename, JSON.stringify(options)).toBe('ValidationError');
      expect(refused.issues?.map((i) => i.path)).toEqual(['security.jwt.maxTokenLifetime']);
    }
  });

  it('refuses a client credential header name with an underscore (the gateway drops such headers) and accepts one in the query', async () => {
    const result = await create({
      security: { type: 'API_KEY', apiKey: { keyLocation: 'HEADER', keyName: 'x_api_key' } },
      policies: [
        { name: 'api-key', version: 'v1', params: { key: 'api_key', in: 'header' } },
        { name: 'jwt', version: 'v1', params: { header: 'x_token', jwksUrl: 'https://idp.example/jwks.json' } },
      ],
    });
    expect(result.__typename).toBe('ValidationError');
    // api-key and jwt cannot be plan policies at all (they authenticate before a plan is chosen): refused at .name too.
    expect(result.issues?.map((i) => i.path).sort()).toEqual(['policies[0].name', 'policies[0].params.key', 'policies[1].name', 'policies[1].params.header', 'security.apiKey.keyName']);
    expect(result.issues?.filter((i) => !i.path.endsWith('.name')).every((i) => i.message.includes('underscore'))).toBe(true);
    const query = await create({ security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'api_key' } } });
    expect(query.__typename).toBe('CreatePlanPayload');
  });

  it('returns ValidationError with every field path and writes nothing when the input is invalid', async () => {
    const before = await rowCounts();
    const result = await create({
      name: '',
      security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'not-a-url', clientId: '' } },
      policies: [{ name: 'throttle', version: 'v2', params: { limits: [] } }],
    });
    expect(result.__typename).toBe('ValidationError');
    expect(result.code).toBe('VALIDATION');
    expect(result.issues?.map((i) => i.path).sort()).toEqual([
      'name',
      'policies[0].params.limits',
      'policies[0].version',
      'security.oauth2.clientId',
      'security.oauth2.clientSecret',
      'security.oauth2.introspectionUrl',
    ]);
    expect(await rowCounts()).toEqual(before);
  });

  it('never returns the OAuth2 client secret, only that one is set', async () => {
    const result = await create({ security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'https://idp/introspect', clientId: 'gw', clientSecret: 'top-secret-1', cacheTtlSeconds: 60 } } });
    expect(result.plan?.security.oauth2).toEqual({
      introspectionUrl: 'https://idp/introspect',
      clientId: 'gw',
      hasClientSecret: true,
      cacheTtlSeconds: 60,
      requiredScopes: [],
      strictScopes: false,
      propagateAuthHeader: false,
    });
    const audit = await t.graphql(`{ auditLog(first: 100, entityId: "${rawOf(result.plan!.id)}") { nodes { before after } } }`);
    expect(JSON.stringify(audit)).not.toContain('top-secret-1');
  });

  it('publishes, then refuses policy edits with InvalidTransitionError but accepts a rename', async () => {
    const { plan } = await create({});
    const published = await run('publishPlan', 'PublishPlan', plan!.id);
    expect(published.plan).toMatchObject({ status: 'PUBLISHED' });
    expect(published.plan?.publishedAt).toEqual(expect.any(String));
    const edit = await t.graphql<{ updatePlan: PlanResult }>(updatePlanMutation, { input: { id: plan!.id, policies: [] } }, publisher);
    expect(edit.data?.updatePlan).toMatchObject({ __typename: 'InvalidTransitionError', code: 'INVALID_TRANSITION', from: 'PUBLISHED' });
    const security = await t.graphql<{ updatePlan: PlanResult }>(updatePlanMutation, { input: { id: plan!.id, security: { type: 'KEYLESS' } } }, publisher);
    expect(security.data?.updatePlan.__typename).toBe('InvalidTransitionError');
    const rename = await t.graphql<{ updatePlan: PlanResult }>(updatePlanMutation, { input: { id: plan!.id, name: 'Gold+' } }, publisher);
    expect(rename.data?.updatePlan.plan).toMatchObject({ name: 'Gold+', status: 'PUBLISHED' });
  });

  it('updates a STAGING plan\u2019s security and policies', async () => {
    const { plan } = await create({});
    const res = await t.graphql<{ updatePlan: PlanResult }>(
      updatePlanMutation,
      { input: { id: plan!.id, security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'key' } }, policies: [{ name: 'set-headers', version: 'v1', params: { request: { headers: [{ name: 'x-tier', value: 'gold' }] } } }] } },
      publisher,
    );
    expect(res.data?.updatePlan.plan).toMatchObject({ security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'key', propagateKey: false } }, policies: [{ name: 'set-headers' }] });
  });

  it('refuses backwards transitions and a second publish', async () => {
    const { plan } = await create({});
    expect((await run('deprecatePlan', 'DeprecatePlan', plan!.id)).__typename).toBe('InvalidTransitionError');
    await run('publishPlan', 'PublishPlan', plan!.id);
    expect(await run('publishPlan', 'PublishPlan', plan!.id)).toMatchObject({ __typename: 'InvalidTransitionError', from: 'PUBLISHED', to: 'PUBLISHED' });
    expect((await run('deprecatePlan', 'DeprecatePlan', plan!.id)).plan?.status).toBe('DEPRECATED');
    expect(await run('publishPlan', 'PublishPlan', plan!.id)).toMatchObject({ __typename: 'InvalidTransitionError', from: 'DEPRECATED', to: 'PUBLISHED' });
    expect((await run('closePlan', 'ClosePlan', plan!.id)).plan?.status).toBe('CLOSED');
    expect(await run('closePlan', 'ClosePlan', plan!.id)).toMatchObject({ __typename: 'InvalidTransitionError', from: 'CLOSED', to: 'CLOSED' });
  });

  it('closes the plan\u2019s subscriptions and revokes their keys when the plan closes', async () => {
    const { plan } = await create({});
    await run('publishPlan', 'PublishPlan', plan!.id);
    const db = t.platform.database.db;
    const [owner] = await db.select({ id: users.id }).from(users).limit(1);
    const applicationId = newId('application');
    await db.insert(applications).values({ id: applicationId, name: 'app', ownerId: owner?.id ?? '' });
    const subscriptionId = newId('subscription');
    await db.insert(subscriptions).values({ id: subscriptionId, apiId, applicationId, planId: rawOf(plan!.id), status: 'ACCEPTED' });
    await db.insert(apiKeys).values({ id: newId('apiKey'), name: 'k', digest: 'f'.repeat(64), masked: '***fffff', subscriptionId });
    expect((await run('closePlan', 'ClosePlan', plan!.id)).plan?.status).toBe('CLOSED');
    const [sub] = await db.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId));
    expect(sub).toMatchObject({ status: 'CLOSED', reason: 'plan closed' });
    const [key] = await db.select().from(apiKeys);
    expect(key?.status).toBe('revoked');
  });

  it('creates a new STAGING version of a published plan with the same lineage', async () => {
    const { plan } = await create({ policies: [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 100, duration: '24h' }] } }] });
    await run('publishPlan', 'PublishPlan', plan!.id);
    const copy = await run('createPlanVersion', 'CreatePlanVersion', plan!.id);
    expect(copy.plan).toMatchObject({ status: 'STAGING', version: 2, lineageId: plan!.lineageId, policies: [{ name: 'throttle' }] });
    expect(copy.plan?.id).not.toBe(plan!.id);
    expect((await run('createPlanVersion', 'CreatePlanVersion', copy.plan!.id)).__typename).toBe('InvalidTransitionError');
  });

  it('deletes a STAGING plan and refuses a published one', async () => {
    const del = (id: string) =>
      t.graphql<{ deletePlan: { __typename: string; deletedPlanId?: string } }>(
        `mutation($input: DeletePlanInput!) { deletePlan(input: $input) { __typename ... on DeletePlanPayload { deletedPlanId } } }`,
        { input: { id } },
        publisher,
      );
    const { plan } = await create({});
    expect((await del(plan!.id)).data?.deletePlan).toEqual({ __typename: 'DeletePlanPayload', deletedPlanId: plan!.id });
    expect((await t.graphql<{ plan: null }>(`{ plan(id: "${plan!.id}") { id } }`)).data?.plan).toBeNull();
    const other = await create({});
    await run('publishPlan', 'PublishPlan', other.plan!.id);
    expect((await del(other.plan!.id)).data?.deletePlan.__typename).toBe('InvalidTransitionError');
    expect((await del(gid('Api', apiId))).data?.deletePlan.__typename).toBe('NotFoundError');
  });

  it('forbids a consumer from creating or publishing plans', async () => {
    const res = await t.graphql(createPlanMutation, { input: { apiId: apiGid, name: 'Mine', security: { type: 'KEYLESS' } } }, consumer);
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const { plan } = await create({});
    const publish = await t.graphql(transition('publishPlan', 'PublishPlan'), { input: { id: plan!.id } }, consumer);
    expect(publish.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('shows a consumer only PUBLISHED and DEPRECATED plans, by id, in lists and under the API', async () => {
    const listed = await insertApi('listed');
    const apiGlobal = gid('Api', listed);
    const staging = await create({ apiId: apiGlobal, name: 'Draft' });
    const live = await create({ apiId: apiGlobal, name: 'Live', security: { type: 'KEYLESS' } });
    await run('publishPlan', 'PublishPlan', live.plan!.id);
    const byId = async (id: string) => (await t.graphql<{ plan: { name: string } | null }>(`{ plan(id: "${id}") { name } }`, {}, consumer)).data?.plan;
    expect(await byId(staging.plan!.id)).toBeNull();
    expect(await byId(live.plan!.id)).toEqual({ name: 'Live' });
    const list = (auth: string) =>
      t.graphql<{ plans: { nodes: { name: string }[] } }>(`query($api: ID!) { plans(apiId: $api, first: 10) { nodes { name } } }`, { api: apiGlobal }, auth);
    expect((await list(consumer)).data?.plans.nodes).toEqual([{ name: 'Live' }]);
    expect((await list(publisher)).data?.plans.nodes).toEqual([{ name: 'Draft' }, { name: 'Live' }]);
    const filtered = await t.graphql<{ plans: { nodes: { name: string }[] } }>(
      `query($api: ID!) { plans(apiId: $api, first: 10, status: [STAGING], security: API_KEY) { nodes { name } } }`,
      { api: apiGlobal },
      publisher,
    );
    expect(filtered.data?.plans.nodes).toEqual([{ name: 'Draft' }]);
    const nested = await t.graphql<{ api: { plans: { name: string }[] } }>(`query($api: ID!) { api(id: $api) { plans { name } } }`, { api: apiGlobal }, consumer);
    expect(nested.data?.api.plans).toEqual([{ name: 'Live' }]);
  });

  it('resolves nested plans for a page of APIs, each under its own API', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await insertApi(`page-${i}`);
      ids.push(id);
      await create({ apiId: gid('Api', id), name: `plan-${i}` });
    }
    const res = await t.graphql<{ apis: { nodes: { handle: string; plans: { name: string; api: { handle: string } }[] }[] } }>(
      `{ apis(first: 50) { nodes { handle plans { name api { handle } } } } }`,
    );
    expect(res.errors).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      const node = res.data?.apis.nodes.find((n) => n.handle === `page-${i}`);
      expect(node?.plans).toEqual([{ name: `plan-${i}`, api: { handle: `page-${i}` } }]);
    }
  });
});
