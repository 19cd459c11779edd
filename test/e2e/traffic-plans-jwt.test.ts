import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { sql } from 'drizzle-orm';
import {
  createApi, createApplication, createPlan, expectedIdentity, expectServedConfigValid, forgedIdentity, identityOf, must, newSubscriber, query,
  replyOf, sendThrough, sshRsaPublicKey, subscribe, waitServed,
} from '../helpers/plans-traffic.ts';
import { gatewayAnswers, rawId, type Recorder, rsaSigningKey, send, type SigningKey, startJsonServer, startRecorder } from '../helpers/traffic.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const insufficientScope = { status: 'error', message: 'Insufficient scope.' };
const invalidToken = { status: 'error', message: 'Invalid token.' };
const anHourAgo = () => Math.floor(Date.now() / 1000) - 3600;

// Seed 000 "JWT": GIVEN_KEY (PEM, JWK, ssh-rsa), JWKS_URL, the client id claim linking a token to the
// application's subscription, scopes (strict or not), claims extracted, refusals with their Bearer challenges, and selection rules among JWT plans of
// one API (docs/plan-selection.md).
describe.each(shapeDrivers)('traffic: JWT plans (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let issuer: SigningKey;
  let idp: SigningKey;
  let jwks: Awaited<ReturnType<typeof startJsonServer>>;

  beforeAll(async () => {
    upstream = await startRecorder('jwt-plans-upstream');
    [issuer, idp] = await Promise.all([rsaSigningKey('issuer-1'), rsaSigningKey('idp-key-1')]);
    jwks = await startJsonServer({ keys: [idp.publicJwk] });
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    await jwks?.close();
  });

  describe('GIVEN_KEY as a PEM: client id -> subscription, scopes (any), claims to headers', () => {
    const path = '/pem/v1/items';
    let planId: string;
    let first: Awaited<ReturnType<typeof newSubscriber>>;
    let second: Awaited<ReturnType<typeof newSubscriber>>;
    const sign = (claims: Record<string, unknown>) => issuer.sign({ sub: 'user-1', scope: 'books:read', email: 'u1@example.com', ...claims }, { kid: false });

    beforeAll(async () => {
      const apiId = await createApi(t, 'pem-api', { context: '/pem/$version', upstreamUrl: upstream.url });
      planId = await createPlan(t, apiId, 'Signed', {
        type: 'JWT',
        jwt: {
          keyResolver: 'GIVEN_KEY',
          givenKey: issuer.publicPem,
          signatureAlgorithms: ['RS256'],
          requiredScopes: ['books:read', 'books:write'],
          strictScopes: false,
          extractClaims: [{ claim: 'email', header: 'X-User-Email' }, { claim: 'tenant', header: 'X-Tenant' }],
        },
      });
      await waitServed(t, gw, path, 401);
      first = await newSubscriber(t, 'pem-app-1', planId, { clientId: 'pem-client-1' });
      second = await newSubscriber(t, 'pem-app-2', planId, { clientId: 'pem-client-2' });
      // Both subscriptions are served before the tests tell them apart.
      await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({ azp: 'pem-client-1' })) });
      await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({ azp: 'pem-client-2' })) });
    });

    it('admits a token and finds the subscription of the application whose clientId the token names', async () => {
      const one = await sign({ azp: 'pem-client-1' });
      await gatewayAnswers(gw, path, 200, { headers: bearer(one) });
      let r = await sendThrough(gw, upstream, path, { headers: { ...bearer(one), ...forgedIdentity } });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(first.applicationId, first.id, planId));
      expect(r.seen[0]!.headers.authorization).toBeUndefined();
      r = await sendThrough(gw, upstream, path, { headers: bearer(await sign({ azp: 'pem-client-2' })) });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(second.applicationId, second.id, planId));
    });

    it('reads the client id from aud, then client_id, when there is no azp', async () => {
      let r = await sendThrough(gw, upstream, path, { headers: bearer(await sign({ aud: 'pem-client-2' })) });
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(second.applicationId, second.id, planId));
      r = await sendThrough(gw, upstream, path, { headers: bearer(await sign({ client_id: 'pem-client-1' })) });
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(first.applicationId, first.id, planId));
    });

    it('copies the configured claims into request headers at the upstream', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: { ...bearer(await sign({ azp: 'pem-client-1', tenant: 'acme' })), 'x-tenant': 'forged' } });
      expect(r.answer.status).toBe(200);
      expect(r.seen[0]!.headers['x-user-email']).toBe('u1@example.com');
      expect(r.seen[0]!.headers['x-tenant']).toBe('acme');
    });

    it('admits a token holding any one required scope (not strict) and answers 403 Insufficient scope for none', async () => {
      expect((await send(gw, path, { headers: bearer(await sign({ azp: 'pem-client-1', scope: 'books:write' })) })).status).toBe(200);
      const none = await sendThrough(gw, upstream, path, { headers: bearer(await sign({ azp: 'pem-client-1', scope: 'profile' })) });
      expect(replyOf(none.answer)).toEqual({ status: 403, body: insufficientScope });
      expect(none.seen).toEqual([]);
    });

    it('answers 403 for a valid token whose client holds no subscription, and 401 for a token signed by another key', async () => {
      const stranger = await sendThrough(gw, upstream, path, { headers: bearer(await sign({ azp: 'nobody' })) });
      expect(stranger.answer.status).toBe(403);
      expect(stranger.seen).toEqual([]);
      const forged = await sendThrough(gw, upstream, path, { headers: bearer(await idp.sign({ azp: 'pem-client-1', scope: 'books:read' }, { kid: false })) });
      expect(forged.answer.status).toBe(401);
      expect(forged.seen).toEqual([]);
    });

    it('sends the token’s sub as the user id at the upstream, replacing forged identity and claim headers', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: { ...bearer(await sign({ azp: 'pem-client-1' })), 'x-apip-user-id': 'forged', 'x-user-email': 'forged@example.com' } });
      expect(r.answer.status).toBe(200);
      expect(r.seen[0]!.headers['x-apip-user-id']).toBe('user-1');
      expect(r.seen[0]!.headers['x-user-email']).toBe('u1@example.com');
    });

    it('admits a token whose header names a kid, when the given PEM key has none (a kid-less key is a candidate, as in Envoy jwt_authn)', async () => {
      const answer = await send(gw, path, { headers: bearer(await issuer.sign({ sub: 'user-1', scope: 'books:read', azp: 'pem-client-1' })) });
      expect({ status: answer.status, body: answer.text }).toMatchObject({ status: 200 });
    });

    it('answers 401 Missing bearer token, 401 Invalid token (other signer, tampered, expired) and 403 with their Bearer challenges, without calling the upstream', async () => {
      const mark = upstream.received.length;
      const missing = await send(gw, path);
      expect(replyOf(missing)).toEqual({ status: 401, body: { status: 'error', message: 'Missing bearer token.' } });
      expect(missing.headers['www-authenticate']).toBe('Bearer');
      const stranger = await send(gw, path, { headers: bearer(await idp.sign({ sub: 'user-1', azp: 'pem-client-1', scope: 'books:read' }, { kid: false })) });
      expect(replyOf(stranger)).toEqual({ status: 401, body: invalidToken });
      expect(stranger.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      const tampered = (await sign({ azp: 'pem-client-1' })).split('.');
      tampered[1] = Buffer.from(JSON.stringify({ sub: 'admin', azp: 'pem-client-1', scope: 'books:read', exp: anHourAgo() + 7200 })).toString('base64url');
      expect((await send(gw, path, { headers: bearer(tampered.join('.')) })).status).toBe(401);
      const expired = await issuer.sign({ sub: 'user-1', azp: 'pem-client-1', scope: 'books:read' }, { kid: false, expiresIn: anHourAgo() });
      expect(replyOf(await send(gw, path, { headers: bearer(expired) }))).toEqual({ status: 401, body: invalidToken });
      const noScope = await send(gw, path, { headers: bearer(await sign({ azp: 'pem-client-1', scope: 'profile' })) });
      expect(noScope.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
      const noSubscription = await send(gw, path, { headers: bearer(await sign({ azp: 'nobody' })) });
      expect(replyOf(noSubscription)).toEqual({ status: 403, body: { status: 'error', message: 'No subscription for this client.' } });
      expect(upstream.since(mark)).toEqual([]);
    });
  });

  describe('GIVEN_KEY as a JWK, with strict scopes and a custom client id claim', () => {
    const path = '/jwk/v1/items';
    let planId: string;
    let sub: Awaited<ReturnType<typeof newSubscriber>>;

    beforeAll(async () => {
      const apiId = await createApi(t, 'jwk-api', { context: '/jwk/$version', upstreamUrl: upstream.url });
      planId = await createPlan(t, apiId, 'Strict', {
        type: 'JWT',
        jwt: {
          keyResolver: 'GIVEN_KEY',
          givenKey: JSON.stringify(issuer.publicJwk),
          signatureAlgorithms: ['RS256'],
          requiredScopes: ['orders:read', 'orders:write'],
          strictScopes: true,
          clientIdClaim: 'cid',
        },
      });
      await waitServed(t, gw, path, 401);
      sub = await newSubscriber(t, 'jwk-app', planId, { clientId: 'jwk-client' });
    });

    it('admits a token with every required scope, the client read from the configured claim', async () => {
      const token = await issuer.sign({ sub: 'u', cid: 'jwk-client', azp: 'someone-else', scope: 'orders:read orders:write' });
      await gatewayAnswers(gw, path, 200, { headers: bearer(token) });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
    });

    it('answers 403 Insufficient scope when one required scope is missing (strict)', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: bearer(await issuer.sign({ sub: 'u', cid: 'jwk-client', scope: 'orders:read' })) });
      expect(replyOf(r.answer)).toEqual({ status: 403, body: insufficientScope });
      expect(r.answer.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
      expect(r.seen).toEqual([]);
    });
  });

  describe('GIVEN_KEY as an ssh-rsa public key', () => {
    it('admits a token signed by the matching private key and refuses another signer', async () => {
      const apiId = await createApi(t, 'ssh-api', { context: '/ssh/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Ssh', { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: sshRsaPublicKey(issuer.publicJwk), signatureAlgorithms: ['RS256'] } });
      await waitServed(t, gw, '/ssh/v1/items', 401);
      const sub = await newSubscriber(t, 'ssh-app', planId, { clientId: 'ssh-client' });
      await gatewayAnswers(gw, '/ssh/v1/items', 200, { headers: bearer(await issuer.sign({ sub: 'u', azp: 'ssh-client' }, { kid: false })) });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
      expect((await send(gw, '/ssh/v1/items', { headers: bearer(await idp.sign({ sub: 'u', azp: 'ssh-client' }, { kid: false })) })).status).toBe(401);
    });
  });

  describe('requireExpiration', () => {
    it('refuses a token without exp when the plan requires one, and admits it when the plan does not', async () => {
      const apiId = await createApi(t, 'exp-api', { context: '/exp/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Expiring', { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: issuer.publicPem, signatureAlgorithms: ['RS256'], requireExpiration: true } });
      await waitServed(t, gw, '/exp/v1/items', 401);
      const sub = await newSubscriber(t, 'exp-app', planId, { clientId: 'exp-client' });
      await gatewayAnswers(gw, '/exp/v1/items', 200, { headers: bearer(await issuer.sign({ sub: 'u', azp: 'exp-client' })) });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
      const forever = await sendThrough(gw, upstream, '/exp/v1/items', { headers: bearer(await issuer.sign({ sub: 'u', azp: 'exp-client' }, { expiresIn: false })) });
      expect(forever.answer.status).toBe(401);
      expect(forever.seen).toEqual([]);
    });
  });

  // requireExpiration and maxTokenLifetime: on by default for new plans (exp required, at most 24 h), off for plans
  // stored before they existed, and each can be turned off (docs/plan-selection.md).
  describe('token lifetime', () => {
    const hours = (n: number) => n * 3600;
    const now = () => Math.floor(Date.now() / 1000);
    const tokenOf = (azp: string, life: { iat?: number; exp: number | false }) =>
      issuer.sign({ sub: 'u', azp }, { kid: false, expiresIn: life.exp, ...(life.iat === undefined ? {} : { issuedAt: life.iat }) });
    const noExpiration = { status: 'error', message: 'Token has no expiration (exp).' };
    const tooLong = { status: 'error', message: 'Token lifetime exceeds the plan maximum.' };

    /** A JWT plan on its own API with one subscriber `<handle>-client`, served; returns the API's path and the plan's id. */
    async function servedPlan(handle: string, jwt: Record<string, unknown>, beforePublish?: (planId: string) => Promise<void>): Promise<{ path: string; planId: string }> {
      const apiId = await createApi(t, handle, { context: `/${handle}/$version`, upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Tokens', { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: issuer.publicPem, signatureAlgorithms: ['RS256'], ...jwt } }, { publish: false });
      await beforePublish?.(planId);
      await must(t, 'publishPlan', 'PublishPlanInput', 'plan { status }', { id: planId });
      const path = `/${handle}/v1/items`;
      await waitServed(t, gw, path, 401);
      await newSubscriber(t, `${handle}-app`, planId, { clientId: `${handle}-client` });
      await gatewayAnswers(gw, path, 200, { headers: bearer(await tokenOf(`${handle}-client`, { exp: now() + 300 })) });
      return { path, planId };
    }

    async function jwtSecurityOf(planId: string) {
      const read = await query<{ plan: { security: { jwt: { requireExpiration: boolean; maxTokenLifetime: string | null } } } }>(
        t, 'query($id: ID!) { plan(id: $id) { security { jwt { requireExpiration maxTokenLifetime } } } }', { id: planId });
      return read.plan.security.jwt;
    }

    it('refuses a token without exp, or living longer than 24 h, on a new plan with the defaults, and admits one within', async () => {
      const { path, planId } = await servedPlan('lifetime-default', {});
      expect(await jwtSecurityOf(planId)).toEqual({ requireExpiration: true, maxTokenLifetime: '24h' });
      const forever = await sendThrough(gw, upstream, path, { headers: bearer(await tokenOf('lifetime-default-client', { exp: false })) });
      expect(replyOf(forever.answer)).toEqual({ status: 401, body: noExpiration });
      expect(forever.answer.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(forever.seen).toEqual([]);
      const long = await sendThrough(gw, upstream, path, { headers: bearer(await tokenOf('lifetime-default-client', { iat: now() - 60, exp: now() - 60 + hours(24) + 60 })) });
      expect(replyOf(long.answer)).toEqual({ status: 401, body: tooLong });
      expect(long.seen).toEqual([]);
      const day = await sendThrough(gw, upstream, path, { headers: bearer(await tokenOf('lifetime-default-client', { iat: now() - 60, exp: now() + hours(23) })) });
      expect(day.answer.status).toBe(200);
      expect(day.seen).toHaveLength(1);
    });

    it('applies the maxTokenLifetime a plan gives, and admits what an operator turned off', async () => {
      const { path: tenMinutes } = await servedPlan('lifetime-short', { maxTokenLifetime: '10m' });
      expect((await send(gw, tenMinutes, { headers: bearer(await tokenOf('lifetime-short-client', { exp: now() + 600 })) })).status).toBe(200);
      expect(replyOf(await send(gw, tenMinutes, { headers: bearer(await tokenOf('lifetime-short-client', { exp: now() + 900 })) }))).toEqual({ status: 401, body: tooLong });
      // No bound (explicit null), exp still required.
      const { path: unbounded, planId: unboundedId } = await servedPlan('lifetime-unbounded', { maxTokenLifetime: null });
      expect(await jwtSecurityOf(unboundedId)).toEqual({ requireExpiration: true, maxTokenLifetime: null });
      expect((await send(gw, unbounded, { headers: bearer(await tokenOf('lifetime-unbounded-client', { exp: now() + hours(24 * 30) })) })).status).toBe(200);
      expect(replyOf(await send(gw, unbounded, { headers: bearer(await tokenOf('lifetime-unbounded-client', { exp: false })) }))).toEqual({ status: 401, body: noExpiration });
      // Neither: a token without exp is admitted, as before these options.
      const { path: open, planId: openId } = await servedPlan('lifetime-off', { requireExpiration: false });
      expect(await jwtSecurityOf(openId)).toEqual({ requireExpiration: false, maxTokenLifetime: null });
      expect((await send(gw, open, { headers: bearer(await tokenOf('lifetime-off-client', { exp: false })) })).status).toBe(200);
    });

    it('still admits a token without exp through a plan stored before these options existed', async () => {
      // The stored security options of a plan written before requireExpiration and maxTokenLifetime: neither member.
      const { path, planId } = await servedPlan('lifetime-legacy', {}, async (id) => {
        await t.platform.database.db.execute(sql`update plans set security_config = security_config - 'requireExpiration' - 'maxTokenLifetime' where id = ${rawId(id)}`);
      });
      expect(await jwtSecurityOf(planId)).toEqual({ requireExpiration: false, maxTokenLifetime: null });
      const forever = await sendThrough(gw, upstream, path, { headers: bearer(await tokenOf('lifetime-legacy-client', { exp: false })) });
      expect(forever.answer.status).toBe(200);
      expect(forever.seen).toHaveLength(1);
      expect((await send(gw, path, { headers: bearer(await tokenOf('lifetime-legacy-client', { iat: now(), exp: now() + hours(24 * 7) })) })).status).toBe(200);
    });
  });

  describe('JWKS_URL served on loopback', () => {
    it('admits a token signed by a key of the JWKS with the subscription identity', async () => {
      const apiId = await createApi(t, 'jwks-api', { context: '/federated/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Federated', { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: jwks.url, signatureAlgorithms: ['RS256'] } });
      await waitServed(t, gw, '/federated/v1/items', 401);
      const sub = await newSubscriber(t, 'jwks-app', planId, { clientId: 'jwks-client' });
      await gatewayAnswers(gw, '/federated/v1/items', 200, { headers: bearer(await idp.sign({ sub: 'svc', azp: 'jwks-client' })) });
      expect(jwks.fetches()).toBeGreaterThan(0);
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
      expect(upstream.last().headers.authorization).toBeUndefined();
      expect((await send(gw, '/federated/v1/items', { headers: bearer(await issuer.sign({ sub: 'svc', azp: 'jwks-client' })) })).status).toBe(401);
    });
    it('takes the user id from the plan’s userClaim, and refuses a token with the JWKS key’s kid signed by another key or expired', async () => {
      const apiId = await createApi(t, 'jwks-user-api', { context: '/jwks-user/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Federated users', { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: jwks.url, signatureAlgorithms: ['RS256'], userClaim: 'email' } });
      await waitServed(t, gw, '/jwks-user/v1/items', 401);
      await newSubscriber(t, 'jwks-user-app', planId, { clientId: 'jwks-user-client' });
      const claims = { sub: 'svc-1', azp: 'jwks-user-client', email: 'ops@partner.example' };
      await gatewayAnswers(gw, '/jwks-user/v1/items', 200, { headers: bearer(await idp.sign(claims)) });
      expect(upstream.last().headers['x-apip-user-id']).toBe('ops@partner.example');
      const sameKid = await rsaSigningKey(idp.kid);
      expect((await send(gw, '/jwks-user/v1/items', { headers: bearer(await sameKid.sign(claims)) })).status).toBe(401);
      const expired = await send(gw, '/jwks-user/v1/items', { headers: bearer(await idp.sign(claims, { expiresIn: anHourAgo() })) });
      expect(replyOf(expired)).toEqual({ status: 401, body: invalidToken });
    });
  });

  describe('an IdP rotating its JWKS', () => {
    it('fetches the JWKS again when a token names a kid no key has, and admits it without waiting for the schedule', async () => {
      const rotating = await startJsonServer({ keys: [idp.publicJwk] });
      try {
        const apiId = await createApi(t, 'rotating-api', { context: '/rotating/$version', upstreamUrl: upstream.url });
        const planId = await createPlan(t, apiId, 'Rotating', { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: rotating.url, signatureAlgorithms: ['RS256'] } });
        await waitServed(t, gw, '/rotating/v1/items', 401);
        const sub = await newSubscriber(t, 'rotating-app', planId, { clientId: 'rotating-client' });
        await gatewayAnswers(gw, '/rotating/v1/items', 200, { headers: bearer(await idp.sign({ sub: 'svc', azp: 'rotating-client' })) });

        // The IdP starts signing with a new key; the scheduled refresh is 5 minutes away.
        const next = await rsaSigningKey('idp-key-2');
        rotating.serve({ keys: [next.publicJwk] });
        const fetchesBefore = rotating.fetches();
        const token = await next.sign({ sub: 'svc', azp: 'rotating-client' });
        await gatewayAnswers(gw, '/rotating/v1/items', 200, { headers: bearer(token) });
        expect(rotating.fetches()).toBeGreaterThan(fetchesBefore);
        expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
        // The retired key is gone with the document that dropped it.
        expect((await send(gw, '/rotating/v1/items', { headers: bearer(await idp.sign({ sub: 'svc', azp: 'rotating-client' })) })).status).toBe(401);
      } finally {
        await rotating.close();
      }
    });
  });

  describe('two JWT plans of one API chosen by a selection rule on a claim', () => {
    const path = '/tiered/v1/items';
    let gold: string;
    let silver: string;
    let appId: string;
    let goldSub: string;
    let silverSub: string;
    let silverOnly: Awaited<ReturnType<typeof newSubscriber>>;
    const token = (azp: string, tier: string) => issuer.sign({ sub: 'u', azp, tier }, { kid: false });

    beforeAll(async () => {
      const apiId = await createApi(t, 'tiered-jwt-api', { context: '/tiered/$version', upstreamUrl: upstream.url });
      const jwt = { keyResolver: 'GIVEN_KEY', givenKey: issuer.publicPem, signatureAlgorithms: ['RS256'] };
      gold = await createPlan(t, apiId, 'Gold', { type: 'JWT', jwt }, { selectionRule: 'claims.tier == "gold"' });
      silver = await createPlan(t, apiId, 'Silver', { type: 'JWT', jwt }, { selectionRule: "claims.tier == 'silver'" });
      await waitServed(t, gw, path, 401);
      appId = await createApplication(t, 'tiered-app', { clientId: 'tiered-client' });
      goldSub = (await subscribe(t, appId, gold)).id;
      silverSub = (await subscribe(t, appId, silver)).id;
      silverOnly = await newSubscriber(t, 'silver-only-app', silver, { clientId: 'silver-only-client' });
      // Every subscription is served before the tests tell the plans apart.
      await gatewayAnswers(gw, path, 200, { headers: bearer(await token('silver-only-client', 'silver')) });
    });

    it('sends x-apip-plan = Gold for a gold token and Silver for a silver token of the same client', async () => {
      await gatewayAnswers(gw, path, 200, { headers: bearer(await token('tiered-client', 'gold')) });
      let r = await sendThrough(gw, upstream, path, { headers: { ...bearer(await token('tiered-client', 'gold')), ...forgedIdentity } });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(appId, goldSub, gold));
      r = await sendThrough(gw, upstream, path, { headers: bearer(await token('tiered-client', 'silver')) });
      expect(r.answer.status).toBe(200);
      expect(identityOf(r.seen[0]!.headers)).toEqual(expectedIdentity(appId, silverSub, silver));
    });

    it('admits a silver-only client with a silver token, and admits no plan for its gold token', async () => {
      const ok = await sendThrough(gw, upstream, path, { headers: bearer(await token('silver-only-client', 'silver')) });
      expect(ok.answer.status).toBe(200);
      expect(identityOf(ok.seen[0]!.headers)).toEqual(expectedIdentity(silverOnly.applicationId, silverOnly.id, silver));
      // Gold's rule holds but the client has no Gold subscription; Silver's rule is false: no plan admits it.
      const refused = await sendThrough(gw, upstream, path, { headers: bearer(await token('silver-only-client', 'gold')) });
      expect([401, 403]).toContain(refused.answer.status);
      expect(refused.seen).toEqual([]);
    });

    it('admits no plan for a token whose tier matches no rule', async () => {
      const r = await sendThrough(gw, upstream, path, { headers: bearer(await token('tiered-client', 'bronze')) });
      expect([401, 403]).toContain(r.answer.status);
      expect(r.seen).toEqual([]);
    });
  });

  describe('an API with an API_KEY plan and a JWT plan (no keyless plan)', () => {
    const path = '/hybrid/v1/items';
    let keyPlan: string;
    let jwtPlan: string;
    let keySub: Awaited<ReturnType<typeof newSubscriber>>;
    let jwtSub: Awaited<ReturnType<typeof newSubscriber>>;

    beforeAll(async () => {
      const apiId = await createApi(t, 'hybrid-api', { context: '/hybrid/$version', upstreamUrl: upstream.url });
      keyPlan = await createPlan(t, apiId, 'Keys', { type: 'API_KEY' });
      jwtPlan = await createPlan(t, apiId, 'Tokens', { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: issuer.publicPem, signatureAlgorithms: ['RS256'] } });
      await waitServed(t, gw, path, 401);
      keySub = await newSubscriber(t, 'hybrid-key-app', keyPlan);
      jwtSub = await newSubscriber(t, 'hybrid-jwt-app', jwtPlan, { clientId: 'hybrid-client' });
    });

    it('admits a key through the key plan and a token through the JWT plan', async () => {
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': keySub.key! } });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(keySub.applicationId, keySub.id, keyPlan));
      await gatewayAnswers(gw, path, 200, { headers: bearer(await issuer.sign({ sub: 'u', azp: 'hybrid-client' }, { kid: false })) });
      expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(jwtSub.applicationId, jwtSub.id, jwtPlan));
    });

    it('answers 401 Missing credentials with a challenge per security type offered when nothing is sent', async () => {
      const r = await sendThrough(gw, upstream, path);
      expect(replyOf(r.answer)).toEqual({ status: 401, body: { status: 'error', message: 'Missing credentials.' } });
      const challenges = [r.answer.headers['www-authenticate'] ?? []].flat().join(', ');
      expect(challenges).toMatch(/Bearer/);
      expect(r.seen).toEqual([]);
    });

    it('answers 401 for a bad token even with a valid key plan beside it, and for a bad key beside a JWT plan', async () => {
      const badToken = await sendThrough(gw, upstream, path, { headers: bearer(await idp.sign({ sub: 'u', azp: 'hybrid-client' }, { kid: false })) });
      expect(badToken.answer.status).toBe(401);
      expect(badToken.seen).toEqual([]);
      const badKey = await sendThrough(gw, upstream, path, { headers: { 'x-api-key': 'definitely-not-a-key' } });
      expect(replyOf(badKey.answer)).toEqual({ status: 401, body: { status: 'error', message: 'Invalid API key.' } });
      expect(badKey.seen).toEqual([]);
    });
  });

  it('passes the strict Envoy proto check with every JWT plan of this suite served', async () => {
    await expectServedConfigValid(t, [
      'pem-api', 'jwk-api', 'ssh-api', 'jwks-api', 'jwks-user-api', 'tiered-jwt-api', 'hybrid-api', 'exp-api',
      'lifetime-default', 'lifetime-short', 'lifetime-unbounded', 'lifetime-off', 'lifetime-legacy',
    ], ['idp-key-1', 'maxLifetimeSeconds']);
  });
});

// GATEWAY_KEYS: the keys are the control plane's own configuration (GATEWAY_JWT_KEYS), per issuer.
describe.each(shapeDrivers)('traffic: a GATEWAY_KEYS JWT plan (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let partner: SigningKey;
  let supplier: SigningKey;
  let stranger: SigningKey;

  beforeAll(async () => {
    upstream = await startRecorder('gateway-keys-upstream');
    [partner, supplier, stranger] = await Promise.all([rsaSigningKey('partner-1'), rsaSigningKey('supplier-1'), rsaSigningKey('stranger-1')]);
    t = await startTestPlatform(driver, {
      gatewayJwtKeys: { 'https://idp.partner.example': [partner.publicJwk], 'https://idp.supplier.example': [supplier.publicJwk] },
    });
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('admits tokens signed by a configured key of their issuer with the subscription identity, and refuses other signers and issuers', async () => {
    const apiId = await createApi(t, 'gateway-keys-api', { context: '/partner/$version', upstreamUrl: upstream.url });
    const planId = await createPlan(t, apiId, 'Partners', { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', signatureAlgorithms: ['RS256'] } });
    await waitServed(t, gw, '/partner/v1/items', 401);
    const sub = await newSubscriber(t, 'partner-app', planId, { clientId: 'partner-client' });
    await gatewayAnswers(gw, '/partner/v1/items', 200, { headers: bearer(await partner.sign({ iss: 'https://idp.partner.example', sub: 'svc', azp: 'partner-client' })) });
    expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
    const refused = await sendThrough(gw, upstream, '/partner/v1/items', { headers: bearer(await stranger.sign({ iss: 'https://idp.partner.example', sub: 'svc', azp: 'partner-client' })) });
    expect(refused.answer.status).toBe(401);
    expect(refused.seen).toEqual([]);
    // The partner's key (same kid) vouches for its own issuer only: another issuer's token, or one naming none, is refused.
    for (const claims of [{ iss: 'https://another-issuer.example' }, {}]) {
      const otherIssuer = await sendThrough(gw, upstream, '/partner/v1/items', { headers: bearer(await partner.sign({ ...claims, sub: 'svc', azp: 'partner-client' })) });
      expect(otherIssuer.answer.status, JSON.stringify(claims)).toBe(401);
      expect(otherIssuer.seen).toEqual([]);
    }
    await expectServedConfigValid(t, ['gateway-keys-api'], ['partner-1']);
  });

  it('chooses the key by issuer and kid together: a token of one issuer signed with the other issuer’s key and kid is refused', async () => {
    const apiId = await createApi(t, 'two-issuers-api', { context: '/suppliers/$version', upstreamUrl: upstream.url });
    const planId = await createPlan(t, apiId, 'Suppliers', { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', signatureAlgorithms: ['RS256'] } });
    await waitServed(t, gw, '/suppliers/v1/items', 401);
    const sub = await newSubscriber(t, 'supplier-app', planId, { clientId: 'supplier-client' });
    const claims = (iss: string) => ({ iss, sub: 'svc', azp: 'supplier-client' });
    // Each issuer's own key admits its own tokens.
    await gatewayAnswers(gw, '/suppliers/v1/items', 200, { headers: bearer(await supplier.sign(claims('https://idp.supplier.example'))) });
    expect(identityOf(upstream.last().headers)).toEqual(expectedIdentity(sub.applicationId, sub.id, planId));
    expect((await send(gw, '/suppliers/v1/items', { headers: bearer(await partner.sign(claims('https://idp.partner.example'))) })).status).toBe(200);
    // The partner's key (a registered kid) does not vouch for the supplier's issuer, nor the supplier's for the partner's.
    for (const token of [await partner.sign(claims('https://idp.supplier.example')), await supplier.sign(claims('https://idp.partner.example'))]) {
      const crossed = await sendThrough(gw, upstream, '/suppliers/v1/items', { headers: bearer(token) });
      expect(crossed.answer.status).toBe(401);
      expect(crossed.seen).toEqual([]);
    }
  });

  it('refuses a token naming no kid, or a kid the plan does not have, when every key of the plan carries a kid', async () => {
    const apiId = await createApi(t, 'kid-api', { context: '/kids/$version', upstreamUrl: upstream.url });
    const planId = await createPlan(t, apiId, 'Kids', { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', signatureAlgorithms: ['RS256'] } });
    await waitServed(t, gw, '/kids/v1/items', 401);
    await newSubscriber(t, 'kid-app', planId, { clientId: 'kid-client' });
    const claims = { iss: 'https://idp.partner.example', sub: 'svc', azp: 'kid-client' };
    await gatewayAnswers(gw, '/kids/v1/items', 200, { headers: bearer(await partner.sign(claims)) });
    for (const kid of [false, 'not-a-gateway-key'] as const) {
      const refused = await sendThrough(gw, upstream, '/kids/v1/items', { headers: bearer(await partner.sign(claims, { kid })) });
      expect(refused.answer.status, String(kid)).toBe(401);
      expect(refused.seen).toEqual([]);
    }
    await expectServedConfigValid(t, ['gateway-keys-api', 'two-issuers-api', 'kid-api'], ['partner-1', 'supplier-1']);
  });
});
