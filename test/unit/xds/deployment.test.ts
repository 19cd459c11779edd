import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../../server/domain/api-keys.ts';
import { createApi, undeployApi } from '../../../server/domain/apis.ts';
import { createApplication } from '../../../server/domain/applications.ts';
import { systemActor } from '../../../server/domain/context.ts';
import { loadDeploymentModel } from '../../../server/domain/deployment.ts';
import { createPlan, publishPlan } from '../../../server/domain/plans.ts';
import { sha256Hex } from '../../../server/domain/secrets.ts';
import { createSubscriptionPlan } from '../../../server/domain/subscription-plans.ts';
import { createSubscription, subscribe } from '../../../server/domain/subscriptions.ts';
import { createUser } from '../../../server/domain/users.ts';
import type { DeploymentModel } from '../../../server/domain/deployment-model.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

const modules = Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle'].map((n) => [n, { sha256: 'f'.repeat(64) }]));

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
    const api = await createApi(admin, readingList('reading-list-api-v1.0', '/reading-list/$version'));
    const other = await createApi(admin, readingList('undeployed-api', '/other/$version'));
    await undeployApi(admin, other.id);
    const plan = await createPlan(admin, { apiId: api.id, name: 'Gold', security: { type: 'API_KEY' } });
    await publishPlan(admin, plan.id);
    const app = await createApplication(alice, { name: 'reader', clientId: 'reader-app' });
    const subscribed = await subscribe(alice, { applicationId: app.id, planId: plan.id });
    values.subscriptionKey = subscribed.issuedKey!.value;
    values.subscriptionId = subscribed.subscription.id;
    values.apiKey = (await createApiKey(admin, { apiId: api.handle, name: 'v09-key' })).value;
    const quota = await createSubscriptionPlan(admin, { planName: 'Silver', throttleLimitCount: 100, throttleLimitUnit: 'Min' });
    values.v09Subscription = (await createSubscription(admin, { apiId: api.handle, subscriptionToken: 'token-1', subscriptionPlanId: quota.id })).id;
    model = await loadDeploymentModel(database.db, now);
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
    expect(model.plans.map((p) => [p.name, p.security.type, p.security.apiKey?.keyName])).toEqual([['Gold', 'API_KEY', 'x-api-key']]);
    const sub = model.subscriptions.find((s) => s.id === values.subscriptionId);
    expect(sub).toMatchObject({ clientId: 'reader-app', status: 'ACCEPTED', isLive: true });
    const v09 = model.subscriptions.find((s) => s.id === values.v09Subscription);
    expect(v09).toMatchObject({ tokenSha256: sha256Hex('token-1'), isLive: true });
    const digests = model.keys.map((k) => k.sha256);
    expect(digests).toContain(sha256Hex(values.subscriptionKey!));
    expect(digests).toContain(sha256Hex(values.apiKey!));
    expect(model.keys.find((k) => k.sha256 === sha256Hex(values.subscriptionKey!))!.grants).toEqual([
      { apiId: model.apis[0]!.id, subscriptionId: values.subscriptionId, planId: model.plans[0]!.id },
    ]);
    expect(model.subscriptionPlans.map((p) => [p.planName, p.throttleLimitCount, p.throttleLimitUnit])).toEqual([['Silver', 100, 'Min']]);
  });

  it('is plain JSON data that translates without problems into resources Envoy accepts', () => {
    expect(JSON.parse(JSON.stringify(model))).toEqual(model);
    const { resources, problems } = translate(model, { controlPlaneUrl: 'http://127.0.0.1:9090', listenerPort: 8080, modules });
    expect(problems).toEqual([]);
    expect(validateResources(resources)).toEqual([]);
    expect(resources.routeConfiguration[0]).toMatchObject({ virtualHosts: [{ routes: [{ name: 'reading-list-api-v1.0/GET/books' }, { name: 'reading-list-api-v1.0/GET/books/{id}' }] }] });
  });
});
