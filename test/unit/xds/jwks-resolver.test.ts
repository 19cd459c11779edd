import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwksResolver, givenKeyToJwk } from '../../../server/xds/jwks-resolver.ts';
import { emptyDeploymentModel, type DeploymentModel } from '../../../server/domain/deployment-model.ts';

function jwtPlan(id: string, jwt: Partial<NonNullable<DeploymentModel['plans'][number]['security']['jwt']>>): DeploymentModel['plans'][number] {
  return {
    id, apiId: 'api_1', name: id, status: 'PUBLISHED', position: 0, policies: [], selectionRule: null,
    security: { type: 'JWT', apiKey: null, oauth2: null, jwt: { signatureAlgorithms: ['RS256'], keyResolver: 'GIVEN_KEY', jwksUrl: null, givenKey: null, clientIdClaim: null, userClaim: 'sub', requiredScopes: [], strictScopes: false, extractClaims: [], propagateAuthHeader: false, leewaySeconds: 0, ...jwt } },
  };
}

describe('JwksResolver', () => {
  it('turns a PEM given key into a public JWK without private members', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await givenKeyToJwk(await exportSPKI(publicKey), ['RS256']);
    expect(jwk).toMatchObject({ kty: 'RSA', e: 'AQAB' });
    expect(jwk).not.toHaveProperty('d');
  });

  it('fetches a JWKS once within the TTL, drops private keys, and keeps the last keys when a refresh fails', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const good = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }, { ...(await exportJWK(privateKey)), kid: 'private' }] };
    let calls = 0;
    let failing = false;
    let clock = 0;
    const fetchStub = (async () => {
      calls += 1;
      return failing ? new Response('down', { status: 503 }) : Response.json(good);
    }) as typeof fetch;
    const resolver = new JwksResolver({ fetch: fetchStub, ttlMs: 1000, now: () => clock });
    const model = { ...emptyDeploymentModel(), plans: [jwtPlan('pln_1', { keyResolver: 'JWKS_URL', jwksUrl: 'https://idp/jwks' })] };
    const first = await resolver.resolve(model);
    expect(first.model.jwks['plan/pln_1']?.map((k) => k.kid)).toEqual(['k1']);
    await resolver.resolve(model);
    expect(calls).toBe(1);
    clock = 5000;
    failing = true;
    const stale = await resolver.resolve(model);
    expect(stale.model.jwks['plan/pln_1']?.map((k) => k.kid)).toEqual(['k1']);
    expect(stale.problems).toEqual([{ source: 'plan/pln_1', message: expect.stringContaining('last keys') }]);
  });

  it('reports a GATEWAY_KEYS plan as having no keys', async () => {
    const { model, problems } = await new JwksResolver().resolve({ ...emptyDeploymentModel(), plans: [jwtPlan('pln_2', { keyResolver: 'GATEWAY_KEYS' })] });
    expect(model.jwks).toEqual({});
    expect(problems).toHaveLength(1);
  });

  it('resolves the key managers deployed jwt policies name (JWKS URL, PEM, inline set) and no others', async () => {
    const [a, b, c] = await Promise.all([generateKeyPair('RS256', { extractable: true }), generateKeyPair('ES256', { extractable: true }), generateKeyPair('EdDSA', { extractable: true })]);
    const fetched: string[] = [];
    const fetchStub = (async (url: string | URL | Request) => {
      fetched.push(String(url));
      return Response.json({ keys: [{ ...(await exportJWK(a.publicKey)), kid: 'remote' }] });
    }) as typeof fetch;
    const manager = (name: string, source: Partial<NonNullable<DeploymentModel['keyManagers']>[number]>) => ({ name, issuer: `https://${name}`, jwksUrl: null, certificate: null, jwks: null, audiences: [], ...source });
    const api = {
      id: 'api_1', handle: 'shop', version: 'v1', context: '/shop', upstream: { main: { url: 'http://up', ref: null, hostRewrite: null }, sandbox: null }, upstreamDefinitions: [], vhosts: null,
      policies: [{ name: 'jwt-auth', version: 'v1', executionCondition: null, params: { issuers: ['remote', 'pem'] } }],
      operations: [{ method: 'GET' as const, path: '/x', allowMethodOverride: false, policies: [{ name: 'jwt', version: 'v1', executionCondition: null, params: { issuers: ['inline', 'missing'] } }] }],
      subscriptionPlans: [], visibility: 'public' as const, accessMode: 'OPEN' as const,
    };
    const model: DeploymentModel = {
      ...emptyDeploymentModel(),
      apis: [api],
      keyManagers: [
        manager('remote', { jwksUrl: 'https://remote/jwks' }),
        manager('pem', { certificate: await exportSPKI(b.publicKey) }),
        manager('inline', { jwks: JSON.stringify({ keys: [{ ...(await exportJWK(c.publicKey)), kid: 'ed' }, { ...(await exportJWK(c.privateKey)), kid: 'private' }] }) }),
        manager('unused', { jwksUrl: 'https://unused/jwks' }),
      ],
    };
    const { model: resolved, problems } = await new JwksResolver({ fetch: fetchStub }).resolve(model);
    expect(problems).toEqual([]);
    expect(fetched).toEqual(['https://remote/jwks']);
    expect(Object.keys(resolved.jwks).sort()).toEqual(['keymanager/inline', 'keymanager/pem', 'keymanager/remote']);
    expect(resolved.jwks['keymanager/remote']).toEqual([expect.objectContaining({ kty: 'RSA', kid: 'remote' })]);
    expect(resolved.jwks['keymanager/pem']).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256' })]);
    expect(resolved.jwks['keymanager/inline']).toEqual([expect.objectContaining({ kty: 'OKP', kid: 'ed' })]);
    expect(JSON.stringify(resolved.jwks)).not.toContain('"d"');
  });
});
