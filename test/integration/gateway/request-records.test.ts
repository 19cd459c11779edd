import { keyDigestHex, testDigestKeyHex } from '../../helpers/policies.ts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGateway, type Gateway, type GatewayRequestRecord } from '../../../server/gateway/gateway.ts';
import { listener, methodIs, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

const ROUTE = 'books-api/GET/books';
const OPEN_ROUTE = 'books-api/GET/open';
const KEY = `apip_${'3'.repeat(64)}`;
const sha256 = keyDigestHex;

describe('embedded gateway onRequestComplete', () => {
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let gateway: Gateway;
  const records: GatewayRequestRecord[] = [];

  /** The records of the requests sent so far, once each has been reported (the hook runs when the response
   *  has ended on the gateway's side, which may be just after the client read it). */
  async function recordsAfter(count: number): Promise<GatewayRequestRecord[]> {
    await vi.waitFor(() => expect(records.length).toBeGreaterThanOrEqual(count));
    return records.slice(0, count);
  }

  beforeAll(async () => {
    upstream = await startUpstream('books');
    modules = await startModuleServer();
    const source = new ManualSource(snapshot('1', {
      listeners: [listener([wasmFilter({
        module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'),
        configuration: {
          stripIdentityHeaders: true,
          digestKey: testDigestKeyHex,
          keySets: { books: [{ sha256: sha256(KEY), status: 'active', applicationId: 'app-7', subscriptionId: 'sub-7', plan: 'plan-gold' }] },
          routes: { [ROUTE]: { keySets: ['books'], key: 'x-api-key' } },
        },
      })])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [
        route({ name: ROUTE, match: { path: '/books', headers: [methodIs('GET')] }, cluster: 'books' }),
        route({ name: OPEN_ROUTE, match: { path: '/open' }, cluster: 'books' }),
      ] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger(), onRequestComplete: (record) => records.push(record) });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await modules.close();
  });

  it('reports each finished request once, with the identity the filter chain left in the request headers', async () => {
    const before = Date.now();
    expect((await send(gateway.port, '/books', { headers: { 'x-api-key': KEY } })).status).toBe(200);
    // A forged identity on a route the api-key policy does not guard is stripped before anything reads it.
    expect((await send(gateway.port, '/open', { method: 'POST', headers: { 'x-apip-application-id': 'forged' } })).status).toBe(200);
    expect((await send(gateway.port, '/books')).status).toBe(401);
    expect((await send(gateway.port, '/nowhere')).status).toBe(404);
    const [forwarded, open, denied, notFound] = await recordsAfter(4);
    expect(forwarded).toMatchObject({
      api: 'books-api', route: ROUTE, method: 'GET', status: 200,
      applicationId: 'app-7', subscriptionId: 'sub-7', plan: 'plan-gold',
    });
    expect(forwarded?.startedAt).toBeGreaterThanOrEqual(before - 1);
    expect(forwarded?.startedAt).toBeLessThanOrEqual(Date.now());
    expect(forwarded?.durationMs).toBeGreaterThanOrEqual(0);
    expect(open).toMatchObject({ api: 'books-api', route: OPEN_ROUTE, method: 'POST', status: 200, applicationId: null, subscriptionId: null, plan: null });
    expect(denied).toMatchObject({ api: 'books-api', route: ROUTE, method: 'GET', status: 401, applicationId: null, subscriptionId: null, plan: null, details: 'apip_api_key_missing' });
    expect(open).toMatchObject({ details: null });
    expect(notFound).toMatchObject({ api: null, route: null, method: 'GET', status: 404, applicationId: null, subscriptionId: null, plan: null });
    // Exactly once each: nothing more arrives for these four requests.
    await new Promise((resolve) => setImmediate(resolve));
    expect(records).toHaveLength(4);
  });

  it('keeps serving when the hook throws', async () => {
    const source = new ManualSource(snapshot('1', {
      listeners: [listener([])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: OPEN_ROUTE, match: { path: '/open' }, cluster: 'books' })] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    let calls = 0;
    const throwing = await createGateway({ source, port: 0, logger: silentLogger(), onRequestComplete: () => { calls += 1; throw new Error('consumer bug'); } });
    try {
      expect((await send(throwing.port, '/open')).status).toBe(200);
      expect((await send(throwing.port, '/open')).status).toBe(200);
      await vi.waitFor(() => expect(calls).toBe(2));
    } finally {
      await throwing.close();
    }
  });
  it('reports no identity for a route without filters, whatever the client sent', async () => {
    // No module runs there to establish an identity: the identity headers a client forges must not reach
    // analytics (the route removes them before the upstream, docs/gateway.md Request hygiene).
    const source = new ManualSource(snapshot('1', {
      listeners: [listener([])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: OPEN_ROUTE, match: { path: '/open' }, cluster: 'books' })] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    const seen: GatewayRequestRecord[] = [];
    const bare = await createGateway({ source, port: 0, logger: silentLogger(), onRequestComplete: (record) => seen.push(record) });
    try {
      const forged = { 'x-apip-application-id': 'forged-app', 'x-apip-subscription-id': 'forged-sub', 'x-apip-plan': 'forged-plan' };
      expect((await send(bare.port, '/open', { headers: forged })).status).toBe(200);
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      expect(seen[0]).toMatchObject({ route: OPEN_ROUTE, status: 200, applicationId: null, subscriptionId: null, plan: null });
    } finally {
      await bare.close();
    }
  });
});
