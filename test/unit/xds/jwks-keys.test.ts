import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayJwtKeys } from '../../../server/config.ts';
import { ChangeFeed } from '../../../server/domain/context.ts';
import type { DeploymentModel } from '../../../server/domain/deployment-model.ts';
import { policyKinds } from '../../../server/policies/index.ts';
import { parsePlanSecurity } from '../../../server/domain/plan-security.ts';
import { givenKeyToJwk, JwksResolver } from '../../../server/xds/jwks-resolver.ts';
import type { Snapshot } from '../../../server/envoy/resources.ts';
import { SnapshotRunner } from '../../../server/xds/runner.ts';
import { SnapshotCache } from '../../../server/xds/snapshot-cache.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { ValidationCache, validateResourcesAsync } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

async function publicJwkOf(pair: KeyPair, kid: string): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' };
}

function signed(pair: KeyPair, kid: string, issuer = 'https://idp.test'): Promise<string> {
  return new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(pair.privateKey);
}

/** The public JWK with this kid among `keys` verifies a token signed by the pair's private key. */
async function verifies(keys: readonly Record<string, unknown>[] | undefined, pair: KeyPair, kid: string): Promise<boolean> {
  const jwk = keys?.find((k) => k.kid === kid);
  if (!jwk) return false;
  const { payload } = await jwtVerify(await signed(pair, kid), await importJWK(jwk as JWK, 'RS256'));
  return payload.sub === 'alice';
}

/** Resolves once `condition` holds (polled), or fails after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); ) {
    if (Date.now() - started > 5000) throw new Error('condition did not hold within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A JWKS served over HTTP on 127.0.0.1 whose document the test swaps (key rotation) or breaks. */
class JwksServer {
  document: unknown = { keys: [] };
  status = 200;
  requests = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.requests += 1;
      res.writeHead(this.status, { 'content-type': 'application/json' }).end(JSON.stringify(this.document));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const jwtOptions = {
  signatureAlgorithms: ['RS256'],
  givenKey: null,
  jwksUrl: null,
  clientIdClaim: null,
  userClaim: 'sub',
  requiredScopes: [],
  strictScopes: false,
  extractClaims: [],
  propagateAuthHeader: false,
  leewaySeconds: 0,
};

/** Every module this build has, as the control plane serves them. */
const modules = Object.fromEntries(policyKinds.map((name) => [name, { sha256: 'b'.repeat(64) }]));

/** One deployed API with one JWT plan resolving its keys as given. */
function jwtModel(jwt: Record<string, unknown>): DeploymentModel {
  return modelFromYaml({
    apis: [{ id: 'api_orders', handle: 'orders', context: '/orders', upstream: { main: { url: 'http://orders.internal' } }, operations: [{ method: 'GET', path: '/list' }] }],
    plans: [{ id: 'pln_jwt', apiId: 'api_orders', name: 'Partners', security: { type: 'JWT', jwt: { ...jwtOptions, ...jwt } } }],
  });
}

/** `ssh-rsa <base64>` of an RSA public JWK (RFC 4253 §6.6: string "ssh-rsa", mpint e, mpint n). */
function sshRsaLine(jwk: JWK): string {
  const withLength = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  // mpint: big-endian two's complement, so a leading byte >= 0x80 needs a 0x00 in front.
  const mpint = (b64url: string) => {
    const raw = Buffer.from(b64url, 'base64url');
    return withLength(raw[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
  };
  const blob = Buffer.concat([withLength(Buffer.from('ssh-rsa')), mpint(jwk.e!), mpint(jwk.n!)]);
  return `ssh-rsa ${blob.toString('base64')} alice@example`;
}

/** The jwt module's key sets in a snapshot (the wasm filter's configuration). */
function jwtKeySets(snapshot: Snapshot): Record<string, { keys: Record<string, unknown>[] }> {
  const manager = (snapshot.resources.listener[0]!.filterChains as { filters: { typedConfig: { httpFilters: { name: string; typedConfig: { config: { configuration: { value: string } } } }[] } }[] }[])[0]!.filters[0]!;
  const filter = manager.typedConfig.httpFilters.find((f) => f.name === 'envoy.filters.http.wasm/jwt');
  return filter ? (JSON.parse(filter.typedConfig.config.configuration.value) as { keySets: Record<string, { keys: Record<string, unknown>[] }> }).keySets : {};
}

describe('JWKS_URL keys (jose, refreshed on a schedule)', () => {
  const idp = new JwksServer();
  let first: KeyPair;
  let second: KeyPair;

  beforeAll(async () => {
    [first, second] = await Promise.all([generateKeyPair('RS256', { extractable: true }), generateKeyPair('RS256', { extractable: true })]);
    await idp.start();
  });

  afterAll(() => idp.stop());

  it('re-fetches an API\'s JWKS at once when a data plane refuses a token there, at most once per cooldown', async () => {
    idp.document = { keys: [await publicJwkOf(first, 'k1')] };
    idp.status = 200;
    let now = 1_000_000;
    const resolver = new JwksResolver({ ttlMs: 300_000, refreshCooldownMs: 30_000, now: () => now });
    await resolver.resolve(jwtModel({ keyResolver: 'JWKS_URL', jwksUrl: idp.url }));
    let changes = 0;
    const stop = resolver.watch(() => changes++);
    try {
      const fetched = idp.requests;
      idp.document = { keys: [await publicJwkOf(second, 'k2')] };
      resolver.refreshSoon('elsewhere');
      resolver.refreshSoon('orders');
      resolver.refreshSoon('orders');
      await until(() => changes === 1);
      expect(idp.requests).toBe(fetched + 1);
      now += 29_000;
      resolver.refreshSoon('orders');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(idp.requests).toBe(fetched + 1);
      now += 1_000;
      resolver.refreshSoon('orders');
      await until(() => idp.requests === fetched + 2);
      // The same keys again: nothing to rebuild.
      expect(changes).toBe(1);
    } finally {
      stop();
    }
  });

  it('fetches the keys once, reports a rotation on refresh, and keeps the last keys while the IdP is down', async () => {
    idp.document = { keys: [await publicJwkOf(first, 'k1')] };
    idp.status = 200;
    const resolver = new JwksResolver({ ttlMs: 60_000 });
    const model = jwtModel({ keyResolver: 'JWKS_URL', jwksUrl: idp.url });
    const before = idp.requests;
    const resolved = await resolver.resolve(model);
    expect(resolved.problems).toEqual([]);
    expect(await verifies(resolved.model.jwks['plan/pln_jwt'], first, 'k1')).toBe(true);
    await resolver.resolve(model);
    expect(idp.requests - before).toBe(1);

    expect(await resolver.refresh()).toBe(false);
    idp.document = { keys: [await publicJwkOf(first, 'k1'), await publicJwkOf(second, 'k2')] };
    expect(await resolver.refresh()).toBe(true);
    const rotated = await resolver.resolve(model);
    expect(rotated.model.jwks['plan/pln_jwt']?.map((k) => k.kid)).toEqual(['k1', 'k2']);
    expect(await verifies(rotated.model.jwks['plan/pln_jwt'], second, 'k2')).toBe(true);

    idp.status = 500;
    expect(await resolver.refresh()).toBe(false);
    expect((await resolver.resolve(model)).model.jwks['plan/pln_jwt']?.map((k) => k.kid)).toEqual(['k1', 'k2']);
  });

  it('reports a document that is not a JWK Set and publishes no keys for it', async () => {
    idp.status = 200;
    idp.document = { keys: 'nope' };
    const { model, problems } = await new JwksResolver().resolve(jwtModel({ keyResolver: 'JWKS_URL', jwksUrl: idp.url }));
    expect(model.jwks['plan/pln_jwt']).toEqual([]);
    expect(problems).toEqual([{ source: 'plan/pln_jwt', message: expect.stringContaining('JWKS could not be fetched') }]);
  });

  it('rebuilds and publishes the rotated keys through the runner without any write', async () => {
    idp.status = 200;
    idp.document = { keys: [await publicJwkOf(first, 'k1')] };
    const resolver = new JwksResolver({ ttlMs: 100 });
    const validation = new ValidationCache();
    const cache = new SnapshotCache({ epoch: 1 });
    const runner = new SnapshotRunner<DeploymentModel>({
      db: null as never,
      changes: new ChangeFeed(),
      cache,
      logger: pino({ level: 'silent' }),
      now: () => new Date(0),
      pipeline: {
        loadModel: async () => jwtModel({ keyResolver: 'JWKS_URL', jwksUrl: idp.url }),
        resolveJwks: (model) => resolver.resolve(model),
        translate: (model) => translate(model, { controlPlaneUrl: 'http://cp:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) }),
        validate: (resources) => validateResourcesAsync(resources, validation),
        watch: (onChange) => resolver.watch(onChange, 50),
      },
    });
    try {
      await runner.start();
      expect(jwtKeySets(cache.current()!)['plan/pln_jwt']?.keys.map((k) => k.kid)).toEqual(['k1']);
      const published = new Promise<Snapshot>((resolve) => {
        const stop = cache.subscribe((snapshot) => {
          stop();
          resolve(snapshot);
        });
      });
      idp.document = { keys: [await publicJwkOf(second, 'k2')] };
      const snapshot = await published;
      const keys = jwtKeySets(snapshot)['plan/pln_jwt']?.keys;
      expect(keys?.map((k) => k.kid)).toEqual(['k2']);
      expect(await verifies(keys, second, 'k2')).toBe(true);
    } finally {
      await runner.close();
    }
  });
});

describe('GATEWAY_KEYS (GATEWAY_JWT_KEYS)', () => {
  let issuerA: KeyPair;
  let issuerB: KeyPair;
  let dir: string;

  beforeAll(async () => {
    [issuerA, issuerB] = await Promise.all([generateKeyPair('RS256', { extractable: true }), generateKeyPair('RS256', { extractable: true })]);
    dir = mkdtempSync(join(tmpdir(), 'apip-gateway-keys-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads inline JSON and YAML files, and refuses private keys, keys without kid and repeated kids', async () => {
    const a = await publicJwkOf(issuerA, 'a1');
    expect(parseGatewayJwtKeys(JSON.stringify({ 'https://a.test': [a] }))).toEqual({ 'https://a.test': [a] });
    const file = join(dir, 'keys.yaml');
    writeFileSync(file, `https://a.test:\n  - ${JSON.stringify(a)}\n`);
    expect(parseGatewayJwtKeys(file)).toEqual({ 'https://a.test': [a] });

    const privateJwk = { ...(await exportJWK(issuerA.privateKey)), kid: 'p' };
    expect(() => parseGatewayJwtKeys(JSON.stringify({ x: [privateJwk] }))).toThrow(/private key/);
    expect(() => parseGatewayJwtKeys(JSON.stringify({ x: [{ ...a, kid: undefined }] }))).toThrow(/needs a kid/);
    expect(() => parseGatewayJwtKeys(JSON.stringify({ x: [a], y: [a] }))).toThrow(/used twice/);
    expect(() => parseGatewayJwtKeys(join(dir, 'missing.json'))).toThrow(/GATEWAY_JWT_KEYS: cannot read/);
  });

  it('gives a GATEWAY_KEYS plan the public keys of every issuer, which verify their tokens', async () => {
    const gatewayKeys = { 'https://b.test': [await publicJwkOf(issuerB, 'b1')], 'https://a.test': [await publicJwkOf(issuerA, 'a1')] };
    const { model, problems } = await new JwksResolver({ gatewayKeys }).resolve(jwtModel({ keyResolver: 'GATEWAY_KEYS' }));
    expect(problems).toEqual([]);
    const keys = model.jwks['plan/pln_jwt'];
    expect(keys?.map((k) => k.kid)).toEqual(['a1', 'b1']);
    expect(keys?.every((k) => !('d' in k))).toBe(true);
    expect(await verifies(keys, issuerA, 'a1')).toBe(true);
    expect(await verifies(keys, issuerB, 'b1')).toBe(true);
    const translated = translate(model, { controlPlaneUrl: 'http://cp:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) });
    expect(translated.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('reports a GATEWAY_KEYS plan when no gateway keys are configured', async () => {
    const { model, problems } = await new JwksResolver().resolve(jwtModel({ keyResolver: 'GATEWAY_KEYS' }));
    expect(model.jwks['plan/pln_jwt']).toBeUndefined();
    expect(problems).toEqual([{ source: 'plan/pln_jwt', message: expect.stringContaining('GATEWAY_JWT_KEYS') }]);
  });
});

describe('GIVEN_KEY as an ssh-rsa public key', () => {
  it('becomes the RSA JWK of the same key, which verifies the key pair’s tokens', async () => {
    for (const modulusLength of [2048, 3072]) {
      const pair = await generateKeyPair('RS256', { extractable: true, modulusLength });
      const jwk = await exportJWK(pair.publicKey);
      const line = sshRsaLine(jwk);
      const converted = await givenKeyToJwk(line, ['RS256']);
      expect(converted).toEqual({ kty: 'RSA', n: jwk.n, e: jwk.e });
      const { payload } = await jwtVerify(await signed(pair, 'ignored'), await importJWK(converted as JWK, 'RS256'));
      expect(payload.sub).toBe('alice');
      const { model } = await new JwksResolver().resolve(jwtModel({ keyResolver: 'GIVEN_KEY', givenKey: line }));
      expect(model.jwks['plan/pln_jwt']).toEqual([converted]);
    }
  });

  it('is accepted by plan validation for RS algorithms only', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const line = sshRsaLine(await exportJWK(pair.publicKey));
    const ok = await parsePlanSecurity({ type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: line, signatureAlgorithms: ['RS256'] } }, 'security', null);
    expect(ok.issues).toEqual([]);
    const wrong = await parsePlanSecurity({ type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: line, signatureAlgorithms: ['ES256'] } }, 'security', null);
    expect(wrong.issues).toEqual([{ path: 'security.jwt.givenKey', message: expect.stringContaining('RS or PS') }]);
    const broken = await parsePlanSecurity({ type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: 'ssh-rsa AAAAB3NzaC1kc3M=', signatureAlgorithms: ['RS256'] } }, 'security', null);
    expect(broken.issues).toEqual([{ path: 'security.jwt.givenKey', message: 'Not a valid ssh-rsa public key' }]);
  });
});
