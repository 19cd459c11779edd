import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { expectServedConfigValid, sendThrough, waitServed } from '../helpers/plans-traffic.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { type Recorder, send, startRecorder } from '../helpers/traffic.ts';

const forbidden = { error: 'forbidden', message: 'Subscription required for this API' };

/** A v0.9 RestApi with one GET operation under `/<handle>/v1.0` carrying `policies`. */
function restApi(handle: string, upstreamUrl: string, policies: unknown[]) {
  return {
    apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
    kind: 'RestApi',
    metadata: { name: handle },
    spec: {
      displayName: handle,
      version: 'v1.0',
      context: `/${handle}/$version`,
      upstream: { main: { url: upstreamUrl } },
      operations: [{ method: 'GET', path: '/health', policies }],
    },
  };
}

// The reference's subscription-validation params (enabled, subscriptionKeyHeader, subscriptionKeyCookie) over REST,
// through the embedded gateway with the real module: where the token is read, what reaches the upstream, the 403s.
describe.each(shapeDrivers)('traffic: subscription-validation as the v0.9 reference configures it (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('subscription-validation-upstream');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it("serves the reference's own example (subscriptionKeyHeader: Subscription-Key): 403, then 200 with the token stripped", async () => {
    const created = await rest.post('/rest-apis', restApi('sv-ref', upstream.url, [{ name: 'subscription-validation', version: 'v1', params: { subscriptionKeyHeader: 'Subscription-Key' } }]));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const path = '/sv-ref/v1.0/health';
    const missing = await waitServed(t, gw, path, 403);
    expect(missing.json()).toEqual({ error: 'forbidden', message: 'Subscription required for this API: no subscription token or application identity provided' });
    expect((await rest.post('/subscriptions', { apiId: 'sv-ref', subscriptionToken: 'ref-token' })).status).toBe(201);
    await waitServed(t, gw, path, 200, { headers: { 'Subscription-Key': 'ref-token' } });
    expect(upstream.last().headers['subscription-key']).toBeUndefined();
    const unknown = await send(gw, path, { headers: { 'Subscription-Key': 'not-a-token' } });
    expect({ status: unknown.status, body: unknown.json() }).toEqual({ status: 403, body: forbidden });
    await expectServedConfigValid(t, ['sv-ref']);
  });

  it('reads a custom header, then a cookie it removes from the Cookie header before forwarding', async () => {
    const params = { subscriptionKeyHeader: 'X-Sub-Token', subscriptionKeyCookie: 'sub_token' };
    expect((await rest.post('/rest-apis', restApi('sv-cookie', upstream.url, [{ name: 'subscription-validation', params }]))).status).toBe(201);
    expect((await rest.post('/subscriptions', { apiId: 'sv-cookie', subscriptionToken: 'cookie-token' })).status).toBe(201);
    const path = '/sv-cookie/v1.0/health';
    await waitServed(t, gw, path, 200, { headers: { 'x-sub-token': 'cookie-token' } });
    expect(upstream.last().headers['x-sub-token']).toBeUndefined();
    const viaCookie = await sendThrough(gw, upstream, path, { headers: { cookie: 'theme=dark; sub_token=cookie-token; lang=en' } });
    expect(viaCookie.answer.status).toBe(200);
    expect(viaCookie.seen[0]!.headers.cookie).toBe('theme=dark; lang=en');
    // The default header is not this API's: no credential.
    const other = await sendThrough(gw, upstream, path, { headers: { 'subscription-key': 'cookie-token' } });
    expect({ status: other.answer.status, upstreamCalls: other.seen.length }).toEqual({ status: 403, upstreamCalls: 0 });
    await expectServedConfigValid(t, ['sv-cookie']);
  });

  it('does nothing with enabled: false', async () => {
    const policy = { name: 'subscription-validation', version: 'v1', params: { enabled: false } };
    expect((await rest.post('/rest-apis', restApi('sv-off', upstream.url, [policy]))).status).toBe(201);
    await waitServed(t, gw, '/sv-off/v1.0/health', 200, { headers: { 'subscription-key': 'anything' } });
    expect(upstream.last().headers['subscription-key']).toBe('anything');
  });

  it('refuses a cookie name that is no token, and two different header names, naming the field', async () => {
    const refused = async (params: Record<string, unknown>) => {
      const res = await rest.post<{ errors: { field: string }[] }>('/rest-apis', restApi('sv-bad', upstream.url, [{ name: 'subscription-validation', params }]));
      expect(res.status).toBe(400);
      return res.body.errors.map((e) => e.field);
    };
    expect(await refused({ subscriptionKeyCookie: 'a b' })).toEqual(['spec.operations[0].policies[0].params.subscriptionKeyCookie']);
    expect(await refused({ subscriptionKeyHeader: 'X-One', header: 'X-Two' })).toEqual(['spec.operations[0].policies[0].params.header']);
  });
});
