import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource } from '../../../server/envoy/resources.ts';
import { route, routeConfiguration, snapshot, staticCluster } from '../../fixtures/gateway/envoy-resources.ts';
import { ManualSource, send, silentLogger, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';

/** Polls `probe` until it holds (no timing assertion: only a generous cap so a broken promise fails). */
async function eventually(probe: () => Promise<boolean>, capMs = 10_000): Promise<void> {
  const until = Date.now() + capMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function at(server: TestServer): { address: string; port: number } {
  return { address: '127.0.0.1', port: server.port };
}

function withRetry(r: EnvoyResource, retryPolicy: EnvoyResource): EnvoyResource {
  return { ...r, route: { ...(r.route as EnvoyResource), retryPolicy } };
}

/** Which upstream answered `count` GETs of `path`. */
async function answeredBy(port: number, path: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await send(port, path);
    out.push(`${response.status} ${String(response.headers['x-upstream'] ?? '')}`);
  }
  return out;
}

describe('embedded gateway upstream resilience', () => {
  const servers: TestServer[] = [];
  let source: ManualSource;
  let gateway: Gateway;
  let checkedA: TestServer;
  let checkedB: TestServer;
  let isBUnhealthy = false;
  let healthHits: { host: string | undefined; agent: string | undefined }[] = [];
  let outlierC: TestServer;
  let outlierD: TestServer;
  let isDFailing = false;
  let ok: TestServer;
  let unavailable: TestServer;
  let always503: TestServer;
  let closedPort = 0;
  let firstSnapshot: ReturnType<typeof snapshot>;

  const start = async (name: string, handler?: Parameters<typeof startUpstream>[1]) => {
    const server = await startUpstream(name, handler);
    servers.push(server);
    return server;
  };
  const answer503 = (name: string) => start(name, (_req, res) => res.writeHead(503, { 'x-upstream': name }).end('unavailable'));

  beforeAll(async () => {
    checkedA = await start('a', (req, res) => {
      if (req.url === '/healthz') healthHits.push({ host: req.headers.host, agent: req.headers['user-agent'] });
      res.writeHead(200, { 'x-upstream': 'a' }).end('a');
    });
    checkedB = await start('b', (req, res) => {
      res.writeHead(req.url === '/healthz' && isBUnhealthy ? 503 : 200, { 'x-upstream': 'b' }).end('b');
    });
    outlierC = await start('c', (_req, res) => res.writeHead(200, { 'x-upstream': 'c' }).end('c'));
    outlierD = await start('d', (_req, res) => res.writeHead(isDFailing ? 500 : 200, { 'x-upstream': 'd' }).end('d'));
    ok = await start('ok');
    unavailable = await answer503('unavailable');
    always503 = await answer503('always-503');
    const slow = await start('slow', (_req, res) => {
      setTimeout(() => res.writeHead(200, { 'x-upstream': 'slow' }).end('late'), 3_000).unref();
    });
    const closed = await startUpstream('closed');
    closedPort = closed.port;
    await closed.close();

    const connectFailure = { retryOn: 'connect-failure', numRetries: 1 };
    const on503 = { retryOn: 'retriable-status-codes', retriableStatusCodes: [503], numRetries: 1 };
    firstSnapshot = snapshot('1', {
      routes: [routeConfiguration([{
        name: 'default',
        domains: ['*'],
        routes: [
          route({ name: 'checked', match: { path: '/checked' }, cluster: 'checked' }),
          route({ name: 'outliers', match: { path: '/outliers' }, cluster: 'outliers' }),
          withRetry(route({ name: 'connect', match: { path: '/connect' }, cluster: 'connect' }), connectFailure),
          withRetry(route({ name: 'status', match: { path: '/status' }, cluster: 'status' }), on503),
          route({ name: 'status-no-retry', match: { path: '/status-no-retry' }, cluster: 'status' }),
          withRetry(route({ name: 'bounded', match: { path: '/bounded' }, cluster: 'bounded' }), { ...on503, numRetries: 2 }),
          withRetry(route({ name: 'per-try', match: { path: '/per-try' }, cluster: 'per-try' }), { retryOn: 'reset', numRetries: 1, perTryTimeout: '0.200s' }),
          withRetry(route({ name: 'no-budget', match: { path: '/no-budget' }, cluster: 'no-budget' }), on503),
        ],
      }])],
      clusters: [
        {
          ...staticCluster('checked', [at(checkedA), at(checkedB)]),
          healthChecks: [{ timeout: '0.500s', interval: '0.100s', unhealthyThreshold: 2, healthyThreshold: 2, httpHealthCheck: { path: '/healthz' } }],
        },
        {
          ...staticCluster('outliers', [at(outlierC), at(outlierD)]),
          outlierDetection: { consecutive5xx: 3, interval: '0.100s', baseEjectionTime: '2s', maxEjectionPercent: 50 },
        },
        staticCluster('connect', [{ address: '127.0.0.1', port: closedPort }, at(ok)]),
        staticCluster('status', [at(unavailable), at(ok)]),
        staticCluster('bounded', [at(always503)]),
        staticCluster('per-try', [at(slow), at(ok)]),
        {
          ...staticCluster('no-budget', [at(always503)]),
          circuitBreakers: { thresholds: [{ retryBudget: { budgetPercent: { value: 0 }, minRetryConcurrency: 0 } }] },
        },
      ],
    });
    source = new ManualSource(firstSnapshot);
    gateway = await createGateway({ source, port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all(servers.map((server) => server.close()));
  });

  describe('active health checks (cluster health_checks)', () => {
    it('checks every endpoint with Host set to the cluster name and the Envoy/HC user agent', async () => {
      await eventually(async () => healthHits.length > 0);
      expect(healthHits[0]).toEqual({ host: 'checked', agent: 'Envoy/HC' });
    });

    it('sends traffic only to the healthy endpoint when the other fails its checks, and again to both when it recovers', async () => {
      expect(new Set(await answeredBy(gateway.port, '/checked', 4))).toEqual(new Set(['200 a', '200 b']));
      isBUnhealthy = true;
      await eventually(async () => (await answeredBy(gateway.port, '/checked', 4)).every((r) => r === '200 a'));
      // Still out a while later: the verdict is the check's, not a coincidence of the round robin.
      await sleep(300);
      expect(await answeredBy(gateway.port, '/checked', 6)).toEqual(Array(6).fill('200 a'));
      isBUnhealthy = false;
      await eventually(async () => (await answeredBy(gateway.port, '/checked', 4)).includes('200 b'));
    });
  });

  describe('outlier detection (cluster outlier_detection)', () => {
    it('ejects an endpoint after consecutive 5xx and takes it back after the ejection time', async () => {
      isDFailing = true;
      // Round robin: D answers every other request; three 500s in a row from it eject it.
      const before = await answeredBy(gateway.port, '/outliers', 6);
      expect(before.filter((r) => r === '500 d')).toHaveLength(3);
      const dServed = outlierD.requests.length;
      expect(await answeredBy(gateway.port, '/outliers', 6)).toEqual(Array(6).fill('200 c'));
      expect(outlierD.requests.length).toBe(dServed);
      // A snapshot that leaves the cluster alone keeps the ejection (as Envoy keeps a cluster CDS did not change).
      await gateway.apply({ ...firstSnapshot, version: '1b' });
      expect(await answeredBy(gateway.port, '/outliers', 6)).toEqual(Array(6).fill('200 c'));
      expect(outlierD.requests.length).toBe(dServed);
      isDFailing = false;
      await eventually(async () => (await answeredBy(gateway.port, '/outliers', 4)).includes('200 d'));
    });
  });

  describe('retries (route retry_policy)', () => {
    it('answers 200 from the second endpoint when the first refuses the connection (connect-failure)', async () => {
      const served = ok.requests.length;
      expect(await answeredBy(gateway.port, '/connect', 4)).toEqual(Array(4).fill('200 ok'));
      expect(ok.requests.length).toBe(served + 4);
    });

    it('answers 200 from another endpoint when one answers 503 (retriable-status-codes), and 503 without a retry policy', async () => {
      const tried = unavailable.requests.length;
      expect(await answeredBy(gateway.port, '/status', 4)).toEqual(Array(4).fill('200 ok'));
      expect(unavailable.requests.length).toBeGreaterThan(tried);
      expect(await answeredBy(gateway.port, '/status-no-retry', 2)).toContain('503 unavailable');
    });

    it('tries at most num_retries more times, then answers with the last 503', async () => {
      const upstream = always503;
      const tried = upstream.requests.length;
      const response = await send(gateway.port, '/bounded');
      expect(response.status).toBe(503);
      expect(upstream.requests.length).toBe(tried + 3);
    });

    it('retries on another endpoint when a try outlasts its per-try timeout', async () => {
      expect(await answeredBy(gateway.port, '/per-try', 2)).toEqual(['200 ok', '200 ok']);
    });

    it('does not retry when the cluster retry budget allows no retry', async () => {
      const upstream = always503;
      const tried = upstream.requests.length;
      expect((await send(gateway.port, '/no-budget')).status).toBe(503);
      expect(upstream.requests.length).toBe(tried + 1);
    });

    it('retries a POST with its whole body when the body fits the retry buffer, and not when it is larger', async () => {
      const upstream = always503;
      const small = 'x'.repeat(10_000);
      let tried = upstream.requests.length;
      expect((await send(gateway.port, '/bounded', { method: 'POST', body: small })).status).toBe(503);
      expect(upstream.requests.slice(tried).map((r) => r.body)).toEqual([small, small, small]);
      tried = upstream.requests.length;
      const large = 'y'.repeat(200_000);
      expect((await send(gateway.port, '/bounded', { method: 'POST', body: large })).status).toBe(503);
      expect(upstream.requests.slice(tried).map((r) => r.body.length)).toEqual([200_000]);
    });
  });

  describe('configuration swaps', () => {
    it('stops the health checks of a configuration once it is replaced', async () => {
      const early = healthHits.length;
      await sleep(300);
      expect(healthHits.length).toBeGreaterThan(early);
      const clusters = (firstSnapshot.resources.cluster as EnvoyResource[]).map(({ healthChecks: _none, ...cluster }) => cluster);
      await gateway.apply({ ...firstSnapshot, version: '2', resources: { ...firstSnapshot.resources, cluster: clusters } });
      // A check already on the wire may still land.
      await sleep(200);
      const hits = healthHits.length;
      await sleep(500);
      expect(healthHits.length).toBe(hits);
    });

    it('stops the health checks when the gateway closes', async () => {
      const other = await createGateway({ source: new ManualSource(firstSnapshot), port: 0, logger: silentLogger() });
      const early = healthHits.length;
      await eventually(async () => healthHits.length > early);
      await other.close();
      await sleep(200);
      const hits = healthHits.length;
      await sleep(500);
      expect(healthHits.length).toBe(hits);
    });
  });
});
