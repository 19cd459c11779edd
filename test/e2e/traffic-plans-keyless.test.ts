import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import {
  createApi, createPlan, expectedIdentity, expectServedConfigValid, forgedIdentity, identityOf, mutation, newSubscriber, query, replyOf,
  sendThrough, servedThrough, waitServed,
} from '../helpers/plans-traffic.ts';
import { gatewayAnswers, rawId, type Recorder, startRecorder } from '../helpers/traffic.ts';

// Seed 000 "Keyless": no authentication, no subscription, consumers are the "unknown application"; a keyless
// plan may carry a Basic Authentication policy. docs/plan-selection.md: the `plan` module admits a request
// without identity through the first KEYLESS plan; a bad credential is never "keyless".
describe.each(shapeDrivers)('traffic: keyless plans (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('keyless-upstream');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  describe('an API whose only plan is KEYLESS', () => {
    const path = '/open/v1/items';
    let planId: string;

    beforeAll(async () => {
      const apiId = await createApi(t, 'open-api', { context: '/open/$version', upstreamUrl: upstream.url });
      planId = await createPlan(t, apiId, 'Free', { type: 'KEYLESS' });
    });

    it('answers 200 without credentials and the upstream sees x-apip-plan = the keyless plan, no application or subscription', async () => {
      // The keyless plan is on the data plane once the upstream is told which plan admitted the request.
      await servedThrough(gw, upstream, path, { status: 200, plan: planId });
      const { answer, seen } = await sendThrough(gw, upstream, path, { headers: forgedIdentity });
      expect(answer.status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(identityOf(seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(planId) });
      // Identity goes upstream, never back to the client.
      expect(answer.headers['x-apip-plan']).toBeUndefined();
    });

    it('refuses a subscription to a keyless plan (there is no consumer to identify)', async () => {
      const app = await mutation<{ application: { id: string } }>(t, 'createApplication', 'CreateApplicationInput', 'application { id }', { name: 'keyless-app' });
      const refused = await mutation(t, 'subscribe', 'SubscribeInput', 'subscription { id }', { applicationId: app.application.id, planId });
      expect(refused.__typename).not.toBe('SubscribePayload');
    });

    it('passes the strict Envoy proto check with the keyless plan served', async () => {
      await expectServedConfigValid(t, ['open-api'], [rawId(planId)]);
    });
  });

  describe('a KEYLESS plan with a basic-auth plan policy', () => {
    const path = '/staff/v1/items';
    const password = 'correct horse battery staple';
    let planId: string;

    beforeAll(async () => {
      const apiId = await createApi(t, 'staff-api', { context: '/staff/$version', upstreamUrl: upstream.url });
      planId = await createPlan(t, apiId, 'Staff', { type: 'KEYLESS' }, {
        policies: [{ name: 'basic-auth', version: 'v1', params: { realm: 'staff', users: [{ username: 'ops', password }, { username: 'audit', password: 'another-password-2' }] } }],
      });
      await waitServed(t, gw, path, 401);
    });

    it('answers 401 with a Basic challenge without credentials and with a wrong password, without calling the upstream', async () => {
      const missing = await sendThrough(gw, upstream, path);
      expect(missing.answer.status).toBe(401);
      expect(String(missing.answer.headers['www-authenticate'])).toMatch(/^Basic\b/);
      expect(missing.seen).toEqual([]);
      const wrong = await sendThrough(gw, upstream, path, { headers: { authorization: basicAuth('ops', 'not-the-password') } });
      expect(wrong.answer.status).toBe(401);
      expect(String(wrong.answer.headers['www-authenticate'])).toMatch(/^Basic\b/);
      expect(wrong.seen).toEqual([]);
      const unknown = await sendThrough(gw, upstream, path, { headers: { authorization: basicAuth('nobody', password) } });
      expect(unknown.answer.status).toBe(401);
      expect(unknown.seen).toEqual([]);
    });

    it('answers 200 for a configured user, with the keyless plan at the upstream and Authorization stripped', async () => {
      const { answer, seen } = await sendThrough(gw, upstream, path, { headers: { authorization: basicAuth('ops', password), ...forgedIdentity } });
      expect(replyOf(answer).status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.headers.authorization).toBeUndefined();
      expect(identityOf(seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(planId) });
      expect((await sendThrough(gw, upstream, path, { headers: { authorization: basicAuth('audit', 'another-password-2') } })).answer.status).toBe(200);
    });

    it('applies the keyless plan’s basic-auth only to requests that plan admits: an API key plan beside it needs no password', async () => {
      const apiId = await createApi(t, 'staff-keys-api', { context: '/staff-keys/$version', upstreamUrl: upstream.url });
      const keyless = await createPlan(t, apiId, 'Staff', { type: 'KEYLESS' }, {
        policies: [{ name: 'basic-auth', version: 'v1', params: { realm: 'staff', users: [{ username: 'ops', password }] } }],
      });
      const keyed = await createPlan(t, apiId, 'Partners', { type: 'API_KEY' });
      const sub = await newSubscriber(t, 'staff-keys-app', keyed);
      await waitServed(t, gw, '/staff-keys/v1/items', 200, { headers: { 'x-api-key': sub.key! } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, keyed));
      const anonymous = await sendThrough(gw, upstream, '/staff-keys/v1/items');
      expect(anonymous.answer.status).toBe(401);
      expect(anonymous.seen).toEqual([]);
      const staff = await sendThrough(gw, upstream, '/staff-keys/v1/items', { headers: { authorization: basicAuth('ops', password) } });
      expect(staff.answer.status).toBe(200);
      expect(identityOf(staff.seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(keyless) });
    });

    it('stores and serves salted hashes only: no clear password in the plan policy params or the Envoy configuration', async () => {
      const read = await query<{ plan: { policies: { name: string; params: unknown }[] } }>(t, 'query($id: ID!) { plan(id: $id) { policies { name params } } }', { id: planId });
      const stored = JSON.stringify(read.plan.policies);
      expect(read.plan.policies.map((p) => p.name)).toEqual(['basic-auth']);
      expect(stored).toContain('ops');
      expect(stored).not.toContain(password);
      expect(stored).not.toContain('another-password-2');
      const served = JSON.stringify(t.platform.snapshots.current()?.resources);
      expect(served).not.toContain(password);
      expect(served).not.toContain(Buffer.from(`ops:${password}`).toString('base64'));
      await expectServedConfigValid(t, ['staff-api', 'staff-keys-api'], [rawId(planId)]);
    });
  });

  describe('two KEYLESS plans told apart by selection rules', () => {
    it('admits through the first keyless plan whose rule holds, and answers 401 Missing credentials when none does', async () => {
      const apiId = await createApi(t, 'beta-keyless-api', { context: '/previews/$version', upstreamUrl: upstream.url });
      const beta = await createPlan(t, apiId, 'Beta testers', { type: 'KEYLESS' }, { selectionRule: 'header.x-channel == "beta" || query.channel == "beta"' });
      const stable = await createPlan(t, apiId, 'Stable', { type: 'KEYLESS' }, { selectionRule: '!header.x-channel || header.x-channel == "stable"' });
      await servedThrough(gw, upstream, '/previews/v1/items', { status: 200, plan: stable });
      const viaHeader = await sendThrough(gw, upstream, '/previews/v1/items', { headers: { 'X-Channel': 'beta' } });
      expect(identityOf(viaHeader.seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(beta) });
      const viaQuery = await sendThrough(gw, upstream, '/previews/v1/items?channel=beta');
      expect(identityOf(viaQuery.seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(beta) });
      const explicit = await sendThrough(gw, upstream, '/previews/v1/items', { headers: { 'x-channel': 'stable' } });
      expect(identityOf(explicit.seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(stable) });
      const none = await sendThrough(gw, upstream, '/previews/v1/items', { headers: { 'x-channel': 'nightly' } });
      expect(replyOf(none.answer)).toEqual({ status: 401, body: { status: 'error', message: 'Missing credentials.' } });
      expect(none.seen).toEqual([]);
    });
  });

  describe('an API with a KEYLESS plan and an API_KEY plan', () => {
    const path = '/mixed/v1/items';
    let keylessPlan: string;
    let keyPlan: string;
    let sub: Awaited<ReturnType<typeof newSubscriber>>;

    beforeAll(async () => {
      const apiId = await createApi(t, 'mixed-api', { context: '/mixed/$version', upstreamUrl: upstream.url });
      keylessPlan = await createPlan(t, apiId, 'Free', { type: 'KEYLESS' });
      keyPlan = await createPlan(t, apiId, 'Keyed', { type: 'API_KEY' });
      sub = await newSubscriber(t, 'mixed-app', keyPlan);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': sub.key ?? '' } });
    });

    it('admits a request without a key through the keyless plan', async () => {
      const { answer, seen } = await sendThrough(gw, upstream, path, { headers: forgedIdentity });
      expect(answer.status).toBe(200);
      expect(identityOf(seen[0]!.headers)).toEqual({ application: null, subscription: null, plan: rawId(keylessPlan) });
    });

    it('admits a valid key through the key plan, with the subscription identity at the upstream and the key stripped', async () => {
      const { answer, seen } = await sendThrough(gw, upstream, path, { headers: { 'x-api-key': sub.key ?? '', ...forgedIdentity } });
      expect(answer.status).toBe(200);
      expect(seen[0]!.headers['x-api-key']).toBeUndefined();
      expect(identityOf(seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, keyPlan));
    });

    it('answers 401 for an invalid key and never falls back to the keyless plan', async () => {
      const { answer, seen } = await sendThrough(gw, upstream, path, { headers: { 'x-api-key': 'apip_0000000000000000000000000000000000000000000000000000000000000000' } });
      expect(replyOf(answer)).toEqual({ status: 401, body: { status: 'error', message: 'Invalid API key.' } });
      expect(seen).toEqual([]);
    });

    it('answers 401 for a revoked key instead of treating it as keyless', async () => {
      const revoked = await newSubscriber(t, 'mixed-app-revoked', keyPlan);
      const headers = { 'x-api-key': revoked.key ?? '' };
      await gatewayAnswers(gw, path, 200, { headers });
      await mutation(t, 'revokeApiKey', 'RevokeApiKeyInput', 'apiKey { status }', { id: revoked.keyId });
      await gatewayAnswers(gw, path, 401, { headers, timeoutMs: 2000 });
    });

    it('passes the strict Envoy proto check with both plans served', async () => {
      await expectServedConfigValid(t, ['mixed-api', 'beta-keyless-api'], [rawId(keylessPlan), rawId(keyPlan)]);
    });
  });
});
