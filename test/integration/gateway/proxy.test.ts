import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource } from '../../../server/envoy/resources.ts';
import {
  listener, methodIs, route, routeConfiguration, snapshot, staticCluster,
} from '../../fixtures/gateway/envoy-resources.ts';
import { ManualSource, send, silentLogger, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';

/** Headers removed before the upstream on every route (RouteConfiguration.request_headers_to_remove). */
function withHeadersToRemove(config: EnvoyResource): EnvoyResource {
  return { ...config, requestHeadersToRemove: ['x-http-method-override', 'X-Method-Override'] };
}

describe('embedded gateway proxying', () => {
  let books: TestServer;
  let slow: TestServer;
  let other: TestServer;
  let flaky: TestServer;
  let closedPort: number;
  let gateway: Gateway;
  let draw = 0;

  beforeAll(async () => {
    books = await startUpstream('books');
    other = await startUpstream('other');
    // Closes every kept-alive connection at its second request without answering, as an upstream whose idle
    // timeout fires just as the gateway reuses the connection.
    const served = new WeakMap<object, number>();
    flaky = await startUpstream('flaky', (req, res) => {
      const count = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, count);
      if (count > 1) req.socket.destroy();
      else res.writeHead(200, { 'x-upstream': 'flaky' }).end('fresh connection');
    });
    slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
    });
    const closed = await startUpstream('closed');
    closedPort = closed.port;
    await closed.close();
    const source = new ManualSource(snapshot('1', {
      routes: [withHeadersToRemove(routeConfiguration([{
        name: 'default',
        domains: ['*'],
        routes: [
          route({ name: 'books/GET/books/{id}', match: { safeRegex: { regex: '/api/books/[^/]+' }, headers: [methodIs('GET')] }, cluster: 'books', prefixRewrite: '/v1/book' }),
          route({ name: 'books/POST/books', match: { path: '/api/books', headers: [methodIs('POST')] }, cluster: 'books', regexRewrite: { regex: '^/api', substitution: '/v1' } }),
          route({ name: 'books/GET/host', match: { path: '/host' }, cluster: 'named', autoHostRewrite: true }),
          route({ name: 'slow/GET/slow', match: { path: '/slow' }, cluster: 'slow', timeout: '0.200s' }),
          route({ name: 'down/GET/down', match: { path: '/down' }, cluster: 'down' }),
          route({ name: 'empty/GET/empty', match: { path: '/empty' }, cluster: 'empty' }),
          route({ name: 'books/GET/weighted', match: { path: '/weighted' }, weightedClusters: [{ name: 'books', weight: 3 }, { name: 'other', weight: 1 }], hostRewriteLiteral: 'literal.test' }),
          route({ name: 'flaky/GET/flaky', match: { path: '/flaky' }, cluster: 'flaky' }),
          route({ name: 'missing/GET/missing', match: { path: '/missing' }, cluster: 'no-such-cluster' }),
          { ...route({ name: 'books/GET/strip', match: { path: '/strip' }, cluster: 'books' }), requestHeadersToRemove: ['x-route-only'] },
        ],
      }]))],
      clusters: [
        staticCluster('books', [{ address: '127.0.0.1', port: books.port }]),
        staticCluster('named', [{ address: '127.0.0.1', port: books.port, hostname: 'books.internal' }]),
        staticCluster('slow', [{ address: '127.0.0.1', port: slow.port }]),
        staticCluster('down', [{ address: '127.0.0.1', port: closedPort }]),
        staticCluster('empty', []),
        staticCluster('other', [{ address: '127.0.0.1', port: other.port }]),
        staticCluster('flaky', [{ address: '127.0.0.1', port: flaky.port }]),
      ],
    }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger(), random: () => draw });
  });

  afterAll(async () => {
    await gateway.close();
    await books.close();
    await slow.close();
    await other.close();
    await flaky.close();
  });

  it('forwards a matched GET with the path rewritten and the query kept', async () => {
    const response = await send(gateway.port, '/api/books/42?fields=title', { host: 'books.example.test:8080', headers: { 'x-client': 'yes' } });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('books');
    const echoed = JSON.parse(response.text) as { url: string; headers: Record<string, string> };
    expect(echoed.url).toBe('/v1/book?fields=title');
    expect(echoed.headers.host).toBe('books.example.test:8080');
    expect(echoed.headers['x-client']).toBe('yes');
    expect(echoed.headers['x-forwarded-proto']).toBe('http');
    expect(echoed.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echoed.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('forwards a request body and applies the regex rewrite when the method matches', async () => {
    const body = JSON.stringify({ title: 'Dune', text: 'x'.repeat(100_000) });
    const response = await send(gateway.port, '/api/books', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(200);
    const echoed = JSON.parse(response.text) as { url: string; method: string; body: string };
    expect(echoed).toMatchObject({ url: '/v1/books', method: 'POST' });
    expect(echoed.body).toBe(body);
  });

  it('drops hop-by-hop headers and keeps the client x-request-id', async () => {
    const response = await send(gateway.port, '/api/books/1', { headers: { 'x-request-id': 'req-1', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'no' } });
    const echoed = JSON.parse(response.text) as { headers: Record<string, string> };
    expect(echoed.headers['x-request-id']).toBe('req-1');
    expect(echoed.headers['x-secret-hop']).toBeUndefined();
  });

  it('routes and forwards the normalised path when the connection manager normalises paths', async () => {
    const response = await send(gateway.port, '/public/..//api/./books/%34%32?x=%2F');
    expect(response.status).toBe(200);
    expect((JSON.parse(response.text) as { url: string }).url).toBe('/v1/book?x=%2F');
  });

  it('answers 400 to an escaped slash or backslash in the path (path_with_escaped_slashes_action REJECT_REQUEST), not in the query', async () => {
    for (const path of ['/api/books/a%2Fb', '/api/books/a%2fb', '/api/books/a%5Cb', '/api/books/a%5cb', '/api%2Fbooks/1']) {
      expect((await send(gateway.port, path)).status, path).toBe(400);
    }
    expect((await send(gateway.port, '/api/books/1?next=%2F%5c')).status).toBe(200);
  });

  it('removes the request_headers_to_remove of the route configuration and of the route before the upstream', async () => {
    const headers = { 'X-HTTP-Method-Override': 'DELETE', 'x-method-override': 'PUT', 'x-route-only': 'gone', 'x-kept': 'yes' };
    const everywhere = JSON.parse((await send(gateway.port, '/api/books/1', { headers })).text) as { headers: Record<string, string> };
    expect(everywhere.headers['x-http-method-override']).toBeUndefined();
    expect(everywhere.headers['x-method-override']).toBeUndefined();
    expect(everywhere.headers['x-route-only']).toBe('gone');
    const routeLevel = JSON.parse((await send(gateway.port, '/strip', { headers })).text) as { headers: Record<string, string> };
    expect(routeLevel.headers['x-route-only']).toBeUndefined();
    expect(routeLevel.headers['x-http-method-override']).toBeUndefined();
    expect(routeLevel.headers['x-kept']).toBe('yes');
  });

  it('drops every request header whose name holds an underscore (headers_with_underscores_action DROP_HEADER)', async () => {
    const response = await send(gateway.port, '/api/books/1', { headers: { x_apip_plan: 'forged', 'X_Apip_Application_Id': 'forged', x_other: '1', 'x-kept': 'yes' } });
    const echoed = JSON.parse(response.text) as { headers: Record<string, string> };
    expect(response.status).toBe(200);
    expect(Object.keys(echoed.headers).filter((name) => name.includes('_'))).toEqual([]);
    expect(echoed.headers['x-kept']).toBe('yes');
  });

  it('answers 400 to a malformed percent-encoding', async () => {
    expect((await send(gateway.port, '/api/books/%zz')).status).toBe(400);
  });

  it('answers 404 {"error":"Not Found"} when no route matches the path or the method', async () => {
    for (const [path, method] of [['/nowhere', 'GET'], ['/api/books/1', 'DELETE']] as const) {
      const response = await send(gateway.port, path, { method });
      expect(response.status).toBe(404);
      expect(JSON.parse(response.text)).toEqual({ error: 'Not Found' });
    }
  });

  it('sets Host to the endpoint hostname when auto_host_rewrite is on', async () => {
    const response = await send(gateway.port, '/host', { host: 'public.example.test' });
    const echoed = JSON.parse(response.text) as { headers: Record<string, string> };
    expect(echoed.headers.host).toBe('books.internal');
  });

  it('sends to the weighted cluster the draw falls on, with the literal Host', async () => {
    draw = 0.74;
    const first = await send(gateway.port, '/weighted');
    draw = 0.75;
    const second = await send(gateway.port, '/weighted');
    expect((JSON.parse(first.text) as { headers: Record<string, string> }).headers.host).toBe('literal.test');
    expect(first.headers['x-upstream']).toBe('books');
    expect(second.headers['x-upstream']).toBe('other');
  });

  it('retries once on a fresh connection when a reused keep-alive connection is reset before any response', async () => {
    expect((await send(gateway.port, '/flaky')).status).toBe(200);
    const second = await send(gateway.port, '/flaky');
    expect(second.status).toBe(200);
    expect(second.text).toBe('fresh connection');
  });

  it('answers 504 upstream request timeout when the upstream is slower than the route timeout', async () => {
    const response = await send(gateway.port, '/slow');
    expect(response.status).toBe(504);
    expect(response.text).toBe('upstream request timeout');
  });

  it('answers 503 when the upstream refuses the connection', async () => {
    const response = await send(gateway.port, '/down');
    expect(response.status).toBe(503);
    expect(response.text).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
  });

  it('answers 503 no healthy upstream when the cluster has no endpoint', async () => {
    const response = await send(gateway.port, '/empty');
    expect(response.status).toBe(503);
    expect(response.text).toBe('no healthy upstream');
  });

  it('answers 503 when the route names a cluster the snapshot does not have', async () => {
    expect((await send(gateway.port, '/missing')).status).toBe(503);
  });
});

describe('embedded gateway request hygiene follows the connection manager it is given', () => {
  let books: TestServer;
  let gateway: Gateway;

  beforeAll(async () => {
    books = await startUpstream('books');
    const base = listener();
    const hcm = (base.filterChains as { filters: { typedConfig: Record<string, unknown> }[] }[])[0]!.filters[0]!.typedConfig;
    delete hcm.pathWithEscapedSlashesAction;
    hcm.commonHttpProtocolOptions = { headersWithUnderscoresAction: 'REJECT_REQUEST' };
    const source = new ManualSource(snapshot('1', {
      listeners: [base],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: 'books/GET/any', match: { prefix: '/' }, cluster: 'books' })] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: books.port }])],
    }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await gateway.close();
    await books.close();
  });

  it('answers 400 to an underscored header name under REJECT_REQUEST, and forwards escaped slashes when no action is set', async () => {
    expect((await send(gateway.port, '/a', { headers: { x_apip_plan: 'forged' } })).status).toBe(400);
    const response = await send(gateway.port, '/a%2Fb', { headers: { 'x-plain': 'yes' } });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.text) as { url: string }).url).toBe('/a%2Fb');
  });
});
