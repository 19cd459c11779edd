import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource, Snapshot } from '../../../server/envoy/resources.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

// Response shapes through the upstream client and the response body phase, with and without filters: chunked
// bodies (no content-length), bodies larger than a socket buffer (backpressure), bodiless responses, HEAD, and
// an upstream that dies in the middle of a body.
const ROUTE = 'shapes/GET/any';
const BIG = 'z'.repeat(3_000_000);

describe('embedded gateway response shapes', () => {
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let plain: Gateway;
  let filtered: Gateway;

  const build = (filters: EnvoyResource[]): Snapshot => snapshot('1', {
    listeners: [listener(filters)],
    routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: ROUTE, match: { prefix: '/' }, cluster: 'shapes' })] }])],
    clusters: [staticCluster('shapes', [{ address: '127.0.0.1', port: upstream.port }])],
  });

  beforeAll(async () => {
    upstream = await startUpstream('shapes', (req, res) => {
      switch (req.url) {
        case '/chunked':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first,');
          setTimeout(() => res.end('second'), 20);
          return;
        case '/big':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BIG.length });
          res.end(BIG);
          return;
        case '/empty':
          res.writeHead(204).end();
          return;
        case '/head':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 }).end(req.method === 'HEAD' ? undefined : 'hello');
          return;
        case '/broken':
          res.writeHead(200, { 'content-length': 100 });
          res.write('partial');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        default:
          res.writeHead(404).end();
      }
    });
    modules = await startModuleServer();
    plain = await createGateway({ source: new ManualSource(build([])), port: 0, logger: silentLogger() });
    const setHeaders = wasmFilter({
      module: 'set-headers', baseUrl: modules.url, sha256: moduleSha256('set-headers'),
      configuration: { routes: { [ROUTE]: { response: { headers: [{ name: 'x-environment', value: 'test' }] } } } },
    });
    filtered = await createGateway({ source: new ManualSource(build([setHeaders])), port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await plain.close();
    await filtered.close();
    await upstream.close();
    await modules.close();
  });

  const gateways = (): [string, Gateway][] => [['without filters', plain], ['with a filter', filtered]];

  it('streams a chunked response body', async () => {
    for (const [, gateway] of gateways()) {
      const response = await send(gateway.port, '/chunked');
      expect(response.status).toBe(200);
      expect(response.text).toBe('first,second');
    }
  });

  it('passes a body larger than the socket buffers in full', async () => {
    for (const [name, gateway] of gateways()) {
      const response = await send(gateway.port, '/big');
      expect(response.status, name).toBe(200);
      expect(response.text.length, name).toBe(BIG.length);
      expect(response.text === BIG, name).toBe(true);
    }
  });

  it('answers bodiless responses and HEAD requests without a body', async () => {
    for (const [name, gateway] of gateways()) {
      const empty = await send(gateway.port, '/empty');
      expect(empty.status, name).toBe(204);
      expect(empty.text, name).toBe('');
      const head = await send(gateway.port, '/head', { method: 'HEAD' });
      expect(head.status, name).toBe(200);
      expect(head.headers['content-length'], name).toBe('5');
      expect(head.text, name).toBe('');
    }
    expect((await send(filtered.port, '/empty')).headers['x-environment']).toBe('test');
  });

  it('resets the client connection when the upstream dies in the middle of a body', async () => {
    for (const [name, gateway] of gateways()) {
      await expect(send(gateway.port, '/broken'), name).rejects.toThrow();
      // The gateway keeps serving.
      expect((await send(gateway.port, '/head')).text, name).toBe('hello');
    }
  });
});
