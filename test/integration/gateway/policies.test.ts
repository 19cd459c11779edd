import { keyDigestHex, testDigestKeyHex } from '../../helpers/policies.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource, Snapshot } from '../../../server/envoy/resources.ts';
import {
  listener, methodIs, route, routeConfiguration, snapshot, staticCluster, wasmFilter,
} from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

const ROUTE = 'books/GET/books';
const POST_ROUTE = 'books/POST/books';
const LIMITED_ROUTE = 'books/GET/limited';
const KEY = `apip_${'1'.repeat(64)}`;
const sha256 = keyDigestHex;

function apiKeyConfig(): unknown {
  return {
    stripIdentityHeaders: true,
    digestKey: testDigestKeyHex,
    keySets: { books: [{ sha256: sha256(KEY), status: 'active', applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'Gold' }] },
    routes: { [ROUTE]: { keySets: ['books'], key: 'x-api-key', in: 'header' } },
  };
}

function setHeadersConfig(value: string): unknown {
  const settings = {
    request: { headers: [{ name: 'x-gateway-version', value }] },
    response: { headers: [{ name: 'x-environment', value: 'test' }] },
  };
  return { routes: { [ROUTE]: settings, [POST_ROUTE]: settings } };
}

function throttleConfig(extraRoute: string): unknown {
  const limited = { limits: [{ requests: 2, windowMs: 60_000 }] };
  return { routes: { [LIMITED_ROUTE]: limited, [extraRoute]: limited } };
}

describe('embedded gateway policies', () => {
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let source: ManualSource;
  let gateway: Gateway;

  const build = (version: string, filters: EnvoyResource[]): Snapshot => snapshot(version, {
    listeners: [listener(filters)],
    routes: [routeConfiguration([{
      name: 'default', domains: ['*'],
      routes: [
        route({ name: ROUTE, match: { path: '/books', headers: [methodIs('GET')] }, cluster: 'books' }),
        route({ name: POST_ROUTE, match: { path: '/books', headers: [methodIs('POST')] }, cluster: 'books' }),
        route({ name: LIMITED_ROUTE, match: { path: '/limited' }, cluster: 'books' }),
      ],
    }])],
    clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
  });
  const apiKey = (): EnvoyResource => wasmFilter({ module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'), configuration: apiKeyConfig() });
  const setHeaders = (value: string, sha = moduleSha256('set-headers')): EnvoyResource =>
    wasmFilter({ module: 'set-headers', baseUrl: modules.url, sha256: sha, configuration: setHeadersConfig(value) });

  beforeAll(async () => {
    upstream = await startUpstream('books');
    modules = await startModuleServer();
    source = new ManualSource(build('1', [apiKey(), setHeaders('v1')]));
    gateway = await createGateway({ source, port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await modules.close();
  });

  it('answers 401 from the api-key policy without calling the upstream when the key is missing', async () => {
    const before = upstream.requests.length;
    const response = await send(gateway.port, '/books');
    expect(response.status).toBe(401);
    expect(JSON.parse(response.text)).toEqual({ status: 'error', message: 'Missing API key.' });
    expect(upstream.requests.length).toBe(before);
  });

  it('answers 401 when the key is unknown', async () => {
    const response = await send(gateway.port, '/books', { headers: { 'x-api-key': `apip_${'2'.repeat(64)}` } });
    expect(response.status).toBe(401);
  });

  it('forwards with identity and set-headers at the upstream, and response headers at the client, when the key is valid', async () => {
    const response = await send(gateway.port, '/books', { headers: { 'x-api-key': KEY, 'x-apip-plan': 'forged' } });
    expect(response.status).toBe(200);
    expect(response.headers['x-environment']).toBe('test');
    const seen = upstream.requests.at(-1);
    expect(seen?.headers['x-gateway-version']).toBe('v1');
    expect(seen?.headers['x-apip-application-id']).toBe('app-1');
    expect(seen?.headers['x-apip-plan']).toBe('Gold');
    expect(seen?.headers['x-api-key']).toBeUndefined();
  });

  it('gives each of many concurrent requests its own outcome when they run through the chain together', async () => {
    // Requests arriving in one event-loop turn go through the filters as a batch, module by module.
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => send(gateway.port, '/books', {
      headers: i % 3 === 0 ? { 'x-request-id': `req-${i}` } : { 'x-api-key': KEY, 'x-request-id': `req-${i}` },
    })));
    results.forEach((response, i) => {
      expect(response.status).toBe(i % 3 === 0 ? 401 : 200);
      // set-headers' response phase ran for every request, local replies included (set-headers is after api-key
      // here, so only forwarded responses pass through it).
      if (i % 3 !== 0) {
        expect(response.headers['x-environment']).toBe('test');
        const echoed = JSON.parse(response.text) as { headers: Record<string, string> };
        expect(echoed.headers['x-request-id']).toBe(`req-${i}`);
        expect(echoed.headers['x-apip-application-id']).toBe('app-1');
      }
    });
  });

  it('streams a request body through the chain to the upstream', async () => {
    const body = 'b'.repeat(300_000);
    const response = await send(gateway.port, '/books', { method: 'POST', body, headers: { 'x-api-key': KEY, 'content-type': 'text/plain' } });
    expect(response.status).toBe(200);
    expect(response.headers['x-environment']).toBe('test');
    const seen = upstream.requests.at(-1);
    expect(seen?.body).toBe(body);
    expect(seen?.headers['x-gateway-version']).toBe('v1');
  });

  it('keeps throttle counters when a new snapshot reloads the plugin with another configuration', async () => {
    const throttle = (extraRoute: string): EnvoyResource => wasmFilter({ module: 'throttle', baseUrl: modules.url, sha256: moduleSha256('throttle'), configuration: throttleConfig(extraRoute), vmId: 'apip.throttle.swap-test' });
    await source.push(build('1b', [throttle('x/GET/a')]));
    expect((await send(gateway.port, '/limited')).status).toBe(200);
    expect((await send(gateway.port, '/limited')).status).toBe(200);
    await source.push(build('1c', [throttle('x/GET/b')]));
    const limited = await send(gateway.port, '/limited');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    await source.push(build('1d', [apiKey(), setHeaders('v1')]));
  });

  it('fetches each module once and reuses it when a new snapshot changes only configurations', async () => {
    await source.push(build('2', [apiKey(), setHeaders('v2')]));
    const response = await send(gateway.port, '/books', { headers: { 'x-api-key': KEY } });
    expect(response.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers['x-gateway-version']).toBe('v2');
    expect(modules.fetches.get('set-headers')).toBe(1);
    expect(modules.fetches.get('api-key')).toBe(1);
  });

  it('fails closed with 500 when a module does not match its pinned sha256', async () => {
    await source.push(build('3', [setHeaders('v3', moduleSha256('api-key'))]));
    const before = upstream.requests.length;
    const response = await send(gateway.port, '/books');
    expect(response.status).toBe(500);
    expect(JSON.parse(response.text)).toEqual({ status: 'error', message: 'Policy is not configured.' });
    expect(upstream.requests.length).toBe(before);
  });

  it('runs a local reply through the response phase of the filters before the one that replied', async () => {
    // set-headers first, api-key second: api-key's 401 goes back through set-headers' response callbacks, as
    // Envoy's encoder filters see a local reply.
    await source.push(build('5', [setHeaders('v5'), apiKey()]));
    const response = await send(gateway.port, '/books');
    expect(response.status).toBe(401);
    expect(response.headers['x-environment']).toBe('test');
    expect(JSON.parse(response.text)).toEqual({ status: 'error', message: 'Missing API key.' });
    // The filter that failed to load answers in its place: the filters before it encode that reply too.
    await source.push(build('6', [setHeaders('v6'), setHeaders('v6', moduleSha256('api-key'))]));
    const failed = await send(gateway.port, '/books');
    expect(failed.status).toBe(500);
    expect(failed.headers['x-environment']).toBe('test');
    await source.push(build('1e', [apiKey(), setHeaders('v1')]));
  });

  it('keeps throttle counters per gateway: a second gateway in the same process counts on its own', async () => {
    const throttle = wasmFilter({ module: 'throttle', baseUrl: modules.url, sha256: moduleSha256('throttle'), configuration: throttleConfig('x/GET/c'), vmId: 'apip.throttle.per-gateway' });
    await source.push(build('7', [throttle]));
    const other = await createGateway({ source: new ManualSource(build('1', [throttle])), port: 0, logger: silentLogger() });
    try {
      expect((await send(gateway.port, '/limited')).status).toBe(200);
      expect((await send(gateway.port, '/limited')).status).toBe(200);
      expect((await send(gateway.port, '/limited')).status).toBe(429);
      expect((await send(other.port, '/limited')).status).toBe(200);
      expect((await send(other.port, '/limited')).status).toBe(200);
      expect((await send(other.port, '/limited')).status).toBe(429);
    } finally {
      await other.close();
    }
  });

  it('skips a module that cannot be loaded when its filter is fail_open', async () => {
    const filter = wasmFilter({ module: 'set-headers', baseUrl: modules.url, sha256: 'f'.repeat(64), configuration: setHeadersConfig('v4'), failOpen: true });
    await source.push(build('4', [filter]));
    const response = await send(gateway.port, '/books');
    expect(response.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers['x-gateway-version']).toBeUndefined();
  });
});
