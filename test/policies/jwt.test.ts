import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT, base64url } from 'jose';
import type { JWTPayload } from 'jose';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import type { ManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import type { Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import { headerOf, jsonOf, loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';
import type { TestResult } from '../helpers/policies.ts';

const NOW_MS = Date.parse('2026-04-01T10:30:00Z');
const NOW = NOW_MS / 1000;
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'reading-list';

const ROUTE = 'reading-list/GET/books';
const ANY_SCOPE = 'reading-list/GET/books/{id}';
const ALL_SCOPES = 'reading-list/DELETE/books/{id}';
const SUBSCRIBED = 'reading-list/POST/books';
const CUSTOM_CLIENT_CLAIM = 'reading-list/PUT/books/{id}';
const LEEWAY = 'reading-list/GET/authors';
const PROPAGATE = 'reading-list/GET/shelves';
const CUSTOM_HEADER = 'reading-list/GET/reviews';
const RS256_ONLY = 'reading-list/GET/loans';
const REQUIRED = 'reading-list/GET/fines';
const OTHER_KEYS = 'archive/GET/records';
const OTHER_ISSUER_ROUTE = 'any-issuer/GET/items';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');
const secret = new Uint8Array(randomBytes(64));

function publicJwk(key: KeyObject, kid: string): Record<string, unknown> {
  return { ...key.export({ format: 'jwk' }), kid, use: 'sig' };
}

type Signer = KeyObject | Uint8Array;

const signers: Record<string, { key: Signer; kid: string }> = {
  RS256: { key: rsa.privateKey, kid: 'rsa' },
  RS384: { key: rsa.privateKey, kid: 'rsa' },
  RS512: { key: rsa.privateKey, kid: 'rsa' },
  PS256: { key: rsa.privateKey, kid: 'rsa' },
  PS384: { key: rsa.privateKey, kid: 'rsa' },
  PS512: { key: rsa.privateKey, kid: 'rsa' },
  ES256: { key: ec256.privateKey, kid: 'ec256' },
  ES384: { key: ec384.privateKey, kid: 'ec384' },
  HS256: { key: secret, kid: 'hs' },
  HS384: { key: secret, kid: 'hs' },
  HS512: { key: secret, kid: 'hs' },
  EdDSA: { key: ed.privateKey, kid: 'ed' },
};

function configuration() {
  const base = { keySets: ['idp'], issuer: ISSUER, audience: AUDIENCE };
  return {
    stripIdentityHeaders: true,
    keySets: {
      idp: {
        keys: [
          publicJwk(rsa.publicKey, 'rsa'),
          publicJwk(ec256.publicKey, 'ec256'),
          publicJwk(ec384.publicKey, 'ec384'),
          { kty: 'oct', kid: 'hs', k: base64url.encode(secret) },
          publicJwk(ed.publicKey, 'ed'),
        ],
      },
      archive: { keys: [publicJwk(otherRsa.publicKey, 'archive')] },
    },
    clients: {
      'reading-list': {
        'app-client': { applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'Gold' },
        'mobile-client': { applicationId: 'app-2', subscriptionId: 'sub-2', plan: 'Silver' },
      },
    },
    routes: {
      [ROUTE]: { ...base, claimsToHeaders: [{ claim: 'email', header: 'X-User-Email' }, { claim: 'level', header: 'x-level' }] },
      [ANY_SCOPE]: { ...base, scopes: ['books:read', 'books:admin'], scopesMode: 'any' },
      [ALL_SCOPES]: { ...base, scopes: ['books:read', 'books:delete'], scopesMode: 'all' },
      [SUBSCRIBED]: { ...base, clients: 'reading-list' },
      [CUSTOM_CLIENT_CLAIM]: { ...base, clients: 'reading-list', clientIdClaim: 'cid' },
      [LEEWAY]: { ...base, leewaySeconds: 30 },
      [PROPAGATE]: { ...base, propagateToken: true },
      [CUSTOM_HEADER]: { ...base, header: 'X-Access-Token', scheme: '' },
      [RS256_ONLY]: { ...base, algorithms: ['RS256'] },
      [REQUIRED]: { ...base, requiredClaims: ['tenant'] },
      [OTHER_KEYS]: { keySets: ['archive'] },
      [OTHER_ISSUER_ROUTE]: { keySets: ['idp'] },
    },
  };
}

function claims(extra: JWTPayload = {}): JWTPayload {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-42', iat: NOW, exp: NOW + 300, ...extra };
}

async function sign(alg: string, payload: JWTPayload = claims(), header: Record<string, unknown> = {}): Promise<string> {
  const signer = signers[alg];
  if (signer === undefined) throw new Error(`no signer for ${alg}`);
  return new SignJWT(payload).setProtectedHeader({ alg, kid: signer.kid, ...header }).sign(signer.key);
}

async function load(clock: ManualClock = createManualClock(NOW_MS)): Promise<Plugin> {
  return loadPolicy('jwt', configuration(), { clock });
}

function call(plugin: Plugin, route: string, token: string | null, headers: Array<[string, string]> = []): TestResult {
  const all: Array<[string, string]> = token === null ? headers : [['authorization', `Bearer ${token}`], ...headers];
  return sendRequest(plugin, { route, headers: all });
}

function statusOf(result: TestResult): number {
  return result.outcome.action === 'continue' ? 200 : localReplyOf(result.outcome).status;
}

/** Replaces one character in the middle of the signature segment. */
function tamper(token: string): string {
  const at = token.lastIndexOf('.') + 10;
  const replacement = token[at] === 'A' ? 'B' : 'A';
  return token.slice(0, at) + replacement + token.slice(at + 1);
}

function unsigned(header: object, payload: object): string {
  const encode = (value: object): string => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(payload)}.`;
}

describe('jwt policy', () => {
  for (const alg of Object.keys(signers)) {
    it(`continues with the user identity when a ${alg} token is valid`, async () => {
      const plugin = await load();
      const { outcome, headers } = call(plugin, ROUTE, await sign(alg));
      expect(outcome).toEqual({ action: 'continue' });
      expect(headers.get('x-apip-user-id')).toBe('user-42');
    });

    it(`returns 401 when a ${alg} token's signature is tampered with`, async () => {
      const plugin = await load();
      const reply = localReplyOf(call(plugin, ROUTE, tamper(await sign(alg))).outcome);
      expect(reply.status).toBe(401);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Invalid token.' });
      expect(headerOf(reply, 'www-authenticate')).toBe('Bearer error="invalid_token"');
    });
  }

  it('returns 401 when the payload is changed after signing', async () => {
    const plugin = await load();
    const [header, , signature] = (await sign('RS256')).split('.');
    const forged = `${header}.${base64url.encode(JSON.stringify(claims({ sub: 'admin' })))}.${signature}`;
    expect(statusOf(call(plugin, ROUTE, forged))).toBe(401);
  });

  it('returns 401 when the kid names no configured key', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ROUTE, await sign('RS256', claims(), { kid: 'unknown' })))).toBe(401);
  });

  it('returns 401 when the token is signed by a key of another key set', async () => {
    const plugin = await load();
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rsa' }).sign(otherRsa.privateKey);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
  });

  it('returns 401 when the algorithm is none, with or without a kid', async () => {
    const plugin = await load();
    for (const header of [{ alg: 'none' }, { alg: 'none', kid: 'rsa' }, { alg: 'none', kid: 'hs' }, { alg: 'NONE' }]) {
      expect(statusOf(call(plugin, ROUTE, unsigned(header, claims()))), JSON.stringify(header)).toBe(401);
    }
  });

  it('returns 401 when an HS256 token is signed with the RSA public key as the secret', async () => {
    const plugin = await load();
    const pem = new Uint8Array(Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' })));
    const n = new Uint8Array(Buffer.from(String(rsa.publicKey.export({ format: 'jwk' }).n), 'base64url'));
    for (const confusedSecret of [pem, n]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'rsa' }).sign(confusedSecret);
      expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
    }
  });

  it('returns 401 when the algorithm is not in the route allow-list', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, RS256_ONLY, await sign('RS256')))).toBe(200);
    for (const alg of ['PS256', 'ES256', 'HS256', 'EdDSA']) {
      expect(statusOf(call(plugin, RS256_ONLY, await sign(alg))), alg).toBe(401);
    }
  });

  it('returns 401 when the JWK pins another algorithm of the same key type', async () => {
    const config = configuration();
    const pinned = { ...config, keySets: { ...config.keySets, idp: { keys: [{ ...publicJwk(rsa.publicKey, 'rsa'), alg: 'RS256' }] } } };
    const plugin = await loadPolicy('jwt', pinned, { clock: createManualClock(NOW_MS) });
    expect(statusOf(call(plugin, ROUTE, await sign('RS256')))).toBe(200);
    expect(statusOf(call(plugin, ROUTE, await sign('PS256')))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('RS512')))).toBe(401);
  });

  it('finds the key by trying each compatible key without a kid when the token has no kid', async () => {
    const config = configuration();
    const withoutKids = config.keySets.idp.keys.map(({ kid: _kid, ...key }) => key);
    const plugin = await loadPolicy('jwt', { ...config, keySets: { ...config.keySets, idp: { keys: withoutKids } } }, { clock: createManualClock(NOW_MS) });
    for (const alg of ['RS256', 'ES384', 'HS512', 'EdDSA']) {
      const signer = signers[alg];
      if (signer === undefined) throw new Error(alg);
      const token = await new SignJWT(claims()).setProtectedHeader({ alg }).sign(signer.key);
      expect(statusOf(call(plugin, ROUTE, token)), alg).toBe(200);
    }
    const stranger = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256' }).sign(otherRsa.privateKey);
    expect(statusOf(call(plugin, ROUTE, stranger))).toBe(401);
  });

  it('returns 401 when the token has no kid or an unknown kid and every key of the route carries a kid', async () => {
    const plugin = await load();
    for (const alg of ['RS256', 'ES384', 'HS512', 'EdDSA']) {
      const signer = signers[alg];
      if (signer === undefined) throw new Error(alg);
      const anonymous = await new SignJWT(claims()).setProtectedHeader({ alg }).sign(signer.key);
      expect(statusOf(call(plugin, ROUTE, anonymous)), alg).toBe(401);
      const unknown = await new SignJWT(claims()).setProtectedHeader({ alg, kid: 'not-a-key-of-this-route' }).sign(signer.key);
      expect(statusOf(call(plugin, ROUTE, unknown)), alg).toBe(401);
      expect(statusOf(call(plugin, ROUTE, await sign(alg))), alg).toBe(200);
    }
  });

  it('accepts a token naming a kid when the configured key has no kid, as Envoy does (a PEM given to a plan)', async () => {
    const config = configuration();
    const { kid: _kid, ...withoutKid } = publicJwk(rsa.publicKey, 'rsa');
    const plugin = await loadPolicy('jwt', { ...config, keySets: { ...config.keySets, idp: { keys: [withoutKid] } } }, { clock: createManualClock(NOW_MS) });
    const named = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'whatever-the-idp-says' }).sign(rsa.privateKey);
    expect(statusOf(call(plugin, ROUTE, named))).toBe(200);
    const stranger = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'whatever-the-idp-says' }).sign(otherRsa.privateKey);
    expect(statusOf(call(plugin, ROUTE, stranger))).toBe(401);
  });

  it('verifies with a key pinned to an issuer (iss member) only tokens of that issuer', async () => {
    const config = configuration();
    const pinned = config.keySets.idp.keys.map((key) => ({ ...key, iss: ISSUER }));
    const plugin = await loadPolicy('jwt', { ...config, keySets: { ...config.keySets, idp: { keys: pinned } } }, { clock: createManualClock(NOW_MS) });
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256')))).toBe(200);
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256', claims({ iss: 'https://another-issuer.example' }))))).toBe(401);
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256', claims({ iss: undefined }))))).toBe(401);
  });

  it('verifies on one route with two sets holding the same kid pinned to different issuers (two key managers, one JWKS)', async () => {
    const config = configuration();
    const rsaKey = publicJwk(rsa.publicKey, 'rsa');
    const keySets = { ...config.keySets, a: { keys: [{ ...rsaKey, iss: ISSUER }] }, b: { keys: [{ ...rsaKey, iss: 'https://second.example' }] } };
    const plugin = await loadPolicy('jwt', { ...config, keySets, routes: { [OTHER_ISSUER_ROUTE]: { keySets: ['a', 'b'] } } }, { clock: createManualClock(NOW_MS) });
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256')))).toBe(200);
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256', claims({ iss: 'https://second.example' }))))).toBe(200);
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256', claims({ iss: 'https://third.example' }))))).toBe(401);
    expect(statusOf(call(plugin, OTHER_ISSUER_ROUTE, await sign('RS256', claims({ iss: undefined }))))).toBe(401);
  });

  it('returns 401 when the token header declares a critical extension', async () => {
    const plugin = await load();
    const header = { alg: 'HS256', kid: 'hs', crit: ['exp'], exp: NOW + 60 };
    const token = await new SignJWT(claims()).setProtectedHeader(header).sign(secret, { crit: { exp: true } });
    expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
  });

  it('returns 401 with a Bearer challenge when no token is presented', async () => {
    const plugin = await load();
    for (const headers of [[], [['authorization', 'Basic dXNlcjpwYXNz']], [['authorization', 'Bearer ']]] as Array<Array<[string, string]>>) {
      const reply = localReplyOf(call(plugin, ROUTE, null, headers).outcome);
      expect(reply.status).toBe(401);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Missing bearer token.' });
      expect(headerOf(reply, 'www-authenticate')).toBe('Bearer');
      expect(headerOf(reply, 'content-type')).toBe('application/json');
    }
  });

  it('accepts the scheme in any letter case', async () => {
    const plugin = await load();
    const token = await sign('ES256');
    expect(statusOf(sendRequest(plugin, { route: ROUTE, headers: [['authorization', `bearer ${token}`]] }))).toBe(200);
    expect(statusOf(sendRequest(plugin, { route: ROUTE, headers: [['authorization', `BEARER ${token}`]] }))).toBe(200);
  });

  it('answers 401 to a token header given twice, whatever the second value', async () => {
    const plugin = await load();
    const token = await sign('ES256');
    for (const second of [`Bearer ${token}`, `Bearer ${await sign('ES256', claims({ sub: 'other' }))}`, 'Basic dXNlcjpwdw==']) {
      const result = sendRequest(plugin, { route: ROUTE, headers: [['authorization', `Bearer ${token}`], ['authorization', second]] });
      expect(statusOf(result)).toBe(401);
      expect(localReplyOf(result.outcome).details).toBe('apip_jwt_ambiguous');
    }
  });

  it('returns 401 when the token is malformed', async () => {
    const plugin = await load();
    const good = await sign('HS256');
    for (const token of ['abc', 'a.b', 'a.b.c', `${good}.extra`, good.replace('.', '..'), `!${good}`]) {
      expect(statusOf(call(plugin, ROUTE, token)), token).toBe(401);
    }
  });

  it('answers 401, never a failed request, when the token is arbitrary text or arbitrary JSON', async () => {
    const plugin = await load();
    const segment = (value: unknown): string => base64url.encode(JSON.stringify(value) ?? 'null');
    const arbitraryToken = fc.oneof(
      fc.string({ maxLength: 300 }).map((text) => text.replace(/[\r\n\0]/g, 'x')),
      fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.uint8Array({ maxLength: 300 })).map(
        ([header, payload, signature]) => `${segment(header)}.${segment(payload)}.${base64url.encode(signature)}`,
      ),
      fc.tuple(fc.constantFrom('RS256', 'PS256', 'ES256', 'ES384', 'HS256', 'EdDSA'), fc.constantFrom('rsa', 'ec256', 'ec384', 'hs', 'ed'), fc.uint8Array({ maxLength: 600 })).map(
        ([alg, kid, signature]) => `${segment({ alg, kid })}.${segment(claims())}.${base64url.encode(signature)}`,
      ),
    );
    fc.assert(
      fc.property(arbitraryToken, (token) => {
        const result = sendRequest(plugin, { route: ROUTE, headers: [['authorization', `Bearer ${token}`]] });
        expect(statusOf(result)).toBe(401);
      }),
      { numRuns: 300 },
    );
    // The module is still healthy afterwards.
    expect(statusOf(call(plugin, ROUTE, await sign('ES256')))).toBe(200);
  });

  it('returns 401 when the token has expired', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ROUTE, await sign('RS256', claims({ exp: NOW - 1 }))))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('RS256', claims({ exp: NOW }))))).toBe(401);
  });

  it('returns 401 when the token is not yet valid', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ROUTE, await sign('ES384', claims({ nbf: NOW + 10 }))))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('ES384', claims({ nbf: NOW }))))).toBe(200);
  });

  it('accepts tokens within the leeway and rejects them beyond it', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, LEEWAY, await sign('RS256', claims({ exp: NOW - 29 }))))).toBe(200);
    expect(statusOf(call(plugin, LEEWAY, await sign('RS256', claims({ exp: NOW - 30 }))))).toBe(401);
    expect(statusOf(call(plugin, LEEWAY, await sign('RS256', claims({ nbf: NOW + 30 }))))).toBe(200);
    expect(statusOf(call(plugin, LEEWAY, await sign('RS256', claims({ nbf: NOW + 31 }))))).toBe(401);
    // Without leeway on the route the same token is refused.
    expect(statusOf(call(plugin, ROUTE, await sign('RS256', claims({ exp: NOW - 29 }))))).toBe(401);
  });

  it('returns 401 when the issuer or the audience does not match', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ROUTE, await sign('HS256', claims({ iss: 'https://evil.example.test' }))))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('HS256', claims({ iss: undefined }))))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('HS256', claims({ aud: 'another-api' }))))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, await sign('HS256', claims({ aud: ['another-api'] }))))).toBe(401);
  });

  it('accepts an audience array when one of its members matches', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ROUTE, await sign('HS256', claims({ aud: ['another-api', AUDIENCE] }))))).toBe(200);
  });

  it('returns 401 when a required claim is missing', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims())))).toBe(401);
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims({ tenant: 'acme' }))))).toBe(200);
  });

  it('returns 401 unless each claim of claimValues is a string equal to its value', async () => {
    const config = configuration();
    const routes = { [REQUIRED]: { keySets: ['idp'], claimValues: [{ claim: 'department', value: 'platform' }, { claim: 'role', value: 'admin' }] } };
    const plugin = await loadPolicy('jwt', { ...config, routes }, { clock: createManualClock(NOW_MS) });
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims({ department: 'platform', role: 'admin' }))))).toBe(200);
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims({ department: 'sales', role: 'admin' }))))).toBe(401);
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims({ department: 'platform' }))))).toBe(401);
    expect(statusOf(call(plugin, REQUIRED, await sign('HS256', claims({ department: ['platform'], role: 'admin' }))))).toBe(401);
  });

  it('returns 403 when no required scope is granted in any-of mode', async () => {
    const plugin = await load();
    const reply = localReplyOf(call(plugin, ANY_SCOPE, await sign('HS256', claims({ scope: 'profile email' }))).outcome);
    expect(reply.status).toBe(403);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Insufficient scope.' });
    expect(statusOf(call(plugin, ANY_SCOPE, await sign('HS256', claims())))).toBe(403);
  });

  it('continues when one required scope is granted in any-of mode, as scope or scp', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ANY_SCOPE, await sign('HS256', claims({ scope: 'profile books:read' }))))).toBe(200);
    expect(statusOf(call(plugin, ANY_SCOPE, await sign('HS256', claims({ scp: ['books:admin'] }))))).toBe(200);
  });

  it('returns 403 when only some required scopes are granted in all-of mode', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ALL_SCOPES, await sign('HS256', claims({ scope: 'books:read' }))))).toBe(403);
    expect(statusOf(call(plugin, ALL_SCOPES, await sign('HS256', claims({ scp: ['books:delete'] }))))).toBe(403);
  });

  it('continues when every required scope is granted in all-of mode', async () => {
    const plugin = await load();
    expect(statusOf(call(plugin, ALL_SCOPES, await sign('HS256', claims({ scope: 'books:delete  books:read' }))))).toBe(200);
    expect(statusOf(call(plugin, ALL_SCOPES, await sign('HS256', claims({ scp: ['books:read', 'books:delete'] }))))).toBe(200);
  });

  it('sets the subscription identity when the client id maps to a subscription', async () => {
    const plugin = await load();
    const { outcome, headers } = call(plugin, SUBSCRIBED, await sign('RS256', claims({ azp: 'app-client' })));
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-application-id')).toBe('app-1');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-1');
    expect(headers.get('x-apip-plan')).toBe('Gold');
  });

  it('takes the client id from azp, then a single aud, then client_id', async () => {
    const plugin = await load();
    const route = { ...configuration().routes[SUBSCRIBED], audience: ['app-client', 'mobile-client', AUDIENCE] };
    const config = configuration();
    const reloaded = await loadPolicy('jwt', { ...config, routes: { [SUBSCRIBED]: route } }, { clock: createManualClock(NOW_MS) });
    const viaAzp = call(reloaded, SUBSCRIBED, await sign('RS256', claims({ azp: 'mobile-client', aud: 'app-client', client_id: 'app-client' })));
    expect(viaAzp.headers.get('x-apip-application-id')).toBe('app-2');
    const viaAud = call(reloaded, SUBSCRIBED, await sign('RS256', claims({ aud: 'mobile-client', client_id: 'app-client' })));
    expect(viaAud.headers.get('x-apip-application-id')).toBe('app-2');
    const viaClientId = call(plugin, SUBSCRIBED, await sign('RS256', claims({ aud: [AUDIENCE, 'x'], client_id: 'app-client' })));
    expect(viaClientId.headers.get('x-apip-application-id')).toBe('app-1');
  });

  it('returns 403 when the client id has no subscription', async () => {
    const plugin = await load();
    for (const extra of [{ azp: 'stranger' }, { client_id: 'stranger' }, {}]) {
      const reply = localReplyOf(call(plugin, SUBSCRIBED, await sign('RS256', claims(extra))).outcome);
      expect(reply.status, JSON.stringify(extra)).toBe(403);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No subscription for this client.' });
    }
  });

  it('reads the client id from the configured claim when one is set', async () => {
    const plugin = await load();
    const mapped = call(plugin, CUSTOM_CLIENT_CLAIM, await sign('ES256', claims({ cid: 'mobile-client', azp: 'app-client' })));
    expect(mapped.headers.get('x-apip-subscription-id')).toBe('sub-2');
    expect(statusOf(call(plugin, CUSTOM_CLIENT_CLAIM, await sign('ES256', claims({ azp: 'app-client' }))))).toBe(403);
  });

  it('copies configured claims to request headers', async () => {
    const plugin = await load();
    const { headers } = call(plugin, ROUTE, await sign('EdDSA', claims({ email: 'ada@example.test', level: 3 })));
    expect(headers.get('x-user-email')).toBe('ada@example.test');
    expect(headers.get('x-level')).toBe('3');
  });

  it('replaces forged identity headers when the client sends them', async () => {
    const plugin = await load();
    const { headers } = call(plugin, SUBSCRIBED, await sign('RS256', claims({ azp: 'app-client' })), [
      ['x-apip-plan', 'Platinum'],
      ['x-apip-user-id', 'admin'],
      ['x-apip-other', 'x'],
    ]);
    expect(headers.get('x-apip-plan')).toBe('Gold');
    expect(headers.get('x-apip-user-id')).toBe('user-42');
    expect(headers.get('x-apip-other')).toBeUndefined();
  });

  it('removes the token header before the upstream when propagation is off', async () => {
    const plugin = await load();
    const { headers } = call(plugin, ROUTE, await sign('RS256'));
    expect(headers.get('authorization')).toBeUndefined();
  });

  it('keeps the token header when propagation is on', async () => {
    const plugin = await load();
    const token = await sign('RS256');
    const { outcome, headers } = call(plugin, PROPAGATE, token);
    expect(outcome.action).toBe('continue');
    expect(headers.get('authorization')).toBe(`Bearer ${token}`);
  });

  it('reads a bare token from the configured header when no scheme is configured', async () => {
    const plugin = await load();
    const token = await sign('PS256');
    const result = sendRequest(plugin, { route: CUSTOM_HEADER, headers: [['x-access-token', token]] });
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-access-token')).toBeUndefined();
    expect(statusOf(call(plugin, CUSTOM_HEADER, token))).toBe(401);
  });

  it('continues untouched when the route has no jwt settings', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, { route: 'other/GET/x', headers: [['authorization', 'Bearer nonsense']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('authorization')).toBe('Bearer nonsense');
  });

  it('accepts a cached token again and rejects it once the clock passes its exp', async () => {
    const clock = createManualClock(NOW_MS);
    const plugin = await load(clock);
    const token = await sign('RS256', claims({ exp: NOW + 60 }));
    expect(statusOf(call(plugin, ROUTE, token))).toBe(200);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(200);
    clock.advance(59_000);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(200);
    clock.advance(1_000);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
  });

  it('applies each route rules to a cached token', async () => {
    const plugin = await load();
    const token = await sign('HS256', claims({ scope: 'books:read' }));
    expect(statusOf(call(plugin, ANY_SCOPE, token))).toBe(200);
    expect(statusOf(call(plugin, ALL_SCOPES, token))).toBe(403);
    expect(statusOf(call(plugin, RS256_ONLY, token))).toBe(401);
    expect(statusOf(call(plugin, OTHER_KEYS, token))).toBe(401);
    expect(statusOf(call(plugin, ANY_SCOPE, token))).toBe(200);
  });

  it('keeps verifying correctly when the cache evicts entries', async () => {
    const config = { ...configuration(), cacheSize: 2 };
    const plugin = await loadPolicy('jwt', config, { clock: createManualClock(NOW_MS) });
    const tokens = await Promise.all([1, 2, 3, 4].map((n) => sign('HS256', claims({ sub: `user-${n}` }))));
    for (let round = 0; round < 2; round++) {
      for (const [index, token] of tokens.entries()) {
        const { outcome, headers } = call(plugin, ROUTE, token);
        expect(outcome.action).toBe('continue');
        expect(headers.get('x-apip-user-id')).toBe(`user-${index + 1}`);
      }
      expect(statusOf(call(plugin, ROUTE, tamper(tokens[0] ?? '')))).toBe(401);
    }
  });

  it('forgets verified tokens when the configuration changes', async () => {
    const plugin = await load();
    const token = await sign('HS256');
    expect(statusOf(call(plugin, ROUTE, token))).toBe(200);
    const config = configuration();
    const rotated = { ...config, keySets: { ...config.keySets, idp: { keys: [{ kty: 'oct', kid: 'hs', k: base64url.encode(randomBytes(64)) }] } } };
    expect(plugin.reconfigure(JSON.stringify(rotated))).toBe(true);
    expect(statusOf(call(plugin, ROUTE, token))).toBe(401);
  });
});

describe('jwt policy configuration', () => {
  async function refused(mutate: (config: ReturnType<typeof configuration>) => unknown): Promise<Plugin> {
    const plugin = await loadPolicy('jwt', mutate(configuration()), { clock: createManualClock(NOW_MS) });
    expect(plugin.isConfigured).toBe(false);
    return plugin;
  }

  it('fails closed with 500 when the configuration is refused', async () => {
    const plugin = await refused((config) => ({ ...config, routes: { [ROUTE]: { keySets: ['missing'] } } }));
    const reply = localReplyOf(call(plugin, ROUTE, await sign('RS256')).outcome);
    expect(reply.status).toBe(500);
  });

  it('refuses a JWK that carries a private key', async () => {
    await refused((config) => ({ ...config, keySets: { idp: { keys: [rsa.privateKey.export({ format: 'jwk' })] } } }));
  });

  it('refuses an RSA key shorter than 2048 bits', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await refused((config) => ({ ...config, keySets: { ...config.keySets, idp: { keys: [publicJwk(small.publicKey, 'small')] } } }));
  });

  it('refuses an EC key whose point is not on its curve', async () => {
    const jwk = publicJwk(ec256.publicKey, 'bad');
    const y = Buffer.from(String(jwk.y), 'base64url');
    y[5] = (y[5] ?? 0) ^ 1;
    await refused((config) => ({ ...config, keySets: { idp: { keys: [{ ...jwk, y: y.toString('base64url') }] } } }));
  });

  it('refuses an HMAC secret shorter than 32 bytes and a JWK whose alg contradicts its type', async () => {
    await refused((config) => ({ ...config, keySets: { idp: { keys: [{ kty: 'oct', k: base64url.encode(randomBytes(16)) }] } } }));
    await refused((config) => ({ ...config, keySets: { idp: { keys: [{ ...publicJwk(rsa.publicKey, 'rsa'), alg: 'HS256' }] } } }));
  });

  it('refuses "none" and unknown names in an allow-list', async () => {
    await refused((config) => ({ ...config, routes: { [ROUTE]: { keySets: ['idp'], algorithms: ['none'] } } }));
    await refused((config) => ({ ...config, routes: { [ROUTE]: { keySets: ['idp'], algorithms: ['RS256', 'ES512'] } } }));
  });

  it('refuses an unknown client table, scopes mode or duplicate kid', async () => {
    await refused((config) => ({ ...config, routes: { [ROUTE]: { keySets: ['idp'], clients: 'missing' } } }));
    await refused((config) => ({ ...config, routes: { [ROUTE]: { keySets: ['idp'], scopesMode: 'some' } } }));
    await refused((config) => ({
      ...config,
      keySets: { idp: { keys: [publicJwk(rsa.publicKey, 'dup'), publicJwk(otherRsa.publicKey, 'dup')] } },
    }));
  });

  it('refuses configurations that are not JSON objects', async () => {
    for (const text of ['', 'null', '[]', '{"keySets":{}}']) {
      const plugin = await loadPolicy('jwt', text);
      expect(plugin.isConfigured, text).toBe(false);
    }
  });
});

describe('jwt policy: plans', () => {
  const PLANS = 'shop/GET/orders';
  const GOLD_ONLY = 'shop/POST/orders';
  const OPTIONAL = 'shop/GET/catalog';

  function plansConfiguration(stripIdentityHeaders = true) {
    const base = { keySets: ['idp'], issuer: ISSUER, audience: AUDIENCE, clients: 'shop' };
    return {
      stripIdentityHeaders,
      keySets: { idp: { keys: [publicJwk(rsa.publicKey, 'rsa')] } },
      plans: {
        gold: { rule: "claims.tier == 'gold'", scopes: ['orders:write', 'orders:read'], scopesMode: 'all' },
        silver: { rule: null },
        partner: { rule: "header.x-partner == 'acme' && claims.realm.roles contains 'partner'" },
      },
      clients: {
        shop: {
          'multi-client': [
            { applicationId: 'app-m', subscriptionId: 'sub-m-gold', plan: 'gold', active: true },
            { applicationId: 'app-m', subscriptionId: 'sub-m-silver', plan: 'silver' },
          ],
          'paused-client': [{ applicationId: 'app-p', subscriptionId: 'sub-p', plan: 'silver', active: false }],
          'partner-client': [{ applicationId: 'app-x', subscriptionId: 'sub-x', plan: 'partner' }],
          'single-client': { applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'gold' },
        },
      },
      routes: {
        [PLANS]: { ...base, plans: ['gold', 'silver', 'partner'] },
        [GOLD_ONLY]: { ...base, plans: ['gold'] },
        [OPTIONAL]: { ...base, optional: true },
      },
    };
  }

  async function loadPlans(stripIdentityHeaders = true): Promise<Plugin> {
    const plugin = await loadPolicy('jwt', plansConfiguration(stripIdentityHeaders), { clock: createManualClock(NOW_MS) });
    expect(plugin.isConfigured).toBe(true);
    return plugin;
  }

  const token = (extra: JWTPayload): Promise<string> => sign('RS256', claims(extra));

  it('selects the first subscription whose plan rule holds and checks that plan scopes', async () => {
    const plugin = await loadPlans();
    const result = call(plugin, PLANS, await token({ azp: 'multi-client', tier: 'gold', scope: 'orders:read orders:write' }));
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-apip-plan')).toBe('gold');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-m-gold');
  });

  it('skips a subscription whose plan rule does not hold and takes the next one', async () => {
    const plugin = await loadPlans();
    const result = call(plugin, PLANS, await token({ azp: 'multi-client', tier: 'silver' }));
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-apip-plan')).toBe('silver');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-m-silver');
  });

  it('returns 403 Insufficient scope when the selected plan scopes are not all granted', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(call(plugin, PLANS, await token({ azp: 'multi-client', tier: 'gold', scope: 'orders:read' })).outcome);
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('apip_jwt_insufficient_scope');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Insufficient scope.' });
  });

  it('returns 401 No plan matches when no subscription to the route plans has a rule that holds', async () => {
    const plugin = await loadPlans();
    const result = call(plugin, GOLD_ONLY, await token({ azp: 'multi-client', tier: 'silver' }));
    const reply = localReplyOf(result.outcome);
    expect(reply.status).toBe(401);
    expect(reply.details).toBe('apip_plan_no_match');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No plan matches this request.' });
    expect(headerOf(reply, 'www-authenticate')).toBe('Bearer');
    expect(result.headers.get('x-apip-plan')).toBeUndefined();
  });

  it('returns 403 No subscription when the client holds no subscription to the route plans', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(call(plugin, GOLD_ONLY, await token({ azp: 'paused-client' })).outcome);
    expect(reply.status).toBe(403);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No subscription for this client.' });
  });

  it('returns 403 Subscription is not active when the selected subscription is inactive', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(call(plugin, PLANS, await token({ azp: 'paused-client' })).outcome);
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('apip_subscription_inactive');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Subscription is not active.' });
  });

  it('evaluates a plan rule over request headers and nested claims', async () => {
    const plugin = await loadPlans();
    const partnerToken = await token({ azp: 'partner-client', realm: { roles: ['reader', 'partner'] } });
    const ok = call(plugin, PLANS, partnerToken, [['x-partner', 'acme']]);
    expect(ok.outcome.action).toBe('continue');
    expect(ok.headers.get('x-apip-plan')).toBe('partner');
    expect(localReplyOf(call(plugin, PLANS, partnerToken, [['x-partner', 'other']]).outcome).details).toBe('apip_plan_no_match');
  });

  it('still accepts the single-object form of a client entry', async () => {
    const plugin = await loadPlans();
    const result = call(plugin, PLANS, await token({ azp: 'single-client', tier: 'gold', scope: 'orders:read orders:write' }));
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-1');
    const refused = localReplyOf(call(plugin, PLANS, await token({ azp: 'single-client', tier: 'silver' })).outcome);
    expect(refused.details).toBe('apip_plan_no_match');
  });

  it('continues without identity when the route is optional and no bearer token is presented', async () => {
    const plugin = await loadPlans();
    for (const headers of [[], [['authorization', 'ApiKey apip_123']]] as Array<Array<[string, string]>>) {
      const result = call(plugin, OPTIONAL, null, headers);
      expect(result.outcome.action).toBe('continue');
      expect(result.headers.get('x-apip-plan')).toBeUndefined();
    }
    expect(localReplyOf(call(plugin, OPTIONAL, 'not-a-token').outcome).status).toBe(401);
  });

  it('passes a request untouched when an earlier module already set x-apip-plan', async () => {
    const plugin = await loadPlans(false);
    const result = call(plugin, PLANS, null, [['x-apip-plan', 'key-gold'], ['x-apip-application-id', 'app-k']]);
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-apip-plan')).toBe('key-gold');
    expect(result.headers.get('x-apip-application-id')).toBe('app-k');
  });

  it('ignores a client-supplied x-apip-plan when it is the first module', async () => {
    const plugin = await loadPlans(true);
    expect(localReplyOf(call(plugin, PLANS, null, [['x-apip-plan', 'gold']]).outcome).status).toBe(401);
  });

  it('takes the first subscription of the client when the route plans are null', async () => {
    const config = plansConfiguration();
    const plugin = await loadPolicy('jwt', { ...config, routes: { [PLANS]: { keySets: ['idp'], clients: 'shop', plans: null } } }, { clock: createManualClock(NOW_MS) });
    expect(plugin.isConfigured).toBe(true);
    const result = call(plugin, PLANS, await token({ azp: 'partner-client', realm: { roles: ['partner'] } }), [['x-partner', 'acme']]);
    expect(result.outcome.action).toBe('continue');
    expect(result.headers.get('x-apip-plan')).toBe('partner');
  });

  it('refuses malformed plans, client lists and route plans', async () => {
    const config = plansConfiguration();
    const cases: unknown[] = [
      { ...config, plans: { gold: { rule: "claims.tier == 'gold" } } },
      { ...config, plans: { gold: { scopesMode: 'some' } } },
      { ...config, plans: { gold: { scopes: 'orders:read' } } },
      { ...config, plans: { gold: 'x' } },
      { ...config, clients: { shop: { c: [{ plan: 'gold', active: 'no' }] } } },
      { ...config, clients: { shop: { c: ['gold'] } } },
      { ...config, routes: { [PLANS]: { keySets: ['idp'], plans: [''] } } },
      { ...config, routes: { [PLANS]: { keySets: ['idp'], optional: 1 } } },
    ];
    for (const candidate of cases) {
      const plugin = await loadPolicy('jwt', candidate);
      expect(plugin.isConfigured, JSON.stringify(candidate).slice(0, 200)).toBe(false);
    }
  });
});

describe('jwt policy: plans trusting different key sets', () => {
  // Two JWT plans of one API, each trusting its own identity provider: `corp` (an HMAC secret) and `partner` (an
  // RSA key). The route trusts both sets; a client may hold subscriptions to both plans.
  const ROUTE_BOTH = 'idp/GET/orders';
  const corpSecret = new Uint8Array(randomBytes(32));
  const partnerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  function twoIdpConfiguration() {
    return {
      stripIdentityHeaders: true,
      keySets: {
        corp: { keys: [{ kty: 'oct', kid: 'corp-hs', k: base64url.encode(corpSecret) }] },
        partner: { keys: [publicJwk(partnerRsa.publicKey, 'partner-rsa')] },
      },
      plans: {
        // partner comes first in plan order and its rule holds for the tokens below.
        partner: { rule: "claims.tier == 'gold'", keySets: ['partner'] },
        corp: { rule: null, keySets: ['corp'] },
        strict: { rule: "claims.tier == 'platinum'", keySets: ['corp'] },
      },
      clients: {
        idp: {
          'both-client': [
            { applicationId: 'app-b', subscriptionId: 'sub-b-partner', plan: 'partner' },
            { applicationId: 'app-b', subscriptionId: 'sub-b-corp', plan: 'corp' },
          ],
          'partner-client': [{ applicationId: 'app-p', subscriptionId: 'sub-p-partner', plan: 'partner' }],
          'strict-client': [
            { applicationId: 'app-s', subscriptionId: 'sub-s-partner', plan: 'partner' },
            { applicationId: 'app-s', subscriptionId: 'sub-s-strict', plan: 'strict' },
          ],
        },
      },
      routes: {
        [ROUTE_BOTH]: { keySets: ['corp', 'partner'], algorithms: ['HS256', 'RS256'], clients: 'idp', plans: ['partner', 'corp', 'strict'] },
      },
    };
  }

  async function loadTwoIdps(config: unknown = twoIdpConfiguration()): Promise<Plugin> {
    const plugin = await loadPolicy('jwt', config, { clock: createManualClock(NOW_MS) });
    expect(plugin.isConfigured).toBe(true);
    return plugin;
  }

  const corpToken = (azp: string) => new SignJWT(claims({ azp, tier: 'gold' })).setProtectedHeader({ alg: 'HS256', kid: 'corp-hs' }).sign(corpSecret);
  const partnerToken = (azp: string) => new SignJWT(claims({ azp, tier: 'gold' })).setProtectedHeader({ alg: 'RS256', kid: 'partner-rsa' }).sign(partnerRsa.privateKey);

  it('selects only a plan that trusts the key set that verified the token, even when an earlier plan rule holds', async () => {
    const plugin = await loadTwoIdps();
    const corp = call(plugin, ROUTE_BOTH, await corpToken('both-client'));
    expect(corp.outcome).toEqual({ action: 'continue' });
    expect([corp.headers.get('x-apip-plan'), corp.headers.get('x-apip-subscription-id')]).toEqual(['corp', 'sub-b-corp']);
    // The same client with the partner's key: the partner plan (first, rule true) is its plan.
    const partner = call(plugin, ROUTE_BOTH, await partnerToken('both-client'));
    expect(partner.outcome).toEqual({ action: 'continue' });
    expect([partner.headers.get('x-apip-plan'), partner.headers.get('x-apip-subscription-id')]).toEqual(['partner', 'sub-b-partner']);
  });

  it('applies the key set of a cached token: the same token again selects the same plan', async () => {
    const plugin = await loadTwoIdps();
    const token = await corpToken('both-client');
    for (let i = 0; i < 2; i++) expect(call(plugin, ROUTE_BOTH, token).headers.get('x-apip-plan')).toBe('corp');
  });

  it('returns 403 No subscription when every subscription of the client is to plans that do not trust the key set', async () => {
    const plugin = await loadTwoIdps();
    const reply = localReplyOf(call(plugin, ROUTE_BOTH, await corpToken('partner-client')).outcome);
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('apip_jwt_no_subscription');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No subscription for this client.' });
    // The partner's own token for that client is admitted.
    expect(call(plugin, ROUTE_BOTH, await partnerToken('partner-client')).headers.get('x-apip-plan')).toBe('partner');
  });

  it('returns 401 No plan matches when a plan trusting the key set remains but its rule does not hold', async () => {
    const plugin = await loadTwoIdps();
    const reply = localReplyOf(call(plugin, ROUTE_BOTH, await corpToken('strict-client')).outcome);
    expect(reply.status).toBe(401);
    expect(reply.details).toBe('apip_plan_no_match');
  });

  it('lets any of the route key sets select a plan without keySets, as before', async () => {
    const config = twoIdpConfiguration();
    const plugin = await loadTwoIdps({ ...config, plans: { ...config.plans, partner: { rule: "claims.tier == 'gold'" } } });
    expect(call(plugin, ROUTE_BOTH, await corpToken('both-client')).headers.get('x-apip-plan')).toBe('partner');
  });

  it('refuses plan keySets that are not a list of configured key set names', async () => {
    const config = twoIdpConfiguration();
    for (const keySets of [['missing'], 'corp', [''], null]) {
      const plugin = await loadPolicy('jwt', { ...config, plans: { ...config.plans, corp: { rule: null, keySets } } });
      expect(plugin.isConfigured, JSON.stringify(keySets)).toBe(false);
    }
  });
});

describe('jwt policy: token lifetime per plan', () => {
  // Two JWT plans of one API: `bounded` (new plans' defaults: exp required, lifetime at most an hour here) and
  // `legacy` (a plan stored before these options: neither). The route serves both; each plan judges its own tokens.
  const LIFETIME = 'tokens/GET/items';
  const HOUR = 3600;

  function lifetimeConfiguration(bounded: Record<string, unknown> = { requireExpiration: true, maxLifetimeSeconds: HOUR }) {
    return {
      keySets: { idp: { keys: [publicJwk(rsa.publicKey, 'rsa')] } },
      plans: { bounded: { rule: null, ...bounded }, legacy: { rule: null } },
      clients: {
        tokens: {
          'bounded-client': { applicationId: 'app-b', subscriptionId: 'sub-b', plan: 'bounded' },
          'legacy-client': { applicationId: 'app-l', subscriptionId: 'sub-l', plan: 'legacy' },
          'both-client': [
            { applicationId: 'app-2', subscriptionId: 'sub-2-bounded', plan: 'bounded' },
            { applicationId: 'app-2', subscriptionId: 'sub-2-legacy', plan: 'legacy' },
          ],
        },
      },
      routes: { [LIFETIME]: { keySets: ['idp'], issuer: ISSUER, clients: 'tokens', plans: ['bounded', 'legacy'] } },
    };
  }

  async function loadLifetime(config: unknown = lifetimeConfiguration(), clock: ManualClock = createManualClock(NOW_MS)): Promise<Plugin> {
    const plugin = await loadPolicy('jwt', config, { clock });
    expect(plugin.isConfigured).toBe(true);
    return plugin;
  }

  const token = (azp: string, times: JWTPayload) => sign('RS256', { ...claims({ azp }), ...times });
  const withoutExp = (azp: string) => sign('RS256', { iss: ISSUER, sub: 'user-42', azp, iat: NOW });

  it('returns 401 Token has no expiration for a token without exp on a plan requiring exp, and admits it on a plan that does not', async () => {
    const plugin = await loadLifetime();
    const reply = localReplyOf(call(plugin, LIFETIME, await withoutExp('bounded-client')).outcome);
    expect(reply.status).toBe(401);
    expect(reply.details).toBe('apip_jwt_exp_required');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Token has no expiration (exp).' });
    expect(headerOf(reply, 'www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(call(plugin, LIFETIME, await withoutExp('legacy-client')).headers.get('x-apip-plan')).toBe('legacy');
    // A client of both plans: the plan that admits the token is selected.
    expect(call(plugin, LIFETIME, await withoutExp('both-client')).headers.get('x-apip-subscription-id')).toBe('sub-2-legacy');
  });

  it('returns 401 when exp - iat is above the plan maximum, and admits a token at the maximum', async () => {
    const plugin = await loadLifetime();
    const long = localReplyOf(call(plugin, LIFETIME, await token('bounded-client', { iat: NOW - 60, exp: NOW - 60 + HOUR + 1 })).outcome);
    expect(long.status).toBe(401);
    expect(long.details).toBe('apip_jwt_lifetime_exceeded');
    expect(jsonOf(long)).toEqual({ status: 'error', message: 'Token lifetime exceeds the plan maximum.' });
    const atMax = call(plugin, LIFETIME, await token('bounded-client', { iat: NOW - 60, exp: NOW - 60 + HOUR }));
    expect(atMax.outcome).toEqual({ action: 'continue' });
    expect(atMax.headers.get('x-apip-plan')).toBe('bounded');
    // The legacy plan sets no maximum: a day-long token of its client passes.
    expect(statusOf(call(plugin, LIFETIME, await token('legacy-client', { iat: NOW, exp: NOW + 24 * HOUR })))).toBe(200);
  });

  it('bounds exp - now when the token has no iat, or an iat in the future', async () => {
    const plugin = await loadLifetime();
    const noIat = (exp: number) => sign('RS256', { iss: ISSUER, sub: 'user-42', azp: 'bounded-client', exp });
    expect(statusOf(call(plugin, LIFETIME, await noIat(NOW + HOUR + 60)))).toBe(401);
    expect(statusOf(call(plugin, LIFETIME, await noIat(NOW + HOUR - 60)))).toBe(200);
    // An iat ahead of the clock never lengthens what the plan accepts: exp - now still counts.
    expect(statusOf(call(plugin, LIFETIME, await token('bounded-client', { iat: NOW + 2 * HOUR, exp: NOW + 3 * HOUR })))).toBe(401);
  });

  it('checks the lifetime of a cached token again on each request, for the plan it selects', async () => {
    const plugin = await loadLifetime();
    const long = await token('both-client', { iat: NOW, exp: NOW + 2 * HOUR });
    for (let i = 0; i < 2; i++) expect(call(plugin, LIFETIME, long).headers.get('x-apip-subscription-id')).toBe('sub-2-legacy');
    const boundedOnly = await token('bounded-client', { iat: NOW, exp: NOW + 2 * HOUR });
    for (let i = 0; i < 2; i++) expect(statusOf(call(plugin, LIFETIME, boundedOnly))).toBe(401);
  });

  it('refuses a token without exp on a plan with a maximum lifetime even when exp is not required', async () => {
    const plugin = await loadLifetime(lifetimeConfiguration({ maxLifetimeSeconds: HOUR }));
    expect(localReplyOf(call(plugin, LIFETIME, await withoutExp('bounded-client')).outcome).details).toBe('apip_jwt_exp_required');
  });

  it('refuses a plan maximum that is not a positive whole number of seconds, or a requireExpiration that is not a boolean', async () => {
    for (const bounded of [{ maxLifetimeSeconds: 0 }, { maxLifetimeSeconds: -5 }, { maxLifetimeSeconds: 1.5 }, { maxLifetimeSeconds: '1h' }, { requireExpiration: 'yes' }]) {
      const plugin = await loadPolicy('jwt', lifetimeConfiguration(bounded));
      expect(plugin.isConfigured, JSON.stringify(bounded)).toBe(false);
    }
  });
});
