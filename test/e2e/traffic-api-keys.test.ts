import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import {
  createApiOverGraphql, gatewayAnswers, mutate, publishedPlan, rawId, type Recorder, send, startRecorder, subscribeNewApplication,
} from '../helpers/traffic.ts';

interface KeyAnswer {
  apiKey: { name: string; apiKey: string };
}

const identityHeaders = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('x-apip-')));

const forged = {
  'x-apip-application-id': 'forged-app',
  'x-apip-subscription-id': 'forged-sub',
  'x-apip-plan': 'forged-plan',
  'x-apip-user-id': 'forged-user',
  'x-apip-quota-exceeded': 'true',
};

describe.each(shapeDrivers)('traffic: API keys enforced by the gateway (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('keyed');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
  });

  describe('v0.9 keys of an API with the api-key policy (REST)', () => {
    const path = '/keyed/v1/items';
    const keysPath = '/rest-apis/keyed-api/api-keys';

    beforeAll(async () => {
      const created = await rest.post('/rest-apis', {
        apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
        kind: 'RestApi',
        metadata: { name: 'keyed-api' },
        spec: {
          displayName: 'Keyed',
          version: 'v1',
          context: '/keyed/$version',
          upstream: { main: { url: upstream.url } },
          policies: [{ name: 'api-key-auth', version: 'v1', params: { key: 'X-API-Key', in: 'header' } }],
          operations: [{ method: 'GET', path: '/items' }],
        },
      });
      expect(created.status).toBe(201);
    });

    it('answers 401 Missing API key without calling the upstream when no key is sent', async () => {
      const answer = await gatewayAnswers(gw, path, 401);
      expect(answer.json()).toEqual({ status: 'error', message: 'Missing API key.' });
      const mark = upstream.received.length;
      expect((await send(gw, path, { headers: { 'x-api-key': 'apip_not-a-key' } })).json()).toEqual({ status: 'error', message: 'Invalid API key.' });
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers 200 after POST …/api-keys, strips the key and the forged x-apip-* headers before the upstream', async () => {
      const created = await rest.post<KeyAnswer>(keysPath, { name: 'reader' });
      expect(created.status).toBe(201);
      const key = created.body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': key } });
      const answer = await send(gw, path, { headers: { 'X-API-Key': key, ...forged } });
      expect(answer.status).toBe(200);
      const seen = upstream.last();
      expect(seen.headers['x-api-key']).toBeUndefined();
      // A v0.9 key names no application, subscription or plan: nothing client-supplied may remain.
      expect(identityHeaders(seen.headers)).toEqual({});
    });

    it('answers 401 within 1 s of revoking the key (DELETE …/api-keys/{name})', async () => {
      const key = (await rest.post<KeyAnswer>(keysPath, { name: 'revoked-soon' })).body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': key } });
      expect((await rest.delete(`${keysPath}/revoked-soon`)).status).toBe(200);
      const answer = await gatewayAnswers(gw, path, 401, { headers: { 'x-api-key': key }, timeoutMs: 1000 });
      expect(answer.json()).toEqual({ status: 'error', message: 'Invalid API key.' });
    });

    it('answers 401 for the old value within 1 s of regenerate, and 200 for the new value', async () => {
      const old = (await rest.post<KeyAnswer>(keysPath, { name: 'rotating' })).body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': old } });
      const regenerated = await rest.post<KeyAnswer>(`${keysPath}/rotating/regenerate`, {});
      expect(regenerated.status).toBe(200);
      const fresh = regenerated.body.apiKey.apiKey;
      expect(fresh).not.toBe(old);
      await gatewayAnswers(gw, path, 401, { headers: { 'x-api-key': old }, timeoutMs: 1000 });
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': fresh } });
    });
  });

  describe('keys of an API_KEY plan subscription (GraphQL)', () => {
    const path = '/orders/v1/orders/17';
    let apiId: string;
    let planId: string;

    beforeAll(async () => {
      apiId = await createApiOverGraphql(t, 'orders-api', {
        context: '/orders/$version',
        upstreamUrl: `${upstream.url}/backend`,
        operations: [{ method: 'GET', path: '/orders/{orderId}' }],
      });
      planId = await publishedPlan(t, apiId, 'Gold', { type: 'API_KEY', apiKey: { keyName: 'X-Order-Key' } });
      // Until the plan is on the data plane the API has no authentication (a public API without plans is open).
      await gatewayAnswers(gw, path, 401);
    });

    it('answers 401 without a key and 200 with the key issued by subscribe', async () => {
      const sub = await subscribeNewApplication(t, 'orders-app-1', planId);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-order-key': sub.keyValue ?? '' } });
      expect((await send(gw, path)).status).toBe(401);
    });

    it('sends the subscription’s identity headers to the upstream, replacing forged ones, and strips the key', async () => {
      const sub = await subscribeNewApplication(t, 'orders-app-2', planId);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-order-key': sub.keyValue ?? '' } });
      const answer = await send(gw, path, { headers: { 'x-order-key': sub.keyValue ?? '', ...forged } });
      expect(answer.status).toBe(200);
      const seen = upstream.last();
      expect(seen.url).toBe('/backend/orders/17');
      expect(seen.headers['x-order-key']).toBeUndefined();
      expect(identityHeaders(seen.headers)).toEqual({
        'x-apip-application-id': rawId(sub.applicationId),
        'x-apip-subscription-id': rawId(sub.subscriptionId),
        'x-apip-plan': rawId(planId),
      });
    });

    it('answers 401 within 1 s of revokeApiKey', async () => {
      const sub = await subscribeNewApplication(t, 'orders-app-3', planId);
      const headers = { 'x-order-key': sub.keyValue ?? '' };
      await gatewayAnswers(gw, path, 200, { headers });
      await mutate(t, 'revokeApiKey', 'RevokeApiKeyInput', 'apiKey { status }', { id: sub.keyId });
      await gatewayAnswers(gw, path, 401, { headers, timeoutMs: 1000 });
    });

    it('answers 401 for the old value within 1 s of renewApiKey without grace, and 200 for the new value', async () => {
      const sub = await subscribeNewApplication(t, 'orders-app-4', planId);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-order-key': sub.keyValue ?? '' } });
      const renewed = await mutate<{ issued: { value: string } }>(t, 'renewApiKey', 'RenewApiKeyInput', 'issued { value }', { id: sub.keyId, graceSeconds: 0 });
      await gatewayAnswers(gw, path, 401, { headers: { 'x-order-key': sub.keyValue ?? '' }, timeoutMs: 1000 });
      await gatewayAnswers(gw, path, 200, { headers: { 'x-order-key': renewed.issued.value } });
    });

    it('keeps the key for the upstream when the plan propagates it', async () => {
      const propagatingApi = await createApiOverGraphql(t, 'propagating-api', {
        context: '/propagating/$version',
        upstreamUrl: upstream.url,
        operations: [{ method: 'GET', path: '/items' }],
      });
      const plan = await publishedPlan(t, propagatingApi, 'Open', { type: 'API_KEY', apiKey: { keyName: 'x-order-key', propagateKey: true } });
      await gatewayAnswers(gw, '/propagating/v1/items', 401);
      const sub = await subscribeNewApplication(t, 'propagating-app', plan);
      await gatewayAnswers(gw, '/propagating/v1/items', 200, { headers: { 'x-order-key': sub.keyValue ?? '' } });
      expect(upstream.last().headers['x-order-key']).toBe(sub.keyValue);
      expect(upstream.last().headers['x-apip-plan']).toBe(rawId(plan));
    });

    it('passes the strict Envoy proto check with the key tables of this suite', () => {
      const resources = t.platform.snapshots.current()?.resources;
      expect(JSON.stringify(resources?.listener)).toContain('orders-api/subscriptions');
      expect(validateResources(resources!)).toEqual([]);
    });
  });
});
