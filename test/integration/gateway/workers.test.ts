import type { ServerResponse } from 'node:http';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import { killGatewayWorker } from '../../../server/gateway/workers/worker-gateway.ts';
import type { EnvoyResource, Snapshot } from '../../../server/envoy/resources.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

const LIMITED = 'shared/GET/limited';
const HELD = 'shared/GET/held';
const FAST = 'shared/GET/fast';
const WORKERS = 2;

/** The value of one sample of the admin /metrics text. */
async function metric(gateway: Gateway, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

async function workerRequests(gateway: Gateway): Promise<number[]> {
  return Promise.all(Array.from({ length: WORKERS }, (_, i) => metric(gateway, `apip_gateway_worker_requests_total{worker="${i}"}`)));
}

describe('embedded gateway on worker threads', () => {
  let upstream: TestServer;
  let held: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let source: ManualSource;
  let gateway: Gateway;
  const waiting: ServerResponse[] = [];
  let arrived: () => void = () => undefined;

  const build = (version: string, options: { environment?: string; throttleVm?: string; extra?: EnvoyResource[] } = {}): Snapshot => snapshot(version, {
    listeners: [listener([
      wasmFilter({
        module: 'throttle', baseUrl: modules.url, sha256: moduleSha256('throttle'), vmId: options.throttleVm ?? 'apip.throttle.workers',
        configuration: { routes: { [LIMITED]: { limits: [{ requests: 10, windowMs: 600_000 }] } } },
      }),
      wasmFilter({
        module: 'set-headers', baseUrl: modules.url, sha256: moduleSha256('set-headers'),
        configuration: { routes: Object.fromEntries([LIMITED, HELD, FAST].map((name) => [name, { response: { headers: [{ name: 'x-environment', value: options.environment ?? 'one' }] } }])) },
      }),
    ])],
    routes: [routeConfiguration([{
      name: 'default', domains: ['*'], routes: [
        route({ name: LIMITED, match: { path: '/limited' }, cluster: 'upstream' }),
        route({ name: HELD, match: { path: '/held' }, cluster: 'held' }),
        route({ name: FAST, match: { path: '/fast' }, cluster: 'upstream' }),
      ],
    }])],
    clusters: [
      staticCluster('upstream', [{ address: '127.0.0.1', port: upstream.port }]),
      staticCluster('held', [{ address: '127.0.0.1', port: held.port }]),
    ],
  });

  beforeAll(async () => {
    upstream = await startUpstream('upstream');
    held = await startUpstream('held', (_req, res) => {
      waiting.push(res);
      arrived();
    });
    modules = await startModuleServer();
    source = new ManualSource(build('1'));
    gateway = await createGateway({ source, port: 0, adminPort: 0, logger: silentLogger(), workers: WORKERS });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream.close();
    await held.close();
    await modules.close();
  });

  it('admits exactly the throttle limit across workers when 100 requests arrive at once', async () => {
    const before = await workerRequests(gateway);
    const statuses = await Promise.all(Array.from({ length: 100 }, async () => (await send(gateway.port, '/limited')).status));
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(90);
    const served = (await workerRequests(gateway)).map((count, i) => count - (before[i] ?? 0));
    expect(served.reduce((a, b) => a + b, 0)).toBe(100);
    expect(served.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('applies a new configuration on every worker while a request in flight finishes on the old one', async () => {
    const upstreamHasIt = new Promise<void>((resolve) => { arrived = resolve; });
    const inFlight = send(gateway.port, '/held');
    await upstreamHasIt;
    await source.push(build('2', { environment: 'two' }));
    expect(gateway.version).toBe('2');

    const after = await Promise.all(Array.from({ length: 20 }, () => send(gateway.port, '/fast')));
    expect(after.map((response) => response.headers['x-environment'])).toEqual(Array(20).fill('two'));

    waiting.shift()?.writeHead(200).end('old');
    const before = await inFlight;
    expect(before.text).toBe('old');
    expect(before.headers['x-environment']).toBe('one');
    expect(await metric(gateway, 'apip_gateway_snapshot_info{version="2"}')).toBe(1);
  });

  it('keeps every worker on the last good configuration when a snapshot cannot be built', async () => {
    const broken = build('3', { environment: 'three' });
    (broken.resources.routeConfiguration[0] as { virtualHosts: { routes: { match: unknown }[] }[] }).virtualHosts[0]!.routes[2]!.match = { safeRegex: { regex: '/fast(?=x)' } };
    await expect(source.push(broken)).rejects.toThrow(/RE2/);
    expect(gateway.version).toBe('2');
    const responses = await Promise.all(Array.from({ length: 10 }, () => send(gateway.port, '/fast')));
    expect(responses.map((response) => response.headers['x-environment'])).toEqual(Array(10).fill('two'));
    expect(await metric(gateway, 'apip_gateway_config_rejected_total')).toBe(1);
  });

  it('keeps p99 latency low while the main thread is blocked for 2 s', async () => {
    // The load generator and its upstream run on a thread of their own: this one is about to be blocked.
    const load = new Worker(loadGenerator, { eval: true });
    try {
      const upstreamPort = await new Promise<number>((resolve) => load.once('message', (m: { upstreamPort: number }) => resolve(m.upstreamPort)));
      await source.push(snapshot('4', {
        listeners: [listener()],
        routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: FAST, match: { path: '/fast' }, cluster: 'load' })] }])],
        clusters: [staticCluster('load', [{ address: '127.0.0.1', port: upstreamPort }])],
      }));
      const results = new Promise<{ startedAt: number; ms: number; status: number }[]>((resolve) => load.once('message', (m: { latencies: { startedAt: number; ms: number; status: number }[] }) => resolve(m.latencies)));
      load.postMessage({ gatewayPort: gateway.port, durationMs: 2_600 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const blockedFrom = Date.now();
      while (Date.now() - blockedFrom < 2_000) { /* the management thread is busy */ }
      const blockedUntil = Date.now();
      // Requests sent while this thread was blocked.
      const during = (await results).filter((r) => r.startedAt > blockedFrom + 50 && r.startedAt < blockedUntil);
      const sorted = during.map((r) => r.ms).sort((a, b) => a - b);
      const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Infinity;
      expect(during.length).toBeGreaterThan(50);
      expect(during.every((r) => r.status === 200)).toBe(true);
      expect(p99).toBeLessThan(250);
    } finally {
      await load.terminate();
    }
  });

  it('restarts a worker that died while the others keep serving', async () => {
    await source.push(build('5', { environment: 'five' }));
    await killGatewayWorker(gateway, 0);
    const meanwhile = await Promise.all(Array.from({ length: 20 }, () => send(gateway.port, '/fast')));
    expect(meanwhile.map((response) => response.status)).toEqual(Array(20).fill(200));

    await expect.poll(() => metric(gateway, 'apip_gateway_worker_restarts_total{worker="0"}'), { timeout: 20_000, interval: 100 }).toBe(1);
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${gateway.adminPort}/ready`)).status, { timeout: 20_000, interval: 100 }).toBe(200);
    const before = await workerRequests(gateway);
    const after = await Promise.all(Array.from({ length: 60 }, () => send(gateway.port, '/fast')));
    expect(after.map((response) => response.headers['x-environment'])).toEqual(Array(60).fill('five'));
    const served = (await workerRequests(gateway)).map((count, i) => count - (before[i] ?? 0));
    expect(served[0]).toBeGreaterThan(0);
  });

  it('refuses options that cannot cross threads', async () => {
    await expect(createGateway({ source, port: 0, logger: silentLogger(), workers: 2, random: Math.random })).rejects.toThrow(/random cannot be used with workers > 0/);
    await expect(createGateway({ source, port: 0, logger: silentLogger(), workers: -1 })).rejects.toThrow(/workers must be a non-negative integer/);
  });
});

/** A worker thread (plain JavaScript): an upstream, then on request 4 connections sending back to back for
 *  `durationMs`, reporting each request's start time, latency and status. */
const loadGenerator = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
const upstream = http.createServer((req, res) => { req.resume(); res.end('ok'); });
upstream.listen(0, '127.0.0.1', () => parentPort.postMessage({ upstreamPort: upstream.address().port }));
parentPort.once('message', async ({ gatewayPort, durationMs }) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const latencies = [];
  const end = Date.now() + durationMs;
  const one = () => new Promise((resolve) => {
    const startedAt = Date.now();
    const started = performance.now();
    const done = (status) => { latencies.push({ startedAt, ms: performance.now() - started, status }); resolve(); };
    http.get({ host: '127.0.0.1', port: gatewayPort, path: '/fast', agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
    }).on('error', () => done(0));
  });
  await Promise.all([0, 1, 2, 3].map(async () => { while (Date.now() < end) await one(); }));
  agent.destroy();
  parentPort.postMessage({ latencies });
});
`;
