import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import {
  createApiOverGraphql, gatewayAnswers, publishedPlan, rawId, type Recorder, rsaSigningKey, send, type SigningKey, startJsonServer,
  startRecorder, type Subscribed, subscribeNewApplication,
} from '../helpers/traffic.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const invalidToken = { status: 'error', message: 'Invalid token.' };
const anHourAgo = () => Math.floor(Date.now() / 1000) - 3600;

describe.each(shapeDrivers)('traffic: JWT plans enforced by the gateway (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  let givenKey: SigningKey;
  let idpKey: SigningKey;
  let strangerKey: SigningKey;
  let jwks: Awaited<ReturnType<typeof startJsonServer>>;

  beforeAll(async () => {
    upstream = await startRecorder('jwt-upstream');
    [givenKey, idpKey, strangerKey] = await Promise.all([rsaSigningKey('given-1'), rsaSigningKey('idp-2026'), rsaSigningKey('idp-2026')]);
    jwks = await startJsonServer({ keys: [idpKey.publicJwk] });
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
    await jwks.close();
  });

  describe('GIVEN_KEY plan (PEM public key) with a required scope and a claim mapped to a header', () => {
    const path = '/library/v1/books/9';
    let planId: string;
    let sub: Subscribed;

    beforeAll(async () => {
      const apiId = await createApiOverGraphql(t, 'library-api', {
        context: '/library/$version',
        upstreamUrl: upstream.url,
        operations: [{ method: 'GET', path: '/books/{id}' }],
      });
      planId = await publishedPlan(t, apiId, 'Signed', {
        type: 'JWT',
        jwt: {
          keyResolver: 'GIVEN_KEY',
          givenKey: givenKey.publicPem,
          signatureAlgorithms: ['RS256'],
          requiredScopes: ['books:read'],
          extractClaims: [{ claim: 'email', header: 'X-User-Email' }],
        },
      });
      // Until the plan is on the data plane the API has no authentication (a public API without plans is open).
      await gatewayAnswers(gw, path, 401);
      sub = await subscribeNewApplication(t, 'mobile-app', planId, 'mobile-client');
    });

    // The PEM carries no kid, so these tokens carry none either; the kid case has its own test below.
    const sign = (c: Record<string, unknown>, expiresIn?: number) => givenKey.sign(c, { kid: false, ...(expiresIn === undefined ? {} : { expiresIn }) });
    const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'user-7', azp: 'mobile-client', scope: 'books:read profile', email: 'u7@example.com', ...extra });

    it('answers 200 with the user, claim and subscription identity at the upstream and the token stripped', async () => {
      const token = await sign(claims());
      await gatewayAnswers(gw, path, 200, { headers: bearer(token) });
      const answer = await send(gw, path, { headers: { ...bearer(token), 'x-apip-user-id': 'forged', 'x-user-email': 'forged@example.com' } });
      expect(answer.status).toBe(200);
      const seen = upstream.last().headers;
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-user-email']).toBe('u7@example.com');
      expect({
        user: seen['x-apip-user-id'], app: seen['x-apip-application-id'], sub: seen['x-apip-subscription-id'], plan: seen['x-apip-plan'],
      }).toEqual({ user: 'user-7', app: rawId(sub.applicationId), sub: rawId(sub.subscriptionId), plan: rawId(planId) });
    });

    it('answers 200 for a token whose header names a kid, when the given PEM key has none (a kid-less key is a candidate, as in Envoy jwt_authn)', async () => {
      const answer = await send(gw, path, { headers: bearer(await givenKey.sign(claims())) });
      expect({ status: answer.status, body: answer.text }).toMatchObject({ status: 200 });
    });

    it('answers 401 Missing bearer token without a token', async () => {
      const answer = await send(gw, path);
      expect(answer.status).toBe(401);
      expect(answer.json()).toEqual({ status: 'error', message: 'Missing bearer token.' });
      expect(answer.headers['www-authenticate']).toBe('Bearer');
    });

    it('answers 401 Invalid token, without calling the upstream, when the signature is not the given key’s', async () => {
      const mark = upstream.received.length;
      const answer = await send(gw, path, { headers: bearer(await strangerKey.sign(claims(), { kid: false })) });
      expect(answer.status).toBe(401);
      expect(answer.json()).toEqual(invalidToken);
      expect(answer.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      const tampered = (await sign(claims())).split('.');
      tampered[1] = Buffer.from(JSON.stringify({ ...claims(), sub: 'admin', exp: anHourAgo() + 7200 })).toString('base64url');
      expect((await send(gw, path, { headers: bearer(tampered.join('.')) })).status).toBe(401);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers 401 Invalid token when the token has expired', async () => {
      const answer = await send(gw, path, { headers: bearer(await sign(claims(), anHourAgo())) });
      expect(answer.status).toBe(401);
      expect(answer.json()).toEqual(invalidToken);
    });

    it('answers 403 Insufficient scope when the token lacks the required scope', async () => {
      const answer = await send(gw, path, { headers: bearer(await sign(claims({ scope: 'profile' }))) });
      expect(answer.status).toBe(403);
      expect(answer.json()).toEqual({ status: 'error', message: 'Insufficient scope.' });
      expect(answer.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    });

    it('answers 403 when the token’s client has no subscription to the plan', async () => {
      const answer = await send(gw, path, { headers: bearer(await sign(claims({ azp: 'unknown-client' }))) });
      expect(answer.status).toBe(403);
      expect(answer.json()).toEqual({ status: 'error', message: 'No subscription for this client.' });
    });
  });

  describe('JWKS_URL plan (a JWKS served on loopback)', () => {
    const path = '/partner/v1/reports';
    let sub: Subscribed;

    beforeAll(async () => {
      const apiId = await createApiOverGraphql(t, 'partner-api', {
        context: '/partner/$version',
        upstreamUrl: upstream.url,
        operations: [{ method: 'GET', path: '/reports' }],
      });
      const planId = await publishedPlan(t, apiId, 'Federated', {
        type: 'JWT',
        jwt: { keyResolver: 'JWKS_URL', jwksUrl: jwks.url, signatureAlgorithms: ['RS256'], userClaim: 'email' },
      });
      await gatewayAnswers(gw, path, 401);
      sub = await subscribeNewApplication(t, 'partner-app', planId, 'partner-client');
    });

    it('answers 200 for a token signed by a key of the JWKS, with the identity at the upstream', async () => {
      const token = await idpKey.sign({ sub: 'svc-1', azp: 'partner-client', email: 'ops@partner.example' });
      await gatewayAnswers(gw, path, 200, { headers: bearer(token) });
      expect(jwks.fetches()).toBeGreaterThan(0);
      const seen = upstream.last().headers;
      expect(seen['x-apip-user-id']).toBe('ops@partner.example');
      expect(seen['x-apip-subscription-id']).toBe(rawId(sub.subscriptionId));
      expect(seen.authorization).toBeUndefined();
    });

    it('answers 401 for a token with the JWKS key’s kid signed by another key, and for an expired one', async () => {
      expect((await send(gw, path, { headers: bearer(await strangerKey.sign({ sub: 'svc-1', azp: 'partner-client' })) })).status).toBe(401);
      expect((await send(gw, path, { headers: bearer(await givenKey.sign({ sub: 'svc-1', azp: 'partner-client' })) })).status).toBe(401);
      const expired = await send(gw, path, { headers: bearer(await idpKey.sign({ sub: 'svc-1', azp: 'partner-client' }, { expiresIn: anHourAgo() })) });
      expect(expired.status).toBe(401);
      expect(expired.json()).toEqual(invalidToken);
    });

    it('passes the strict Envoy proto check with both JWT plans’ keys', () => {
      const resources = t.platform.snapshots.current()?.resources;
      expect(JSON.stringify(resources?.listener)).toContain('idp-2026');
      expect(validateResources(resources!)).toEqual([]);
    });
  });
});
