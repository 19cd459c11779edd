import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../../server/domain/api-keys/index.ts';
import { createApi, undeployApi } from '../../../server/domain/apis/index.ts';
import { createApplication } from '../../../server/domain/applications.ts';
import { systemActor } from '../../../server/domain/context.ts';
import { loadDeploymentModel } from '../../../server/domain/deployment.ts';
import { createPlan, publishPlan } from '../../../server/domain/plans/index.ts';
import { keyDigest } from '../../../server/domain/secrets.ts';

import { createSubscriptionPlan } from '../../../server/domain/subscription-plans.ts';
import { createSubscription, pauseSubscription, subscribe } from '../../../server/domain/subscriptions/index.ts';
import { createUser } from '../../../server/domain/users.ts';
import type { DeploymentModel } from '../../../server/domain/deployment-model.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';

const digestOf = (value: string) => keyDigest(testPlatformKeys.digestKey, value);

const modules = Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((n) => [n, { sha256: 'f'.repeat(64) }]));

function readingList(name: string, context: string) {
  return {
    metadata: { name },
    spec: {
      displayName: name,
      version: 'v1.0',
      context,
      upstream: { main: { url: 'https://apis.bijira.dev/samples/reading-list-api-service/v1.0' } },
      policies: [{ name: 'api-key-auth', version: 'v1', params: { key: 'x-api-key', in: 'header' } }, { name: 'subscription-validation', version: 'v1' }],
      operations: [
        { method: 'GET' as const, path: '/books' },
        { method: 'GET' as const, path: '/books/{id}' },
      ],
    },
  };
}

describe.each(drivers)('loadDeploymentModel (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let model: DeploymentModel;
  const values: Record<string, string> = {};
  const now = new Date();

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    const admin = domainContext(database, systemActor, () => now);
    const user = await createUser(admin, { username: 'alice', password: 'correct horse battery', role: 'consumer' });
    const alice = domainContext(database, { userId: user.id, username: 'alice', role: 'consumer' }, () => now);
    const api = await createApi(admin, { ...readingList('reading-list-api-v1.0', '/reading-list/$version'), visibility: 'private' });
    const other = await createApi(admin, readingList('undeployed-api', '/other/$version'));
    await undeployApi(admin, other.id);
    const plan = await createPlan(admin, { apiId: api.id, name: 'Gold', security: { type: 'API_KEY' } });
    await publishPlan(admin, plan.id);
    const app = await createApplication(alice, { name: 'reader', clientId: 'reader-app' });
    const subscribed = await subscribe(admin, { applicationId: app.id, planId: plan.id });
    values.subscriptionKey = subscribed.issuedKey!.value;
    values.subscriptionId = subscribed.subscription.id;
    // A second plan of the same API whose subscription is paused: its key stays known, suspended.
    const silver = await createPlan(admin, { apiId: api.id, name: 'Silver', security: { type: 'API_KEY' } });
    await publishPlan(admin, silver.id);
    const paused = await subscribe(admin, { applicationId: app.id, planId: silver.id });
    values.pausedKey = paused.issuedKey!.value;
    values.pausedSubscription = paused.subscription.id;
    await pauseSubscription(admin, paused.subscription.id);
    values.apiKey = (await createApiKey(admin, { apiId: api.handle, name: 'v09-key' })).value;
    const quota = await createSubscriptionPlan(admin, { planName: 'Silver', throttleLimitCount: 100, throttleLimitUnit: 'Min' });
    values.v09Subscription = (await createSubscription(admin, { apiId: api.handle, subscriptionToken: 'token-1', subscriptionPlanId: quota.id })).id;
    model = await loadDeploymentModel(database.db, now, testPlatformKeys.box);
  });
  afterAll(async () => database?.drop());

  it('holds deployed APIs only, with their operations and policies in order', () => {
    expect(model.apis.map((a) => a.handle)).toEqual(['reading-list-api-v1.0']);
    const [api] = model.apis;
    expect(api!.operations.map((o) => `${o.method} ${o.path}`)).toEqual(['GET /books', 'GET /books/{id}']);
    expect(api!.policies.map((p) => p.name)).toEqual(['api-key-auth', 'subscription-validation']);
    expect(api!.upstream.main.url).toBe('https://apis.bijira.dev/samples/reading-list-api-service/v1.0');
  });

  it('holds the published plan, the live subscriptions and the key digests with their identity', () => {
    expect(model.apis[0]!.visibility).toBe('private');
    expect(model.plans.map((p) => [p.name, p.security.type, p.security.apiKey?.keyName])).toEqual([
      ['Gold', 'API_KEY', 'x-api-key'],
      ['Silver', 'API_KEY', 'x-api-key'],
    ]);
    const sub = model.subscriptions.find((s) => s.id === values.subscriptionId);
    expect(sub).toMatchObject({ clientId: 'reader-app', status: 'ACCEPTED', isLive: true });
    const v09 = model.subscriptions.find((s) => s.id === values.v09Subscription);
    expect(v09).toMatchObject({ tokenSha256: digestOf('token-1'), isLive: true });
    const digests = model.keys.map((k) => k.sha256);
    expect(digests).toContain(digestOf(values.subscriptionKey!));
    expect(digests).toContain(digestOf(values.apiKey!));
    expect(model.keys.find((k) => k.sha256 === digestOf(values.subscriptionKey!))!.grants).toEqual([
      { apiId: model.apis[0]!.id, subscriptionId: values.subscriptionId, planId: model.plans[0]!.id, live: true },
    ]);
    expect(model.keys.find((k) => k.sha256 === digestOf(values.pausedKey!))!.grants).toEqual([
      { apiId: model.apis[0]!.id, subscriptionId: values.pausedSubscription, planId: model.plans[1]!.id, live: false },
    ]);
    expect(model.subscriptionPlans.map((p) => [p.planName, p.throttleLimitCount, p.throttleLimitUnit])).toEqual([['Silver', 100, 'Min']]);
  });

  it('is plain JSON data that translates into resources Envoy accepts, with the paused subscription’s key suspended', () => {
    expect(JSON.parse(JSON.stringify(model))).toEqual(model);
    const { resources, problems } = translate(model, { controlPlaneUrl: 'http://127.0.0.1:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) });
    // The API attaches api-key-auth beside its plans: its own v0.9 key belongs to no plan.
    expect(problems.map((p) => [p.severity, p.path])).toEqual([['warning', 'plans']]);
    expect(validateResources(resources)).toEqual([]);
    const apiKey = JSON.parse(JSON.stringify(resources.listener)) as unknown;
    const config = JSON.parse(findWasmConfiguration(apiKey, 'api-key')) as { keySets: Record<string, { sha256: string; status: string }[]> };
    const statuses = Object.fromEntries(config.keySets['reading-list-api-v1.0/subscriptions']!.map((k) => [k.sha256, k.status]));
    expect(statuses).toEqual({ [digestOf(values.subscriptionKey!)]: 'active', [digestOf(values.pausedKey!)]: 'suspended' });
    expect(resources.routeConfiguration[0]).toMatchObject({ virtualHosts: [{ routes: [{ name: 'reading-list-api-v1.0/GET/books' }, { name: 'reading-list-api-v1.0/GET/books/{id}' }, { name: 'no-api-found' }] }] });
  });
});

/** The plugin configuration JSON of a module's wasm filter in a listener list. */
function findWasmConfiguration(listeners: unknown, module: string): string {
  const hcm = (listeners as { filterChains: { filters: { typedConfig: { httpFilters: { typedConfig: { config?: { name: string; configuration: { value: string } } } }[] } }[] }[] }[])[0]!
    .filterChains[0]!.filters[0]!.typedConfig;
  const filter = hcm.httpFilters.find((f) => f.typedConfig.config?.name === module);
  if (!filter) throw new Error(`no ${module} filter`);
  return filter.typedConfig.config!.configuration.value;
}
