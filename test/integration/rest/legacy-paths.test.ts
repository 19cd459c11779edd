import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient, restPrefix } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

/** Old clients call the same routes without the /api/management/v0.9 prefix. */
describe.each(shapeDrivers)('REST legacy unprefixed paths (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
    await rest.post('/rest-apis', seedRestApi);
    await rest.post('/subscription-plans', { planName: 'Gold' });
  });
  afterAll(async () => {
    await t.close();
  });

  const reads = ['/rest-apis', '/rest-apis?status=deployed', '/rest-apis/reading-list-api-v1.0', '/rest-apis/reading-list-api-v1.0/api-keys', '/subscription-plans', '/subscriptions', '/rest-apis/missing', '/rest-apis?status=bogus'];
  it.each(reads)('GET %s answers the same as the prefixed path, with Deprecation and Link headers', async (path) => {
    const current = await rest.get(path);
    const legacy = await rest.get(path, { legacy: true });
    expect(legacy.status).toBe(current.status);
    expect(legacy.body).toEqual(current.body);
    expect(legacy.headers.get('deprecation')).toBe('true');
    expect(legacy.headers.get('link')).toBe(`<${restPrefix}${path}>; rel="successor-version"`);
    expect(current.headers.get('deprecation')).toBeNull();
    expect(current.headers.get('link')).toBeNull();
  });

  it('writes through legacy paths: create, update, key, delete', async () => {
    const body = { ...seedRestApi, metadata: { name: 'legacy-api' }, spec: { ...seedRestApi.spec, displayName: 'Legacy', context: '/legacy' } };
    const created = await rest.post('/rest-apis', body, { legacy: true });
    expect(created.status).toBe(201);
    expect(created.headers.get('link')).toBe(`<${restPrefix}/rest-apis>; rel="successor-version"`);
    expect((await rest.put('/rest-apis/legacy-api', body, { legacy: true })).status).toBe(200);
    expect((await rest.post('/rest-apis/legacy-api/api-keys', { name: 'legacy-key' }, { legacy: true })).status).toBe(201);
    expect((await rest.get('/rest-apis/legacy-api/api-keys')).body).toMatchObject({ totalCount: 1 });
    const deleted = await rest.delete('/rest-apis/legacy-api', { legacy: true });
    expect(deleted).toMatchObject({ status: 200, body: { status: 'success', message: 'RestAPI deleted successfully', id: 'legacy-api' } });
    expect(deleted.headers.get('deprecation')).toBe('true');
  });

  it('answers 401 and 405 on legacy paths with the headers too', async () => {
    const anonymous = await rest.get('/rest-apis', { legacy: true, auth: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('deprecation')).toBe('true');
    const wrongMethod = await rest.request('PATCH', '/rest-apis', { legacy: true, body: {} });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('deprecation')).toBe('true');
  });

  it('leaves unknown unprefixed paths to the rest of the server', async () => {
    const res = await fetch(`${t.baseUrl}/not-a-v09-path`);
    expect(res.status).toBe(404);
    expect(res.headers.get('deprecation')).toBeNull();
  });

  it('answers 404 as an ErrorResponse for an unknown prefixed path', async () => {
    const res = await rest.get('/no-such-resource');
    expect(res).toMatchObject({ status: 404, body: { status: 'error', message: `No route for GET ${restPrefix}/no-such-resource` } });
  });
});
