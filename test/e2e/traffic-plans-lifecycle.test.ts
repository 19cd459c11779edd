import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import {
  answersWithin, createApi, createApplication, createPlan, expectedIdentity, expectServedConfigValid, identityOf, must, mutation, newSubscriber, replyOf,
  sendThrough, servedThrough, subscribe, userAuth, waitServed,
} from '../helpers/plans-traffic.ts';
import { eventually, gatewayAnswers, type Recorder, rsaSigningKey, send, type SigningKey, startRecorder } from '../helpers/traffic.ts';

const notActive = { status: 'error', message: 'Subscription is not active.' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

// docs/plan-selection.md: a subscription that does not admit traffic (PENDING, REJECTED, PAUSED, CLOSED, outside
// its dates) is shipped inactive -> 403 `Subscription is not active.` once its key or client is known; a revoked
// key stays 401. Plans: a DEPRECATED plan still serves its subscribers, a CLOSED one nobody. Seed 001: only
// contracted applications consume a private API.
describe.each(shapeDrivers)('traffic: subscription and plan lifecycle (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let signer: SigningKey;

  beforeAll(async () => {
    upstream = await startRecorder('lifecycle-upstream');
    signer = await rsaSigningKey('lifecycle-key');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  describe('API-key subscriptions', () => {
    const path = '/keys-life/v1/items';
    let autoPlan: string;
    let manualPlan: string;

    beforeAll(async () => {
      const apiId = await createApi(t, 'keys-life-api', { context: '/keys-life/$version', upstreamUrl: upstream.url });
      autoPlan = await createPlan(t, apiId, 'Standard', { type: 'API_KEY' });
      manualPlan = await createPlan(t, apiId, 'Reviewed', { type: 'API_KEY' }, { validation: 'MANUAL' });
      await waitServed(t, gw, path, 401);
    });

    it('answers 403 for the custom key of a PENDING subscription, and 200 once it is approved', async () => {
      const app = await createApplication(t, 'pending-key-app');
      const sub = await subscribe(t, app, manualPlan, { customApiKey: 'pending-custom-key-01' });
      expect(sub.status).toBe('PENDING');
      const headers = { 'x-api-key': 'pending-custom-key-01' };
      const pending = await gatewayAnswers(gw, path, 403, { headers });
      expect(replyOf(pending).body).toEqual(notActive);
      const before = upstream.received.length;
      expect((await send(gw, path, { headers })).status).toBe(403);
      expect(upstream.since(before)).toEqual([]);
      await must(t, 'approveSubscription', 'ApproveSubscriptionInput', 'subscription { status }', { id: sub.id });
      await gatewayAnswers(gw, path, 200, { headers });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(app, sub.id, manualPlan));
    });

    it('answers 403 while a subscription is PAUSED and 200 again after resume', async () => {
      const sub = await newSubscriber(t, 'paused-key-app', autoPlan);
      const headers = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, path, 200, { headers });
      await must(t, 'pauseSubscription', 'PauseSubscriptionInput', 'subscription { status }', { id: sub.id, reason: 'unpaid invoice' });
      const paused = await gatewayAnswers(gw, path, 403, { headers, timeoutMs: 2000 });
      expect(replyOf(paused).body).toEqual(notActive);
      await must(t, 'resumeSubscription', 'ResumeSubscriptionInput', 'subscription { status }', { id: sub.id });
      await gatewayAnswers(gw, path, 200, { headers, timeoutMs: 2000 });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, autoPlan));
    });

    it('answers 401 for the key of a CLOSED subscription (closing revokes the keys it owns)', async () => {
      const sub = await newSubscriber(t, 'closed-key-app', autoPlan);
      const headers = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, path, 200, { headers });
      await must(t, 'closeSubscription', 'CloseSubscriptionInput', 'subscription { status }', { id: sub.id });
      const closed = await gatewayAnswers(gw, path, 401, { headers, timeoutMs: 2000 });
      expect(replyOf(closed).body).toEqual({ status: 'error', message: 'Invalid API key.' });
    });

    it('stops a subscription whose endingAt passes', async () => {
      const endingAt = new Date(Date.now() + 6000).toISOString();
      const sub = await newSubscriber(t, 'ending-key-app', autoPlan, { subscribe: { endingAt } });
      const headers = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, path, 200, { headers });
      const ended = await eventually(() => sendThrough(gw, upstream, path, { headers }), (r) => r.answer.status !== 200, { timeoutMs: 15_000, intervalMs: 50, what: 'the key stops after endingAt' });
      expect([401, 403]).toContain(ended.answer.status);
      expect(ended.seen).toEqual([]);
    });
  });

  describe('JWT subscriptions (the client id is known to the gateway)', () => {
    const path = '/jwt-life/v1/items';
    let autoPlan: string;
    let manualPlan: string;
    const token = (clientId: string) => signer.sign({ sub: 'u', azp: clientId }, { kid: false });

    beforeAll(async () => {
      const apiId = await createApi(t, 'jwt-life-api', { context: '/jwt-life/$version', upstreamUrl: upstream.url });
      const jwt = { keyResolver: 'GIVEN_KEY', givenKey: signer.publicPem, signatureAlgorithms: ['RS256'] };
      autoPlan = await createPlan(t, apiId, 'Signed', { type: 'JWT', jwt });
      manualPlan = await createPlan(t, apiId, 'Signed, reviewed', { type: 'JWT', jwt }, { validation: 'MANUAL' });
      await waitServed(t, gw, path, 401);
    });

    it('answers 403 Subscription is not active for a PENDING and then REJECTED subscription', async () => {
      const app = await createApplication(t, 'pending-jwt-app', { clientId: 'pending-client' });
      const sub = await subscribe(t, app, manualPlan);
      expect(sub.status).toBe('PENDING');
      const headers = bearer(await token('pending-client'));
      await eventually(() => send(gw, path, { headers }), (a) => a.status === 403 && a.text.includes('Subscription is not active.'), { timeoutMs: 5000, what: 'PENDING -> 403 Subscription is not active.' });
      await must(t, 'rejectSubscription', 'RejectSubscriptionInput', 'subscription { status }', { id: sub.id, reason: 'no contract' });
      const rejected = await sendThrough(gw, upstream, path, { headers });
      expect(replyOf(rejected.answer)).toEqual({ status: 403, body: notActive });
      expect(rejected.seen).toEqual([]);
    });

    it('answers 403 while PAUSED, 200 after resume, 403 once CLOSED', async () => {
      const sub = await newSubscriber(t, 'paused-jwt-app', autoPlan, { clientId: 'paused-client' });
      const headers = bearer(await token('paused-client'));
      await gatewayAnswers(gw, path, 200, { headers });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, autoPlan));
      await must(t, 'pauseSubscription', 'PauseSubscriptionInput', 'subscription { status }', { id: sub.id });
      expect(replyOf(await gatewayAnswers(gw, path, 403, { headers, timeoutMs: 2000 })).body).toEqual(notActive);
      await must(t, 'resumeSubscription', 'ResumeSubscriptionInput', 'subscription { status }', { id: sub.id });
      await gatewayAnswers(gw, path, 200, { headers, timeoutMs: 2000 });
      await must(t, 'closeSubscription', 'CloseSubscriptionInput', 'subscription { status }', { id: sub.id });
      expect(replyOf(await gatewayAnswers(gw, path, 403, { headers, timeoutMs: 2000 })).body).toEqual(notActive);
    });

    it('answers 403 once a subscription’s endingAt has passed', async () => {
      const endingAt = new Date(Date.now() + 6000).toISOString();
      await newSubscriber(t, 'ending-jwt-app', autoPlan, { clientId: 'ending-client', subscribe: { endingAt } });
      const headers = bearer(await token('ending-client'));
      await gatewayAnswers(gw, path, 200, { headers });
      const ended = await answersWithin(gw, path, 403, { headers, timeoutMs: 15_000 });
      expect(replyOf(ended).body).toEqual(notActive);
    });
  });

  describe('plan lifecycle', () => {
    const path = '/plans-life/v1/items';
    let closing: string;
    let deprecated: string;
    let staying: string;

    beforeAll(async () => {
      const apiId = await createApi(t, 'plans-life-api', { context: '/plans-life/$version', upstreamUrl: upstream.url });
      closing = await createPlan(t, apiId, 'Legacy', { type: 'API_KEY' });
      deprecated = await createPlan(t, apiId, 'Classic', { type: 'API_KEY' });
      staying = await createPlan(t, apiId, 'Current', { type: 'API_KEY' });
      await waitServed(t, gw, path, 401);
    });

    it('keeps serving the subscribers of a DEPRECATED plan, which takes no new subscription', async () => {
      const sub = await newSubscriber(t, 'classic-app', deprecated);
      const headers = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, path, 200, { headers });
      await must(t, 'deprecatePlan', 'DeprecatePlanInput', 'plan { status }', { id: deprecated });
      const app = await createApplication(t, 'late-classic-app');
      expect((await mutation(t, 'subscribe', 'SubscribeInput', 'subscription { id }', { applicationId: app, planId: deprecated })).__typename).toBe('InvalidTransitionError');
      // A later change served proves the deprecation is served too (changes are translated in order).
      const marker = await newSubscriber(t, 'after-deprecation-app', staying);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': marker.key! } });
      const r = await sendThrough(gw, upstream, path, { headers });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, deprecated));
    });

    it('cuts the subscribers of a closed plan off, and only them', async () => {
      const closed = await newSubscriber(t, 'legacy-app', closing);
      const kept = await newSubscriber(t, 'current-app', staying);
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': closed.key! } });
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': kept.key! } });
      await must(t, 'closePlan', 'ClosePlanInput', 'plan { status }', { id: closing });
      const cut = await eventually(
        () => sendThrough(gw, upstream, path, { headers: { 'x-api-key': closed.key! } }),
        (r) => r.answer.status !== 200,
        { timeoutMs: 2000, what: 'the closed plan’s key stops' },
      );
      expect([401, 403]).toContain(cut.answer.status);
      expect(cut.seen).toEqual([]);
      const r = await sendThrough(gw, upstream, path, { headers: { 'x-api-key': kept.key! } });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(kept.applicationId, kept.id, staying));
    });
  });

  describe('private and public APIs', () => {
    it('admits only contracted applications on a private API, and anyone through a public API’s keyless plan', async () => {
      const privateApi = await createApi(t, 'private-api', { context: '/private/$version', upstreamUrl: upstream.url, visibility: 'private' });
      const privatePlan = await createPlan(t, privateApi, 'Contract', { type: 'API_KEY' });
      const publicApi = await createApi(t, 'public-api', { context: '/public/$version', upstreamUrl: upstream.url });
      const publicKeyless = await createPlan(t, publicApi, 'Open', { type: 'KEYLESS' });
      const publicKeyed = await createPlan(t, publicApi, 'Keyed', { type: 'API_KEY' });
      await waitServed(t, gw, '/private/v1/items', 401);

      const contracted = await newSubscriber(t, 'contracted-app', privatePlan);
      const outsider = await newSubscriber(t, 'outsider-app', publicKeyed);
      await gatewayAnswers(gw, '/private/v1/items', 200, { headers: { 'x-api-key': contracted.key! } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(contracted.applicationId, contracted.id, privatePlan));
      // A valid key of another API's contract is no contract here; no key is no contract either.
      const foreign = await sendThrough(gw, upstream, '/private/v1/items', { headers: { 'x-api-key': outsider.key! } });
      expect(foreign.answer.status).toBe(401);
      expect(foreign.seen).toEqual([]);
      expect((await sendThrough(gw, upstream, '/private/v1/items')).answer.status).toBe(401);

      // A consumer cannot contract with a private API it cannot see.
      const consumer = await userAuth(t, `private-consumer-${driver}`, 'consumer');
      const consumerApp = await createApplication(t, 'consumer-app', {}, consumer);
      expect((await mutation(t, 'subscribe', 'SubscribeInput', 'subscription { id }', { applicationId: consumerApp, planId: privatePlan }, consumer)).__typename).toBe('NotFoundError');

      const anyone = await servedThrough(gw, upstream, '/public/v1/items', { status: 200, plan: publicKeyless });
      expect(identityOf(anyone.seen[0]!.headers)).toEqual(expectedIdentity(null, null, publicKeyless));
    });
  });

  it('passes the strict Envoy proto check with every plan and subscription of this suite', async () => {
    await expectServedConfigValid(t, ['keys-life-api', 'jwt-life-api', 'plans-life-api', 'private-api', 'public-api']);
  });
});
