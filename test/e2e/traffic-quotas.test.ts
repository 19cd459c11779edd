import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import {
  createApiOverGraphql, type GatewayAnswer, gatewayAnswers, publishedPlan, type Recorder, send, startRecorder, subscribeNewApplication,
} from '../helpers/traffic.ts';

const rateLimitHeaders = (answer: GatewayAnswer) => ({
  limit: answer.headers['ratelimit-limit'],
  remaining: answer.headers['ratelimit-remaining'],
});

/**
 * Whole seconds, for a one-minute window: RateLimit-Reset is what is left of the current window; Retry-After
 * can reach past it, since the sliding window still weighs the full previous window for a while (up to 2 min).
 */
function expectRetryHeaders(answer: GatewayAnswer): void {
  expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(120);
  expect(Number(answer.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(0);
  expect(Number(answer.headers['ratelimit-reset'])).toBeLessThanOrEqual(60);
}

describe.each(shapeDrivers)('traffic: throttle and subscription quotas enforced by the gateway (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('metered');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
  });

  describe('throttle policy on an operation', () => {
    it('lets 3 requests a minute through with RateLimit-* headers, then answers 429 with Retry-After without calling the upstream', async () => {
      // Throttle counters live per VM id in the process, shared by every gateway in it (this file runs once per
      // driver in one process): a handle of its own per driver gives this route counters of its own.
      await createApiOverGraphql(t, `metered-api-${driver}`, {
        // No plan: the API's own throttle policy is under test, so the API is open by choice.
        accessMode: 'OPEN',
        context: '/metered/$version',
        upstreamUrl: upstream.url,
        operations: [
          { method: 'GET', path: '/free' },
          { method: 'GET', path: '/limited', policies: [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 3, duration: '1m' }] } }] },
        ],
      });
      // The unthrottled route shows the configuration is live without spending the limited route's budget.
      await gatewayAnswers(gw, '/metered/v1/free', 200);
      const passed: ReturnType<typeof rateLimitHeaders>[] = [];
      for (let i = 0; i < 3; i++) {
        const answer = await send(gw, '/metered/v1/limited');
        expect(answer.status).toBe(200);
        passed.push(rateLimitHeaders(answer));
      }
      expect(passed).toEqual([{ limit: '3', remaining: '2' }, { limit: '3', remaining: '1' }, { limit: '3', remaining: '0' }]);
      const mark = upstream.received.length;
      const limited = await send(gw, '/metered/v1/limited');
      expect(limited.status).toBe(429);
      expect(limited.json()).toEqual({ status: 'error', message: 'Rate limit exceeded.' });
      expect(rateLimitHeaders(limited)).toEqual({ limit: '3', remaining: '0' });
      expectRetryHeaders(limited);
      expect(upstream.since(mark)).toEqual([]);
      expect((await send(gw, '/metered/v1/free')).status).toBe(200);
    });
  });

  describe('plan quota (a throttle policy on an API_KEY plan)', () => {
    it('answers 429 on the third request of a subscription whose plan allows 2 a minute', async () => {
      const apiId = await createApiOverGraphql(t, 'plan-quota-api', {
        context: '/plan-quota/$version',
        upstreamUrl: upstream.url,
        operations: [{ method: 'GET', path: '/items' }],
      });
      const plan = await publishedPlan(t, apiId, 'Tiny', { type: 'API_KEY' }, [
        { name: 'throttle', version: 'v1', params: { limits: [{ requests: 2, duration: '1m' }] } },
      ]);
      await gatewayAnswers(gw, '/plan-quota/v1/items', 401); // the plan is live
      const sub = await subscribeNewApplication(t, 'quota-app', plan);
      const headers = { 'x-api-key': sub.keyValue ?? '' };
      await gatewayAnswers(gw, '/plan-quota/v1/items', 200, { headers }); // the first request of the quota
      expect((await send(gw, '/plan-quota/v1/items', { headers })).status).toBe(200);
      const limited = await send(gw, '/plan-quota/v1/items', { headers });
      expect(limited.status).toBe(429);
      expectRetryHeaders(limited);
      expect(limited.headers['ratelimit-limit']).toBe('2');
    });
  });

  describe('v0.9 subscription plan through subscription-validation and the Subscription-Key header', () => {
    const path = '/subscribed/v1/items';
    let bronzeId: string;

    beforeAll(async () => {
      const plan = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Bronze', throttleLimitCount: 2, throttleLimitUnit: 'Min' });
      expect(plan.status).toBe(201);
      bronzeId = plan.body.id;
      const created = await rest.post('/rest-apis', {
        apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
        kind: 'RestApi',
        metadata: { name: 'subscribed-api' },
        spec: {
          displayName: 'Subscribed',
          version: 'v1',
          context: '/subscribed/$version',
          upstream: { main: { url: upstream.url } },
          subscriptionPlans: ['Bronze', 'Silver', 'Fleeting'],
          policies: [{ name: 'subscription-validation', version: 'v1' }],
          operations: [{ method: 'GET', path: '/items' }],
        },
      });
      expect(created.status).toBe(201);
    });

    it('answers 403 without a Subscription-Key and with an unknown one', async () => {
      const missing = await gatewayAnswers(gw, path, 403);
      expect(missing.json()).toEqual({ error: 'forbidden', message: 'Subscription required for this API: no subscription token or application identity provided' });
      expect((await send(gw, path, { headers: { 'subscription-key': 'no-such-token' } })).status).toBe(403);
    });

    it('lets an ACTIVE subscription through with its identity at the upstream and the token stripped', async () => {
      const sub = await rest.post<{ id: string }>('/subscriptions', { apiId: 'subscribed-api', subscriptionToken: 'tok-unmetered', applicationId: 'v09-app' });
      expect(sub.status).toBe(201);
      await gatewayAnswers(gw, path, 200, { headers: { 'Subscription-Key': 'tok-unmetered' } });
      const seen = upstream.last().headers;
      expect(seen['subscription-key']).toBeUndefined();
      expect(seen['x-apip-subscription-id']).toBe(sub.body.id);
      expect(seen['x-apip-application-id']).toBe('v09-app');
    });

    it('answers 429 Subscription quota exceeded once the plan’s 2 requests a minute are used', async () => {
      const sub = await rest.post('/subscriptions', { apiId: 'subscribed-api', subscriptionToken: 'tok-bronze', subscriptionPlanId: bronzeId });
      expect(sub.status).toBe(201);
      const headers = { 'subscription-key': 'tok-bronze' };
      // 403s while the subscription is not yet on the data plane do not count; the first 200 is request 1 of 2.
      const first = await gatewayAnswers(gw, path, 200, { headers });
      expect(first.headers['x-apip-plan']).toBeUndefined(); // identity goes upstream, not back to the client
      expect(upstream.last().headers['x-apip-plan']).toBe('Bronze');
      expect((await send(gw, path, { headers })).status).toBe(200);
      const limited = await send(gw, path, { headers });
      expect(limited.status).toBe(429);
      expect(limited.json()).toEqual({ status: 'error', message: 'Subscription quota exceeded.' });
      expect(rateLimitHeaders(limited)).toEqual({ limit: '2', remaining: '0' });
      expectRetryHeaders(limited);
    });

    it('answers 403 after the subscription is set INACTIVE, and 200 after ACTIVE again', async () => {
      const sub = await rest.post<{ id: string }>('/subscriptions', { apiId: 'subscribed-api', subscriptionToken: 'tok-paused' });
      const headers = { 'subscription-key': 'tok-paused' };
      await gatewayAnswers(gw, path, 200, { headers });
      expect((await rest.put(`/subscriptions/${sub.body.id}`, { status: 'INACTIVE' })).status).toBe(200);
      expect((await gatewayAnswers(gw, path, 403, { headers })).json()).toEqual({ error: 'forbidden', message: 'Subscription required for this API' });
      expect((await rest.put(`/subscriptions/${sub.body.id}`, { status: 'ACTIVE' })).status).toBe(200);
      await gatewayAnswers(gw, path, 200, { headers });
    });

    it('answers 403 (the inactive-subscription body) while the subscription plan is INACTIVE, and 200 once ACTIVE again', async () => {
      const plan = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Silver' });
      expect(plan.status).toBe(201);
      const sub = await rest.post('/subscriptions', { apiId: 'subscribed-api', subscriptionToken: 'tok-silver', subscriptionPlanId: plan.body.id });
      expect(sub.status).toBe(201);
      const headers = { 'subscription-key': 'tok-silver' };
      await gatewayAnswers(gw, path, 200, { headers });
      expect((await rest.put(`/subscription-plans/${plan.body.id}`, { status: 'INACTIVE' })).status).toBe(200);
      expect((await gatewayAnswers(gw, path, 403, { headers })).json()).toEqual({ error: 'forbidden', message: 'Subscription required for this API' });
      expect((await rest.put(`/subscription-plans/${plan.body.id}`, { status: 'ACTIVE' })).status).toBe(200);
      await gatewayAnswers(gw, path, 200, { headers });
    });

    it('answers 403 (the inactive-subscription body) once the subscription plan’s expiryTime has passed', async () => {
      const expiry = new Date(Date.now() + 2500);
      const plan = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Fleeting', expiryTime: expiry.toISOString() });
      expect(plan.status).toBe(201);
      const sub = await rest.post('/subscriptions', { apiId: 'subscribed-api', subscriptionToken: 'tok-fleeting', subscriptionPlanId: plan.body.id });
      expect(sub.status).toBe(201);
      const headers = { 'subscription-key': 'tok-fleeting' };
      await gatewayAnswers(gw, path, 200, { headers, timeoutMs: 2000 });
      const refused = await gatewayAnswers(gw, path, 403, { headers, timeoutMs: 8000 });
      expect(Date.now()).toBeGreaterThanOrEqual(expiry.getTime());
      expect(refused.json()).toEqual({ error: 'forbidden', message: 'Subscription required for this API' });
    });

    it('passes the strict Envoy proto check with the throttle and subscription tables of this suite', () => {
      const resources = t.platform.snapshots.current()?.resources;
      expect(JSON.stringify(resources?.listener)).toContain(bronzeId);
      expect(validateResources(resources!)).toEqual([]);
    });
  });
});
