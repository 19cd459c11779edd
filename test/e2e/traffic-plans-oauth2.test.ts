import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import {
  createApi, createPlan, expectedIdentity, expectServedConfigValid, forgedIdentity, identityOf, inSeconds, type IntrospectionServer, must,
  newSubscriber, query, replyOf, sendThrough, startIntrospectionServer, waitServed,
} from '../helpers/plans-traffic.ts';
import { eventually, gatewayAnswers, type Recorder, send, startRecorder } from '../helpers/traffic.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** An opaque access token, as an authorization server would issue it. */
const notActive = { status: 'error', message: 'Subscription is not active.' };
const opaque = () => `at_${randomBytes(16).toString('hex')}`;

// Seed 000 "OAuth2": the token is checked by RFC 7662 introspection against an OAuth2 resource (here an
// authorization server defined once and referred to by the plan); the introspected client_id finds the
// application's subscription; required scopes, strict or not; answers cached.
describe.each(shapeDrivers)('traffic: OAuth2 plans with token introspection (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let idp: IntrospectionServer;

  /** createAuthorizationServer; returns its global id, which `security.oauth2.authorizationServerId` takes. */
  async function authorizationServer(name: string, server: IntrospectionServer, extra: Record<string, unknown> = {}): Promise<string> {
    const created = await must<{ authorizationServer: { id: string; hasClientSecret: boolean } }>(
      t, 'createAuthorizationServer', 'CreateAuthorizationServerInput', 'authorizationServer { id hasClientSecret }',
      { name, introspectionUrl: server.url, clientId: 'gateway-client', clientSecret: 'gateway-secret', ...extra },
    );
    expect(created.authorizationServer.hasClientSecret).toBe(true);
    return created.authorizationServer.id;
  }

  /** An active token of `clientId` known to `server`. */
  function activeToken(server: IntrospectionServer, clientId: string, scope: string): string {
    const token = opaque();
    server.tokens.set(token, { active: true, client_id: clientId, scope, sub: `user-of-${clientId}`, exp: inSeconds(600), tier: 'gold' });
    return token;
  }

  beforeAll(async () => {
    upstream = await startRecorder('oauth2-upstream');
    idp = await startIntrospectionServer('gateway-client', 'gateway-secret');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    await idp?.close();
  });

  describe('an OAUTH2 plan on an authorization server (scopes: any of read, write)', () => {
    const path = '/oauth/v1/items';
    let planId: string;
    let sub: Awaited<ReturnType<typeof newSubscriber>>;

    beforeAll(async () => {
      const serverId = await authorizationServer('corp-idp', idp, { maxCacheSeconds: 60 });
      const apiId = await createApi(t, 'oauth-api', { context: '/oauth/$version', upstreamUrl: upstream.url });
      planId = await createPlan(t, apiId, 'Delegated', {
        type: 'OAUTH2',
        oauth2: { authorizationServerId: serverId, requiredScopes: ['items:read', 'items:write'], strictScopes: false },
      });
      await waitServed(t, gw, path, 401);
      sub = await newSubscriber(t, 'oauth-app', planId, { clientId: 'oauth-client-1' });
    });

    it('admits an active token of a subscribed client, with its identity at the upstream and the token stripped', async () => {
      const token = activeToken(idp, 'oauth-client-1', 'items:read');
      await gatewayAnswers(gw, path, 200, { headers: bearer(token) });
      const r = await sendThrough(gw, upstream, path, { headers: { ...bearer(token), ...forgedIdentity } });
      expect(r.answer.status).toBe(200);
      expect(r.seen[0]!.headers.authorization).toBeUndefined();
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
    });

    it('introspects as RFC 7662 says: a form POST of the token, authenticated with the server’s client credentials', () => {
      const call = idp.calls.find((c) => c.token !== '');
      expect(call).toBeDefined();
      expect(call!.credentials).toBe('gateway-client:gateway-secret');
      expect(call!.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    });

    it('answers 401 for an inactive token, an unknown token and no token, without calling the upstream', async () => {
      const inactive = opaque();
      idp.tokens.set(inactive, { active: false });
      const mark = upstream.received.length;
      const a = await send(gw, path, { headers: bearer(inactive) });
      expect(a.status).toBe(401);
      expect(String(a.headers['www-authenticate'])).toMatch(/^Bearer/);
      expect((await send(gw, path, { headers: bearer(opaque()) })).status).toBe(401);
      const none = await send(gw, path);
      expect(none.status).toBe(401);
      expect(String(none.headers['www-authenticate'])).toMatch(/Bearer/);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers 403 for an active token of a client without a subscription', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: bearer(activeToken(idp, 'stranger-client', 'items:read')) });
      expect(r.answer.status).toBe(403);
      expect(r.seen).toEqual([]);
    });

    it('answers 403 Insufficient scope when the token holds none of the required scopes', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: bearer(activeToken(idp, 'oauth-client-1', 'profile email')) });
      expect(replyOf(r.answer)).toEqual({ status: 403, body: { status: 'error', message: 'Insufficient scope.' } });
      expect(r.seen).toEqual([]);
      expect((await send(gw, path, { headers: bearer(activeToken(idp, 'oauth-client-1', 'items:write')) })).status).toBe(200);
    });

    it('introspects a token once and answers its next requests from the cache', async () => {
      const token = activeToken(idp, 'oauth-client-1', 'items:read items:write');
      for (let i = 0; i < 4; i++) expect((await send(gw, path, { headers: bearer(token) })).status).toBe(200);
      expect(idp.callsFor(token)).toBe(1);
    });

    it('answers 403 Subscription is not active while the client’s subscription is PAUSED, 200 after resume, 403 once CLOSED', async () => {
      const other = await newSubscriber(t, 'oauth-paused-app', planId, { clientId: 'oauth-client-2' });
      const call = () => sendThrough(gw, upstream, path, { headers: bearer(activeToken(idp, 'oauth-client-2', 'items:read')) });
      await eventually(call, (r) => r.answer.status === 200, { timeoutMs: 5000, what: 'the new subscription is served' });
      await must(t, 'pauseSubscription', 'PauseSubscriptionInput', 'subscription { status }', { id: other.id });
      const paused = await eventually(call, (r) => r.answer.status !== 200, { timeoutMs: 2000, what: 'PAUSED stops the client' });
      expect(replyOf(paused.answer)).toEqual({ status: 403, body: notActive });
      expect(paused.seen).toEqual([]);
      await must(t, 'resumeSubscription', 'ResumeSubscriptionInput', 'subscription { status }', { id: other.id });
      const resumed = await eventually(call, (r) => r.answer.status === 200, { timeoutMs: 2000, what: 'resume admits the client again' });
      expect(identityOf(resumed.seen[0]!.headers)).toEqual(expectedIdentity(other.applicationId, other.id, planId));
      await must(t, 'closeSubscription', 'CloseSubscriptionInput', 'subscription { status }', { id: other.id });
      const closed = await eventually(call, (r) => r.answer.status !== 200, { timeoutMs: 2000, what: 'CLOSED stops the client' });
      expect(replyOf(closed.answer)).toEqual({ status: 403, body: notActive });
      expect(closed.seen).toEqual([]);
    });

    it('keeps the client secret write-only', async () => {
      const servers = await query<{ authorizationServers: { nodes: Record<string, unknown>[] } }>(t, '{ authorizationServers(first: 10) { nodes { name clientId hasClientSecret } } }');
      expect(JSON.stringify(servers)).not.toContain('gateway-secret');
      const plan = await query<{ plan: { security: unknown } }>(t, 'query($id: ID!) { plan(id: $id) { security { type } } }', { id: planId });
      expect(JSON.stringify(plan)).not.toContain('gateway-secret');
    });
  });

  describe('an OAUTH2 plan in the inline form (introspection URL and client on the plan, kept for compatibility)', () => {
    it('admits an active token of a subscribed client, introspected once while cached, and refuses an inactive one', async () => {
      const apiId = await createApi(t, 'oauth-inline-api', { context: '/oauth-inline/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Inline', {
        type: 'OAUTH2',
        oauth2: { introspectionUrl: idp.url, clientId: 'gateway-client', clientSecret: 'gateway-secret', cacheTtlSeconds: 60, requiredScopes: ['items:read'] },
      });
      await waitServed(t, gw, '/oauth-inline/v1/items', 401);
      const sub = await newSubscriber(t, 'oauth-inline-app', planId, { clientId: 'oauth-inline-client' });
      const token = activeToken(idp, 'oauth-inline-client', 'items:read');
      await waitServed(t, gw, '/oauth-inline/v1/items', 200, { headers: bearer(token) });
      const calls = idp.callsFor(token);
      const r = await sendThrough(gw, upstream, '/oauth-inline/v1/items', { headers: { ...bearer(token), ...forgedIdentity } });
      expect(r.answer.status).toBe(200);
      expect(r.seen[0]!.headers.authorization).toBeUndefined();
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
      expect((await send(gw, '/oauth-inline/v1/items', { headers: bearer(token) })).status).toBe(200);
      expect(idp.callsFor(token)).toBe(calls);
      expect(idp.calls.at(-1)!.credentials).toBe('gateway-client:gateway-secret');
      const inactive = opaque();
      idp.tokens.set(inactive, { active: false });
      const refused = await sendThrough(gw, upstream, '/oauth-inline/v1/items', { headers: bearer(inactive) });
      expect(refused.answer.status).toBe(401);
      expect(refused.seen).toEqual([]);
    });
  });

  describe('strict scopes', () => {
    it('answers 403 unless the token holds every required scope', async () => {
      const serverId = await authorizationServer('strict-idp', idp);
      const apiId = await createApi(t, 'oauth-strict-api', { context: '/oauth-strict/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Strict', {
        type: 'OAUTH2',
        oauth2: { authorizationServerId: serverId, requiredScopes: ['items:read', 'items:write'], strictScopes: true },
      });
      await waitServed(t, gw, '/oauth-strict/v1/items', 401);
      const sub = await newSubscriber(t, 'oauth-strict-app', planId, { clientId: 'oauth-strict-client' });
      await gatewayAnswers(gw, '/oauth-strict/v1/items', 200, { headers: bearer(activeToken(idp, 'oauth-strict-client', 'items:read items:write')) });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
      const partial = await sendThrough(gw, upstream, '/oauth-strict/v1/items', { headers: bearer(activeToken(idp, 'oauth-strict-client', 'items:read')) });
      expect(partial.answer.status).toBe(403);
      expect(partial.seen).toEqual([]);
    });
  });

  // Issue 12 item 2: a second OAuth2 plan naming another authorization server used to take the whole API off
  // traffic (404, the reason only in deploymentStatus). The route now introspects with each plan's server in plan
  // order until one says active, and only that server's plans are candidates.
  describe('two OAUTH2 plans on one API, each on its own authorization server', () => {
    const path = '/oauth-two/v1/items';
    let second: IntrospectionServer;
    let planA: string;
    let planB: string;
    let subA: Awaited<ReturnType<typeof newSubscriber>>;
    let subB: Awaited<ReturnType<typeof newSubscriber>>;

    beforeAll(async () => {
      second = await startIntrospectionServer('gateway-client', 'gateway-secret');
      const serverA = await authorizationServer('idp-a', idp, { maxCacheSeconds: 60 });
      const serverB = await authorizationServer('idp-b', second, { maxCacheSeconds: 60 });
      const apiId = await createApi(t, 'oauth-two-api', { context: '/oauth-two/$version', upstreamUrl: upstream.url });
      planA = await createPlan(t, apiId, 'Workforce', { type: 'OAUTH2', oauth2: { authorizationServerId: serverA, requiredScopes: ['items:read'] } });
      planB = await createPlan(t, apiId, 'Partners', { type: 'OAUTH2', oauth2: { authorizationServerId: serverB, requiredScopes: ['items:read'] } });
      await waitServed(t, gw, path, 401);
      subA = await newSubscriber(t, 'oauth-two-a', planA, { clientId: 'two-client-a' });
      subB = await newSubscriber(t, 'oauth-two-b', planB, { clientId: 'two-client-b' });
    });
    afterAll(async () => {
      await second?.close();
    });

    it('admits each server\u2019s tokens to its own plan, with that plan\u2019s identity at the upstream', async () => {
      const tokenA = activeToken(idp, 'two-client-a', 'items:read');
      const tokenB = activeToken(second, 'two-client-b', 'items:read');
      await waitServed(t, gw, path, 200, { headers: bearer(tokenB) });
      const a = await sendThrough(gw, upstream, path, { headers: { ...bearer(tokenA), ...forgedIdentity } });
      expect(a.answer.status).toBe(200);
      expect(identityOf(a.seen[0]!.headers)).toEqual(expectedIdentity(subA.applicationId, subA.id, planA));
      const b = await sendThrough(gw, upstream, path, { headers: { ...bearer(tokenB), ...forgedIdentity } });
      expect(b.answer.status).toBe(200);
      expect(identityOf(b.seen[0]!.headers)).toEqual(expectedIdentity(subB.applicationId, subB.id, planB));
      // Introspected at idp-a first (plan order), inactive there, then at idp-b; cached at idp-b from then on.
      expect(idp.callsFor(tokenB)).toBeGreaterThanOrEqual(1);
      const callsB = second.callsFor(tokenB);
      expect((await send(gw, path, { headers: bearer(tokenB) })).status).toBe(200);
      expect(second.callsFor(tokenB)).toBe(callsB);
    });

    it('answers 401 for a token neither server knows, and 403 for a client of the other server\u2019s plan', async () => {
      const mark = upstream.received.length;
      const unknown = await send(gw, path, { headers: bearer(opaque()) });
      expect(unknown.status).toBe(401);
      // idp-b says active for a client id only idp-a's plan has a subscription for: not a subscriber of idp-b's plan.
      expect((await send(gw, path, { headers: bearer(activeToken(second, 'two-client-a', 'items:read')) })).status).toBe(403);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('serves the API with no deployment problem and a strictly valid Envoy configuration', async () => {
      await expectServedConfigValid(t, ['oauth-two-api'], ['apip/oauth2/']);
    });
  });

  describe('an authorization server that is down', () => {
    it('answers 503 for a token that needs introspection, without calling the upstream', async () => {
      const flaky = await startIntrospectionServer('gateway-client', 'gateway-secret');
      try {
        const serverId = await authorizationServer('flaky-idp', flaky, { timeoutMs: 500 });
        const apiId = await createApi(t, 'oauth-down-api', { context: '/oauth-down/$version', upstreamUrl: upstream.url });
        const planId = await createPlan(t, apiId, 'Fragile', { type: 'OAUTH2', oauth2: { authorizationServerId: serverId } });
        await waitServed(t, gw, '/oauth-down/v1/items', 401);
        await newSubscriber(t, 'oauth-down-app', planId, { clientId: 'oauth-down-client' });
        await gatewayAnswers(gw, '/oauth-down/v1/items', 200, { headers: bearer(activeToken(flaky, 'oauth-down-client', '')) });
        await flaky.close();
        const token = activeToken(flaky, 'oauth-down-client', '');
        const down = await eventually(() => sendThrough(gw, upstream, '/oauth-down/v1/items', { headers: bearer(token) }), (r) => r.answer.status === 503, { timeoutMs: 5000, what: '503 while the authorization server is down' });
        expect(down.seen).toEqual([]);
      } finally {
        await flaky.close();
      }
    });
  });

  it('passes the strict Envoy proto check with the OAuth2 plans served', async () => {
    await expectServedConfigValid(t, ['oauth-api', 'oauth-inline-api', 'oauth-strict-api', 'oauth-down-api']);
    // The gateway's introspection secret is configuration for the oauth2 module, never a readable field; the
    // test only checks it is not served to anyone but the module (no clear secret in routes or clusters).
    const resources = t.platform.snapshots.current()?.resources;
    expect(JSON.stringify(resources?.routeConfiguration ?? [])).not.toContain('gateway-secret');
  });
});
