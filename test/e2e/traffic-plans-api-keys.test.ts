import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import {
  answersWithin, createApi, createApplication, createPlan, expectedIdentity, expectServedConfigValid, forgedIdentity, identityOf, must, mutation, newSubscriber,
  query, replyOf, sendThrough, subscribe, userAuth, waitServed,
} from '../helpers/plans-traffic.ts';
import { gatewayAnswers, rawId, type Recorder, send, startRecorder } from '../helpers/traffic.ts';

const invalidKey = { status: 'error', message: 'Invalid API key.' };

interface RestKey {
  apiKey: { name: string; apiKey: string };
}

// Seed 000 "API Key": generated, custom and shared keys; publishers read shared keys but cannot renew or revoke
// them; the application owner can. Also the v0.9 keys of an API with the api-key policy. Every key is checked on
// traffic through the gateway, with what the upstream received.
describe.each(shapeDrivers)('traffic: API keys of API_KEY plans (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let alphaPlan: string;
  let betaPlan: string;
  const alpha = '/alpha/v1/items';
  const beta = '/beta/v1/items';

  beforeAll(async () => {
    upstream = await startRecorder('keys-upstream');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
    const alphaApi = await createApi(t, 'alpha-api', { context: '/alpha/$version', upstreamUrl: upstream.url });
    const betaApi = await createApi(t, 'beta-api', { context: '/beta/$version', upstreamUrl: upstream.url });
    alphaPlan = await createPlan(t, alphaApi, 'Alpha keys', { type: 'API_KEY' });
    betaPlan = await createPlan(t, betaApi, 'Beta keys', { type: 'API_KEY' });
    await waitServed(t, gw, alpha, 401);
    await waitServed(t, gw, beta, 401);
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  describe('generated and custom keys', () => {
    it('admits a generated key with its subscription identity at the upstream, key and forged identity stripped', async () => {
      const sub = await newSubscriber(t, 'generated-app', alphaPlan);
      expect(sub.key).toEqual(expect.any(String));
      expect(sub.key!.length).toBeGreaterThanOrEqual(32);
      await gatewayAnswers(gw, alpha, 200, { headers: { 'x-api-key': sub.key! } });
      const { answer, seen } = await sendThrough(gw, upstream, alpha, { headers: { 'x-api-key': sub.key!, ...forgedIdentity } });
      expect(answer.status).toBe(200);
      expect(seen[0]!.headers['x-api-key']).toBeUndefined();
      expect(identityOf(seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, alphaPlan));
    });

    it('admits a custom key given at subscription, and refuses a custom key with forbidden characters', async () => {
      const custom = 'legacy-partner-key-0001';
      const sub = await newSubscriber(t, 'custom-app', alphaPlan, { subscribe: { customApiKey: custom } });
      expect(sub.key).toBe(custom);
      await gatewayAnswers(gw, alpha, 200, { headers: { 'x-api-key': custom } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, alphaPlan));
      const app = await createApplication(t, 'bad-custom-app');
      const refused = await mutation(t, 'subscribe', 'SubscribeInput', 'subscription { id }', { applicationId: app, planId: alphaPlan, customApiKey: 'has#hash;and=equals' });
      expect(refused.__typename).toBe('ValidationError');
    });

    it('answers 401 Missing API key without a key and 401 Invalid API key for an unknown one, without calling the upstream', async () => {
      const missing = await sendThrough(gw, upstream, alpha);
      expect(missing.answer.status).toBe(401);
      expect(missing.seen).toEqual([]);
      const unknown = await sendThrough(gw, upstream, alpha, { headers: { 'x-api-key': 'not-a-key-of-this-platform' } });
      expect(replyOf(unknown.answer)).toEqual({ status: 401, body: invalidKey });
      expect(unknown.seen).toEqual([]);
    });
  });

  describe('a shared key (SHARED application key mode, two APIs)', () => {
    let consumer: string;
    let publisher: string;
    let appId: string;
    let subAlpha: Awaited<ReturnType<typeof subscribe>>;
    let subBeta: Awaited<ReturnType<typeof subscribe>>;
    let sharedKey: string;

    beforeAll(async () => {
      consumer = await userAuth(t, `consumer-${driver}`, 'consumer');
      publisher = await userAuth(t, `publisher-${driver}`, 'publisher');
      appId = await createApplication(t, 'shared-key-app', {}, consumer);
      subAlpha = await subscribe(t, appId, alphaPlan, {}, consumer);
      // The second API-key subscription, on a distinct API: the consumer chooses to share the first key.
      subBeta = await subscribe(t, appId, betaPlan, { apiKeyMode: 'SHARED' }, consumer);
      sharedKey = subAlpha.key ?? '';
    });

    it('issues no second key: the application holds one shared key', async () => {
      expect(subAlpha.key).toEqual(expect.any(String));
      expect(subBeta.key).toBeNull();
      const app = await query<{ application: { apiKeyMode: string; sharedKey: { id: string } | null } }>(
        t, 'query($id: ID!) { application(id: $id) { apiKeyMode sharedKey { id } } }', { id: appId }, consumer,
      );
      expect(app.application.apiKeyMode).toBe('SHARED');
      expect(app.application.sharedKey).not.toBeNull();
    });

    it('admits the one key on both APIs, each with that API’s subscription identity at the upstream', async () => {
      const headers = { 'x-api-key': sharedKey };
      await gatewayAnswers(gw, alpha, 200, { headers });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(appId, subAlpha.id, alphaPlan));
      await gatewayAnswers(gw, beta, 200, { headers });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(appId, subBeta.id, betaPlan));
      expect(upstream.last().headers['x-api-key']).toBeUndefined();
    });

    it('refuses a publisher’s revoke of the shared key (ForbiddenError), which keeps working', async () => {
      const keys = await query<{ apiKeys: { nodes: { id: string; owner: string; status: string }[] } }>(
        t, 'query($app: ID!) { apiKeys(applicationId: $app, owner: application) { nodes { id owner status } } }', { app: appId }, publisher,
      );
      const shared = keys.apiKeys.nodes.find((k) => k.status === 'active');
      expect(shared?.owner).toBe('application');
      const revoke = await mutation(t, 'revokeApiKey', 'RevokeApiKeyInput', 'apiKey { status }', { id: shared!.id }, publisher);
      expect(revoke.__typename).toBe('ForbiddenError');
      const renew = await mutation(t, 'renewApiKey', 'RenewApiKeyInput', 'issued { value }', { id: shared!.id }, publisher);
      expect(renew.__typename).toBe('ForbiddenError');
      expect((await send(gw, alpha, { headers: { 'x-api-key': sharedKey } })).status).toBe(200);
      expect((await send(gw, beta, { headers: { 'x-api-key': sharedKey } })).status).toBe(200);
    });

    it('stops the key on both APIs within ~1 s of the owner’s revoke', async () => {
      const app = await query<{ application: { sharedKey: { id: string } } }>(t, 'query($id: ID!) { application(id: $id) { sharedKey { id } } }', { id: appId }, consumer);
      await must(t, 'revokeApiKey', 'RevokeApiKeyInput', 'apiKey { status }', { id: app.application.sharedKey.id }, consumer);
      const headers = { 'x-api-key': sharedKey };
      expect((await gatewayAnswers(gw, alpha, 401, { headers, timeoutMs: 1500 })).json()).toEqual(invalidKey);
      expect((await gatewayAnswers(gw, beta, 401, { headers, timeoutMs: 500 })).json()).toEqual(invalidKey);
    });
  });

  describe('exclusive keys (EXCLUSIVE application key mode, two APIs)', () => {
    it('admits each key only on its own subscription’s API', async () => {
      const app = await createApplication(t, 'exclusive-app');
      const onAlpha = await subscribe(t, app, alphaPlan);
      const onBeta = await subscribe(t, app, betaPlan, { apiKeyMode: 'EXCLUSIVE' });
      expect(onAlpha.key).not.toBe(onBeta.key);
      await gatewayAnswers(gw, alpha, 200, { headers: { 'x-api-key': onAlpha.key! } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(app, onAlpha.id, alphaPlan));
      await gatewayAnswers(gw, beta, 200, { headers: { 'x-api-key': onBeta.key! } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(app, onBeta.id, betaPlan));
      const crossed = await sendThrough(gw, upstream, beta, { headers: { 'x-api-key': onAlpha.key! } });
      expect(replyOf(crossed.answer)).toEqual({ status: 401, body: invalidKey });
      expect(crossed.seen).toEqual([]);
      expect((await send(gw, alpha, { headers: { 'x-api-key': onBeta.key! } })).status).toBe(401);
    });
  });

  describe('renewal and expiry', () => {
    it('keeps the old key working during the grace period, then stops it; the new key works', async () => {
      const sub = await newSubscriber(t, 'renewing-app', alphaPlan);
      const old = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, alpha, 200, { headers: old });
      const renewed = await must<{ issued: { value: string } }>(t, 'renewApiKey', 'RenewApiKeyInput', 'issued { value }', { id: sub.keyId, graceSeconds: 6 });
      const fresh = { 'x-api-key': renewed.issued.value };
      expect((await send(gw, alpha, { headers: old })).status).toBe(200);
      await gatewayAnswers(gw, alpha, 200, { headers: fresh });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, alphaPlan));
      // Still within the 6 s grace (the new key is served well before): the old value works beside the new one.
      const during = await sendThrough(gw, upstream, alpha, { headers: old });
      expect(during.answer.status).toBe(200);
      expect(identityOf(during.seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, alphaPlan));
      const after = await answersWithin(gw, alpha, 401, { headers: old, timeoutMs: 15_000 });
      expect(after.json()).toEqual(invalidKey);
      expect((await send(gw, alpha, { headers: fresh })).status).toBe(200);
    });

    it('stops the old value within 1 s of a renewal without grace; the new value works', async () => {
      const sub = await newSubscriber(t, 'renewed-now-app', alphaPlan);
      const old = { 'x-api-key': sub.key! };
      await gatewayAnswers(gw, alpha, 200, { headers: old });
      const renewed = await must<{ issued: { value: string } }>(t, 'renewApiKey', 'RenewApiKeyInput', 'issued { value }', { id: sub.keyId, graceSeconds: 0 });
      await gatewayAnswers(gw, alpha, 401, { headers: old, timeoutMs: 1000 });
      await gatewayAnswers(gw, alpha, 200, { headers: { 'x-api-key': renewed.issued.value } });
    });

    it('stops a key once it expires', async () => {
      const sub = await newSubscriber(t, 'expiring-app', alphaPlan);
      const renewed = await must<{ issued: { value: string; key: { expiresAt: string } } }>(
        t, 'renewApiKey', 'RenewApiKeyInput', 'issued { value key { expiresAt } }',
        { id: sub.keyId, graceSeconds: 0, expiresIn: { duration: 6, unit: 'seconds' } },
      );
      expect(Date.parse(renewed.issued.key.expiresAt)).toBeGreaterThan(Date.now());
      const headers = { 'x-api-key': renewed.issued.value };
      await gatewayAnswers(gw, alpha, 200, { headers });
      expect((await answersWithin(gw, alpha, 401, { headers, timeoutMs: 15_000 })).json()).toEqual(invalidKey);
      const status = await query<{ apiKeys: { nodes: { status: string }[] } }>(t, 'query($s: ID!) { apiKeys(subscriptionId: $s) { nodes { status } } }', { s: sub.id });
      expect(status.apiKeys.nodes.map((k) => k.status)).not.toContain('active');
    });
  });

  describe('key location and propagation per plan', () => {
    it('reads the key from the plan’s query parameter and removes it from the upstream URL', async () => {
      const api = await createApi(t, 'query-key-api', { context: '/by-query/$version', upstreamUrl: upstream.url });
      const plan = await createPlan(t, api, 'Query key', { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'api_key' } });
      await waitServed(t, gw, '/by-query/v1/items', 401);
      const sub = await newSubscriber(t, 'query-key-app', plan);
      const path = `/by-query/v1/items?page=2&api_key=${encodeURIComponent(sub.key!)}`;
      await gatewayAnswers(gw, path, 200);
      const seen = upstream.last();
      expect(seen.url).toBe('/items?page=2');
      expect(identityOf(seen.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, plan));
      // The header is not where this plan looks.
      expect((await send(gw, '/by-query/v1/items', { headers: { 'x-api-key': sub.key! } })).status).toBe(401);
    });

    it('reads the key from the plan’s own header name and strips it before the upstream', async () => {
      const api = await createApi(t, 'header-key-api', { context: '/by-header/$version', upstreamUrl: upstream.url });
      const plan = await createPlan(t, api, 'Header key', { type: 'API_KEY', apiKey: { keyName: 'X-Order-Key' } });
      await waitServed(t, gw, '/by-header/v1/items', 401);
      const sub = await newSubscriber(t, 'header-key-app', plan);
      await gatewayAnswers(gw, '/by-header/v1/items', 200, { headers: { 'x-order-key': sub.key! } });
      const seen = upstream.last().headers;
      expect(seen['x-order-key']).toBeUndefined();
      expect(identityOf(seen)).toEqual(expectedIdentity(sub.applicationId, sub.id, plan));
    });

    it('keeps the key on the upstream request when the plan propagates it', async () => {
      const api = await createApi(t, 'propagated-key-api', { context: '/propagated/$version', upstreamUrl: upstream.url });
      const plan = await createPlan(t, api, 'Forwarded key', { type: 'API_KEY', apiKey: { keyName: 'X-Partner-Key', propagateKey: true } });
      await waitServed(t, gw, '/propagated/v1/items', 401);
      const sub = await newSubscriber(t, 'propagated-app', plan);
      await gatewayAnswers(gw, '/propagated/v1/items', 200, { headers: { 'x-partner-key': sub.key! } });
      const seen = upstream.last().headers;
      expect(seen['x-partner-key']).toBe(sub.key);
      expect(identityOf(seen)).toEqual(expectedIdentity(sub.applicationId, sub.id, plan));
    });
  });

  describe('a selection rule on an API_KEY plan', () => {
    it('admits a key only when its plan’s rule holds, else 401 No plan matches this request', async () => {
      const api = await createApi(t, 'partner-api', { context: '/partner/$version', upstreamUrl: upstream.url, operations: [{ method: 'GET', path: '/items' }, { method: 'DELETE', path: '/items' }] });
      const plan = await createPlan(t, api, 'Acme only', { type: 'API_KEY' }, { selectionRule: 'header.x-partner == "acme" && method != "DELETE"' });
      await waitServed(t, gw, '/partner/v1/items', 401);
      const sub = await newSubscriber(t, 'acme-app', plan);
      await gatewayAnswers(gw, '/partner/v1/items', 200, { headers: { 'x-api-key': sub.key!, 'X-Partner': 'acme' } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, plan));
      for (const [method, partner] of [['GET', 'globex'], ['GET', undefined], ['DELETE', 'acme']] as const) {
        const r = await sendThrough(gw, upstream, '/partner/v1/items', { method, headers: { 'x-api-key': sub.key!, ...(partner ? { 'x-partner': partner } : {}) } });
        expect({ method, partner, ...replyOf(r.answer) }).toEqual({ method, partner, status: 401, body: { status: 'error', message: 'No plan matches this request.' } });
        expect(r.seen).toEqual([]);
      }
    });

    it('refuses a plan whose selection rule does not parse, with a validation error on selectionRule', async () => {
      const api = await createApi(t, 'rule-syntax-api', { context: '/rule-syntax/$version', upstreamUrl: upstream.url });
      const created = await t.graphql<{ createPlan: { __typename: string; issues?: { path: string }[] } }>(
        'mutation($input: CreatePlanInput!) { createPlan(input: $input) { __typename ... on ValidationError { issues { path message } } } }',
        { input: { apiId: api, name: 'Broken', security: { type: 'API_KEY' }, selectionRule: 'header.x-tier == ' } },
      );
      expect(created.data?.createPlan.__typename).toBe('ValidationError');
      expect(created.data?.createPlan.issues?.map((i) => i.path)).toContain('selectionRule');
    });
  });

  describe('v0.9 keys of an API with the api-key policy (REST)', () => {
    const path = '/keyed/v1/items';
    const keysPath = '/rest-apis/keyed-api/api-keys';
    let rest: RestClient;

    beforeAll(async () => {
      rest = restClient(t);
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
      expect((await send(gw, path, { headers: { 'x-api-key': 'apip_not-a-key' } })).json()).toEqual(invalidKey);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers 200 after POST …/api-keys, strips the key and the forged x-apip-* headers before the upstream', async () => {
      const created = await rest.post<RestKey>(keysPath, { name: 'reader' });
      expect(created.status).toBe(201);
      const key = created.body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': key } });
      const answer = await send(gw, path, { headers: { 'X-API-Key': key, ...forgedIdentity, 'x-apip-user-id': 'forged-user', 'x-apip-quota-exceeded': 'true' } });
      expect(answer.status).toBe(200);
      const seen = upstream.last();
      expect(seen.headers['x-api-key']).toBeUndefined();
      // A v0.9 key names no application, subscription or plan: nothing client-supplied may remain.
      expect(Object.keys(seen.headers).filter((name) => name.startsWith('x-apip-'))).toEqual([]);
    });

    it('answers 401 within 1 s of revoking the key (DELETE …/api-keys/{name})', async () => {
      const key = (await rest.post<RestKey>(keysPath, { name: 'revoked-soon' })).body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': key } });
      expect((await rest.delete(`${keysPath}/revoked-soon`)).status).toBe(200);
      const answer = await gatewayAnswers(gw, path, 401, { headers: { 'x-api-key': key }, timeoutMs: 1000 });
      expect(answer.json()).toEqual(invalidKey);
    });

    it('answers 401 for the old value within 1 s of regenerate, and 200 for the new value', async () => {
      const old = (await rest.post<RestKey>(keysPath, { name: 'rotating' })).body.apiKey.apiKey;
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': old } });
      const regenerated = await rest.post<RestKey>(`${keysPath}/rotating/regenerate`, {});
      expect(regenerated.status).toBe(200);
      const fresh = regenerated.body.apiKey.apiKey;
      expect(fresh).not.toBe(old);
      await gatewayAnswers(gw, path, 401, { headers: { 'x-api-key': old }, timeoutMs: 1000 });
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': fresh } });
    });
  });

  it('passes the strict Envoy proto check with every plan of this suite served', async () => {
    await expectServedConfigValid(t, ['alpha-api', 'beta-api', 'query-key-api', 'header-key-api', 'propagated-key-api', 'partner-api', 'keyed-api'], [rawId(alphaPlan), rawId(betaPlan)]);
  });
});
