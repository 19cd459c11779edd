import { testDigestKeyHex } from '../../helpers/policies.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, recordingLogger, send, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

const ROUTE = 'books/GET/books';

describe('embedded gateway metrics and access log', () => {
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let gateway: Gateway;
  const log = recordingLogger('debug');

  beforeAll(async () => {
    upstream = await startUpstream('books');
    modules = await startModuleServer();
    const source = new ManualSource(snapshot('7', {
      listeners: [listener([wasmFilter({
        module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'),
        configuration: { digestKey: testDigestKeyHex, keySets: { books: [] }, routes: { [ROUTE]: { keySets: ['books'], key: 'api_key', in: 'query' } } },
      })])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [
        route({ name: ROUTE, match: { path: '/books' }, cluster: 'books' }),
        route({ name: 'books/GET/open', match: { path: '/open' }, cluster: 'books' }),
      ] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    gateway = await createGateway({ source, port: 0, adminPort: 0, logger: log.logger });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await modules.close();
  });

  it('counts requests by API, route, status and decision, with latency and the snapshot version', async () => {
    await send(gateway.port, '/books?api_key=apip_secret-value');
    await send(gateway.port, '/open');
    await send(gateway.port, '/nowhere');
    const metrics = await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).toContain('apip_gateway_requests_total{api="books",route="books/GET/books",status="401",decision="local_reply"} 1');
    expect(text).toContain('apip_gateway_requests_total{api="books",route="books/GET/open",status="200",decision="forwarded"} 1');
    expect(text).toContain('apip_gateway_requests_total{api="",route="",status="404",decision="gateway"} 1');
    expect(text).toContain('apip_gateway_request_duration_seconds_count{api="books",route="books/GET/open"} 1');
    expect(text).toContain('apip_gateway_snapshot_info{version="7"} 1');
  });

  it('writes one access log line per request, without the query string or credentials', async () => {
    await send(gateway.port, '/books?api_key=apip_other-secret', { headers: { authorization: 'Bearer top-secret' } });
    const lines = log.records.filter((record) => record.msg === 'request' && record.route === ROUTE);
    const last = lines.at(-1);
    expect(last).toMatchObject({ method: 'GET', path: '/books', status: 401, route: ROUTE, decision: 'local_reply' });
    expect(typeof last?.durationMs).toBe('number');
    const everything = JSON.stringify(log.records);
    expect(everything).not.toContain('secret');
  });
});
