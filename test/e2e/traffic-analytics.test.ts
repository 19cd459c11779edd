// Traffic through the embedded gateway is counted per minute and read back over GraphQL (docs/analytics.md).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createApiOverGraphql, gatewayAnswers, publishedPlan, send, subscribeNewApplication, type Subscribed } from '../helpers/traffic.ts';

/** An upstream answering 503 on /fail, 200 after 200 ms on /slow, 200 at once otherwise. */
async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const answer = (status: number) => res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    if (req.url?.endsWith('/fail')) answer(503);
    else if (req.url?.endsWith('/slow')) setTimeout(() => answer(200), 200);
    else answer(200);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface StatsRow {
  applicationId: string | null;
  planId: string | null;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

describe.each(shapeDrivers)('traffic: request analytics from the embedded gateway (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gw: number;
  let apiId: string;
  let planId: string;
  let app: Subscribed;
  const startedAt = new Date();
  let baseline: StatsRow[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    // No periodic flush: the test flushes when it has sent everything.
    t = await startTestPlatform(driver, { analyticsFlushIntervalMs: 0 });
    gw = t.platform.ports.gateway ?? 0;
    apiId = await createApiOverGraphql(t, 'counted-api', {
      context: '/counted',
      upstreamUrl: upstream.url,
      operations: [{ method: 'GET', path: '/items' }, { method: 'GET', path: '/fail' }, { method: 'GET', path: '/slow' }],
    });
    planId = await publishedPlan(t, apiId, 'Gold', { type: 'API_KEY' });
    app = await subscribeNewApplication(t, 'counted-app', planId);
    const key = { 'x-api-key': app.keyValue ?? '' };
    // Until the gateway serves the published plan and the key, probes may pass unauthenticated (an API without
    // plans is open) or be refused: what they count is the baseline the assertions subtract.
    await gatewayAnswers(gw, '/counted/items', 401);
    await gatewayAnswers(gw, '/counted/items', 200, { headers: key });
    await t.platform.analytics.flush();
    baseline = await stats(['APPLICATION', 'PLAN']);
    // 20 OK, 5 upstream failures, 1 slow, 3 without a key (401, no application identified).
    for (let i = 0; i < 20; i++) expect((await send(gw, '/counted/items', { headers: key })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await send(gw, '/counted/fail', { headers: key })).status).toBe(503);
    expect((await send(gw, '/counted/slow', { headers: key })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(gw, '/counted/items')).status).toBe(401);
    // Matched no route: not counted.
    expect((await send(gw, '/nowhere')).status).toBe(404);
    await t.platform.analytics.flush();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  async function stats(groupBy: string[]): Promise<StatsRow[]> {
    const res = await t.graphql<{ requestStats: StatsRow[] }>(
      `query($from: DateTime!, $to: DateTime!, $groupBy: [RequestStatsDimension!], $apiId: ID) {
        requestStats(from: $from, to: $to, groupBy: $groupBy, apiId: $apiId) {
          applicationId planId requests clientErrors serverErrors errorRate p50Ms p99Ms
        }
      }`,
      { from: new Date(startedAt.getTime() - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString(), groupBy, apiId },
    );
    expect(res.errors).toBeUndefined();
    return res.data!.requestStats;
  }

  /** A group's counts minus the baseline's, keyed `<applicationId>|<planId>`. */
  function sinceBaseline(rows: StatsRow[]): Map<string, [number, number, number]> {
    const delta = new Map<string, [number, number, number]>();
    for (const [sign, list] of [[1, rows], [-1, baseline]] as const) {
      for (const r of list) {
        const k = `${r.applicationId}|${r.planId}`;
        const [n, c, e] = delta.get(k) ?? [0, 0, 0];
        delta.set(k, [n + sign * r.requests, c + sign * r.clientErrors, e + sign * r.serverErrors]);
      }
    }
    return delta;
  }

  it('counts every routed request with its status class and whom it belongs to, unknown application for the rest', async () => {
    const delta = sinceBaseline(await stats(['APPLICATION', 'PLAN']));
    expect(delta.get(`${app.applicationId}|${planId}`)).toEqual([26, 0, 5]);
    expect(delta.get('null|null')).toEqual([3, 3, 0]);
    expect([...delta.values()].reduce((sum, [n]) => sum + n, 0)).toBe(29);
  });

  it('reports the error rate of all requests', async () => {
    const [total] = await stats([]);
    const before = baseline.reduce((sum, r) => sum + r.requests, 0);
    const errorsBefore = baseline.reduce((sum, r) => sum + r.clientErrors + r.serverErrors, 0);
    expect(total!.requests).toBe(before + 29);
    expect(total!.errorRate).toBeCloseTo((errorsBefore + 8) / (before + 29));
  });

  it('puts the slow request in p99 of the application', async () => {
    const [row] = (await stats(['APPLICATION'])).filter((r) => r.applicationId === app.applicationId);
    expect(row!.p99Ms).toBeGreaterThan(150);
    expect(row!.p50Ms).toBeLessThan(row!.p99Ms!);
  });
});
