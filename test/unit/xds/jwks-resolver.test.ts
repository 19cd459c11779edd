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
});
