import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRoutes } from '../../../server/rest/routes.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { createUser, type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

/** A concrete path for a route template: every `:param` becomes `x`. */
const concrete = (path: string) => path.replace(/:[A-Za-z]+/g, 'x');

const guarded = restRoutes.filter((r) => (r.access ?? 'authenticated') !== 'public');
const managerOnly = restRoutes.filter((r) => r.access === 'manager');
const forEveryRole = restRoutes.filter((r) => (r.access ?? 'authenticated') === 'authenticated');

describe.each(shapeDrivers)('REST authentication and roles (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let consumer: string;
  let developer: string;
  beforeAll(async () => {
    // Two failed logins per route, all from one address: throttling has its own suite (login-throttle.test.ts).
    t = await startTestPlatform(driver, { loginThrottle: { maxFailures: 10_000, maxFailuresPerAddress: 10_000 } });
    rest = restClient(t);
    consumer = await createUser(t, 'v09-consumer', 'consumer');
    developer = await createUser(t, 'v09-developer', 'publisher');
  });
  afterAll(async () => {
    await t.close();
  });

  it('the route table has a manager-only, an any-role and a public route at least', () => {
    expect(managerOnly.length).toBeGreaterThan(0);
    expect(forEveryRole.length).toBeGreaterThan(0);
    expect(restRoutes.some((r) => r.access === 'public')).toBe(true);
  });

  describe.each(guarded.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', (_name, route) => {
    const path = concrete(route.path);
    it('answers 401 with a Basic challenge without credentials', async () => {
      const res = await rest.request(route.method, path, { auth: null, body: {} });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ status: 'error', message: 'Authentication required' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    });
    it('answers 401 with a wrong password, an unknown user, a bad bearer token or a malformed header', async () => {
      for (const auth of [basicAuth('admin', 'wrong-password'), basicAuth('nobody', 'whatever-1'), 'Bearer not.a.jwt', 'Basic', 'Digest abc']) {
        expect((await rest.request(route.method, path, { auth, body: {} })).status, auth).toBe(401);
      }
    });
    if (route.access === 'manager') {
      it('answers 403 to a consumer, before reading its body', async () => {
        const res = await rest.request(route.method, path, { auth: consumer, raw: '{not json', contentType: 'application/json' });
        expect(res.status).toBe(403);
        expect(res.body).toEqual({ status: 'error', message: 'This operation requires the admin or developer role' });
      });
      it('lets a developer (our publisher) through', async () => {
        const res = await rest.request(route.method, path, { auth: developer, body: {} });
        expect([401, 403]).not.toContain(res.status);
      });
    } else {
      it('lets a consumer through', async () => {
        const res = await rest.request(route.method, path, { auth: consumer, body: {} });
        expect([401, 403]).not.toContain(res.status);
      });
    }
  });

  it('serves the OpenAPI document without credentials', async () => {
    const res = await rest.get<string>('/openapi.yaml', { auth: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/yaml');
    expect(res.body).toMatch(/^openapi: 3\.0/);
  });

  it('a consumer reads deployed public APIs only; the others are 404 to it', async () => {
    const spec = { ...seedRestApi.spec, displayName: 'Hidden', context: '/hidden', deploymentState: 'undeployed' };
    await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'hidden-api' }, spec });
    await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'open-api' }, spec: { ...seedRestApi.spec, displayName: 'Open', context: '/open' } });
    const list = await rest.get<{ apis: { metadata: { name: string } }[] }>('/rest-apis', { auth: consumer });
    expect(list.body.apis.map((a) => a.metadata.name)).toEqual(['open-api']);
    expect((await rest.get('/rest-apis/hidden-api', { auth: consumer })).status).toBe(404);
    expect((await rest.post('/rest-apis/hidden-api/api-keys', {}, { auth: consumer })).status).toBe(404);
    expect((await rest.post('/rest-apis/open-api/api-keys', {}, { auth: consumer })).status).toBe(201);
  });

  it('a developer manages APIs, subscription plans and subscriptions', async () => {
    const api = await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'dev-api' }, spec: { ...seedRestApi.spec, displayName: 'Dev', context: '/dev' } }, { auth: developer });
    expect(api.status).toBe(201);
    const plan = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Dev-Plan' }, { auth: developer });
    expect(plan.status).toBe(201);
    const sub = await rest.post('/subscriptions', { apiId: 'dev-api', subscriptionToken: 'dev-token', subscriptionPlanId: plan.body.id }, { auth: developer });
    expect(sub.status).toBe(201);
  });
});
