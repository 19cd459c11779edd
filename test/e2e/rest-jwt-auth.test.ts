import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { gatewayAnswers, type Recorder, rsaSigningKey, send, type SigningKey, startJsonServer, startRecorder } from '../helpers/traffic.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const issuerUrl = 'http://mock-jwks.test/token';

const keyManagerFields = 'name issuer jwksUrl certificate jwks audiences';
const createKeyManager = `mutation($input: CreateKeyManagerInput!) { createKeyManager(input: $input) { __typename ... on CreateKeyManagerPayload { keyManager { ${keyManagerFields} } } ... on Error { message code } } }`;
const updateKeyManager = `mutation($input: UpdateKeyManagerInput!) { updateKeyManager(input: $input) { __typename ... on Error { message code } } }`;
const deleteKeyManager = `mutation($input: DeleteKeyManagerInput!) { deleteKeyManager(input: $input) { __typename ... on Error { message code } } }`;

// The reference's jwt-auth (gateway/it/features/jwt-auth.feature): key managers configured for the gateway, named
// by the policy's `issuers`, on a v0.9 API created over REST without plans.
describe.each(shapeDrivers)('traffic: v0.9 jwt-auth with key managers (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;
  let idp: SigningKey;
  let stranger: SigningKey;
  let jwks: Awaited<ReturnType<typeof startJsonServer>>;
  const path = '/jwt-auth-basic/v1.0/protected';
  const sign = (claims: Record<string, unknown>, options?: Parameters<SigningKey['sign']>[1]) =>
    idp.sign({ iss: issuerUrl, sub: 'user-1', aud: 'test-audience', scope: 'api:read api:write', department: 'platform', email: 'u1@example.com', ...claims }, options);

  async function gql(query: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await t.graphql<Record<string, Record<string, unknown>>>(query, { input });
    expect(res.errors).toBeUndefined();
    return Object.values(res.data!)[0]!;
  }

  beforeAll(async () => {
    upstream = await startRecorder('jwt-auth-upstream');
    [idp, stranger] = await Promise.all([rsaSigningKey('mock-1'), rsaSigningKey('stranger-1')]);
    jwks = await startJsonServer({ keys: [idp.publicJwk] });
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
    expect(await gql(createKeyManager, { name: 'mock-jwks', issuer: issuerUrl, jwksUrl: jwks.url })).toMatchObject({
      __typename: 'CreateKeyManagerPayload',
      keyManager: { name: 'mock-jwks', issuer: issuerUrl, jwksUrl: jwks.url, certificate: null, jwks: null, audiences: [] },
    });
    // Same keys, another issuer (the reference's `wrong-issuer-km`).
    expect((await gql(createKeyManager, { name: 'wrong-issuer-km', issuer: 'http://expected-issuer.com', jwksUrl: jwks.url })).__typename).toBe('CreateKeyManagerPayload');
    const created = await rest.post('/rest-apis', {
      apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
      kind: 'RestApi',
      metadata: { name: 'jwt-auth-basic-api' },
      spec: {
        displayName: 'JWT Auth Basic API',
        version: 'v1.0',
        context: '/jwt-auth-basic/$version',
        upstream: { main: { url: upstream.url } },
        operations: [
          { method: 'GET', path: '/health' },
          {
            method: 'GET',
            path: '/protected',
            policies: [
              {
                name: 'jwt-auth',
                version: 'v1',
                params: {
                  issuers: ['mock-jwks'],
                  audiences: ['test-audience'],
                  requiredScopes: ['api:read'],
                  requiredClaims: { department: 'platform' },
                  claimMappings: { email: 'X-User-Email' },
                  userIdClaim: 'email',
                },
              },
            ],
          },
          { method: 'GET', path: '/wrong-issuer', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['wrong-issuer-km'] } }] },
          { method: 'GET', path: '/multi', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['mock-jwks', 'wrong-issuer-km'] } }] },
          { method: 'GET', path: '/prefixed', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['mock-jwks'], authHeaderPrefix: 'JWT' } }] },
        ],
      },
    });
    expect({ status: created.status, errors: created.status === 201 ? null : created.body }).toEqual({ status: 201, errors: null });
    await gatewayAnswers(gw, '/jwt-auth-basic/v1.0/health', 200);
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    await jwks?.close();
  });

  it('admits a valid token without any plan and sends the mapped claim and the user id claim to the upstream', async () => {
    const answer = await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({})) });
    expect(answer.json()).toMatchObject({ upstream: 'jwt-auth-upstream' });
    const seen = upstream.last().headers;
    expect(seen['x-user-email']).toBe('u1@example.com');
    expect(seen['x-apip-user-id']).toBe('u1@example.com');
  });

  it('answers 401 without a token, with a malformed one and with a scheme other than Bearer', async () => {
    await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({})) });
    const missing = await send(gw, path);
    expect(missing.status).toBe(401);
    expect(missing.json()).toEqual({ status: 'error', message: 'Missing bearer token.' });
    expect((await send(gw, path, { headers: { authorization: 'Bearer invalid.jwt.token' } })).status).toBe(401);
    expect((await send(gw, path, { headers: { authorization: `NotBearer ${await sign({})}` } })).status).toBe(401);
  });

  it('answers 401 for a token of another issuer, another audience, signed by an unknown key or expired', async () => {
    await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({})) });
    const refused = async (token: string) => {
      const mark = upstream.received.length;
      const answer = await send(gw, path, { headers: bearer(token) });
      expect(upstream.since(mark)).toEqual([]);
      return { status: answer.status, body: answer.json() };
    };
    const invalid = { status: 401, body: { status: 'error', message: 'Invalid token.' } };
    expect(await refused(await sign({ iss: 'http://elsewhere.test' }))).toEqual(invalid);
    expect(await refused(await sign({ aud: 'another-audience' }))).toEqual(invalid);
    expect(await refused(await stranger.sign({ iss: issuerUrl, aud: 'test-audience', scope: 'api:read', department: 'platform' }))).toEqual(invalid);
    expect(await refused(await sign({ exp: Math.floor(Date.now() / 1000) - 60 }, { expiresIn: false }))).toEqual(invalid);
  });

  it('enforces requiredClaims values: a different value or a missing claim is refused', async () => {
    await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({})) });
    expect((await send(gw, path, { headers: bearer(await sign({ department: 'sales' })) })).status).toBe(401);
    expect((await send(gw, path, { headers: bearer(await sign({ department: undefined })) })).status).toBe(401);
  });

  it('refuses a token without a required scope (403 Insufficient scope, a deliberate difference)', async () => {
    await gatewayAnswers(gw, path, 200, { headers: bearer(await sign({})) });
    const answer = await send(gw, path, { headers: bearer(await sign({ scope: 'profile' })) });
    expect({ status: answer.status, body: answer.json() }).toEqual({ status: 403, body: { status: 'error', message: 'Insufficient scope.' } });
  });

  it("checks the token's issuer against the key manager's: the same keys under another issuer refuse it", async () => {
    const token = await sign({});
    await gatewayAnswers(gw, '/jwt-auth-basic/v1.0/wrong-issuer', 401, { headers: bearer(token) });
    expect((await send(gw, '/jwt-auth-basic/v1.0/wrong-issuer', { headers: bearer(await sign({ iss: 'http://expected-issuer.com' })) })).status).toBe(200);
  });

  it('admits a token of either key manager when the policy names two sharing their keys', async () => {
    await gatewayAnswers(gw, '/jwt-auth-basic/v1.0/multi', 200, { headers: bearer(await sign({})) });
    expect((await send(gw, '/jwt-auth-basic/v1.0/multi', { headers: bearer(await sign({ iss: 'http://expected-issuer.com' })) })).status).toBe(200);
    expect((await send(gw, '/jwt-auth-basic/v1.0/multi', { headers: bearer(await sign({ iss: 'http://elsewhere.test' })) })).status).toBe(401);
  });

  it('reads the token after authHeaderPrefix', async () => {
    const token = await sign({});
    await gatewayAnswers(gw, '/jwt-auth-basic/v1.0/prefixed', 200, { headers: { authorization: `JWT ${token}` } });
    expect((await send(gw, '/jwt-auth-basic/v1.0/prefixed', { headers: bearer(token) })).status).toBe(401);
  });

  it('refuses an API naming an unknown key manager, with the field', async () => {
    const answer = await rest.post<{ errors?: { field: string; message: string }[] }>('/rest-apis', {
      apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
      kind: 'RestApi',
      metadata: { name: 'jwt-auth-unknown-km' },
      spec: {
        displayName: 'Unknown KM',
        version: 'v1.0',
        context: '/jwt-auth-unknown/$version',
        upstream: { main: { url: upstream.url } },
        operations: [{ method: 'GET', path: '/p', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['mock-jwks', 'no-such-km'] } }] }],
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([expect.objectContaining({ field: 'spec.operations[0].policies[0].params.issuers[1]' })]);
  });

  it('refuses to delete a key manager a policy refers to', async () => {
    expect(await gql(deleteKeyManager, { name: 'mock-jwks' })).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
  });

  it("admits a key its key manager's JWKS starts publishing, without a write (a token naming an unknown kid refreshes it)", async () => {
    // A JWKS of its own: refreshes forced by unknown kids are rate-limited per URL, and earlier tests sent some.
    const first = await rsaSigningKey('rotating-1');
    const rotating = await startJsonServer({ keys: [first.publicJwk] });
    try {
      expect((await gql(createKeyManager, { name: 'rotating-km', issuer: issuerUrl, jwksUrl: rotating.url })).__typename).toBe('CreateKeyManagerPayload');
      const created = await rest.post('/rest-apis', {
        apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
        kind: 'RestApi',
        metadata: { name: 'jwt-auth-rotating-api' },
        spec: {
          displayName: 'JWT Auth Rotating API',
          version: 'v1.0',
          context: '/jwt-auth-rotating/$version',
          upstream: { main: { url: upstream.url } },
          operations: [{ method: 'GET', path: '/protected', policies: [{ name: 'jwt-auth', version: 'v1', params: { issuers: ['rotating-km'] } }] }],
        },
      });
      expect(created.status).toBe(201);
      const rotatingPath = '/jwt-auth-rotating/v1.0/protected';
      const claims = { iss: issuerUrl, sub: 'user-3' };
      await gatewayAnswers(gw, rotatingPath, 200, { headers: bearer(await first.sign(claims)) });

      const next = await rsaSigningKey('rotating-2');
      rotating.serve({ keys: [next.publicJwk] });
      const fetchesBefore = rotating.fetches();
      await gatewayAnswers(gw, rotatingPath, 200, { headers: bearer(await next.sign(claims)) });
      expect(rotating.fetches()).toBeGreaterThan(fetchesBefore);
      // The retired key went with the document that dropped it.
      expect((await send(gw, rotatingPath, { headers: bearer(await first.sign(claims)) })).status).toBe(401);
    } finally {
      await rotating.close();
    }
  });

  it('serves the keys of a key manager pointed at another JWKS URL', async () => {
    const next = await rsaSigningKey('mock-2');
    const rotated = await startJsonServer({ keys: [next.publicJwk] });
    try {
      const token = await next.sign({ iss: issuerUrl, sub: 'user-2', aud: 'test-audience', scope: 'api:read', department: 'platform' });
      expect((await send(gw, path, { headers: bearer(token) })).status).toBe(401);
      expect((await gql(updateKeyManager, { name: 'mock-jwks', jwksUrl: rotated.url })).__typename).toBe('UpdateKeyManagerPayload');
      await gatewayAnswers(gw, path, 200, { headers: bearer(token) });
      // The old document's keys are gone with it.
      expect((await send(gw, path, { headers: bearer(await sign({})) })).status).toBe(401);
    } finally {
      await rotated.close();
    }
  });
});
