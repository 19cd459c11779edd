// Envoy's gRPC access-log service on the control plane's xDS port, fed by a real @grpc/grpc-js client speaking
// envoy.service.accesslog.v3 (as Envoy's HttpGrpcAccessLogConfig does), read back over GraphQL.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latencyBucketBounds, latencyBucketOf } from '../../../server/analytics/latency-histogram.ts';
import { envoyProtoIncludeDirs } from '../../../server/envoy/protos.ts';
import { defaultXdsConfig } from '../../../server/config.ts';
import { openPlatformPki } from '../../../server/pki/platform-pki.ts';
import { adsClientCredentials } from '../../../server/gateway/ads-client.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { dataPlaneCredentials } from '../../helpers/xds-tls.ts';
import { adminAuth, basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { createApiOverGraphql, globalId, mutate, publishedPlan, rawId } from '../../helpers/traffic.ts';

interface AlsClient extends grpc.Client {
  StreamAccessLogs(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown>;
}

function alsClient(port: number, credentials: grpc.ChannelCredentials): AlsClient {
  const definition = protoLoader.loadSync('envoy/service/accesslog/v3/als.proto', {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [...envoyProtoIncludeDirs],
  });
  const ns = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { accesslog: { v3: { AccessLogService: new (address: string, credentials: grpc.ChannelCredentials) => AlsClient } } } };
  };
  return new ns.envoy.service.accesslog.v3.AccessLogService(`127.0.0.1:${port}`, credentials);
}

/** Streams the messages on one StreamAccessLogs call and resolves once the server has answered (read them all). */
function streamAccessLogs(client: AlsClient, messages: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.StreamAccessLogs((error) => (error ? reject(error) : resolve()));
    for (const message of messages) call.write(message);
    call.end();
  });
}

const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;

function entry(route: string, status: number, durationMs: number, headers: Record<string, string> = {}) {
  return {
    common_properties: {
      route_name: route,
      start_time: { seconds: String(Math.floor(minuteStart / 1000) + 1), nanos: 0 },
      duration: { seconds: String(Math.floor(durationMs / 1000)), nanos: (durationMs % 1000) * 1e6 },
      time_to_last_downstream_tx_byte: { seconds: '0', nanos: 0 },
    },
    request: { request_method: 'GET', path: '/x', request_headers: headers },
    response: { response_code: { value: status } },
  };
}

interface StatsRow {
  minute: string | null;
  apiId: string | null;
  planId: string | null;
  applicationId: string | null;
  application: { name: string } | null;
  api: { handle: string } | null;
  plan: { name: string } | null;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

const statsQuery = `query($from: DateTime!, $to: DateTime!, $groupBy: [RequestStatsDimension!], $apiId: ID) {
  requestStats(from: $from, to: $to, groupBy: $groupBy, apiId: $apiId) {
    minute apiId api { handle } planId plan { name } applicationId application { name } requests clientErrors serverErrors errorRate p50Ms p99Ms
  }
}`;

describe.each(shapeDrivers)('analytics over Envoy access-log service (%s)', (driver) => {
  let t: TestPlatform;
  let client: AlsClient;
  const clients: AlsClient[] = [];
  /** An access-log client of the data plane `nodeId`, with a certificate the platform CA issued for it. */
  const certified = async (nodeId: string): Promise<AlsClient> => {
    const created = alsClient(t.platform.ports.xds ?? 0, await dataPlaneCredentials(t.platform.pki, nodeId));
    clients.push(created);
    return created;
  };
  let apiId: string;
  let planId: string;
  let coraApp: string;
  let danApp: string;
  const cora = basicAuth('cora', 'cora-password-1');
  const range = { from: new Date(minuteStart - 60_000).toISOString(), to: new Date(minuteStart + 120_000).toISOString() };

  async function stats(variables: Record<string, unknown>, auth?: string): Promise<StatsRow[]> {
    const res = await t.graphql<{ requestStats: StatsRow[] }>(statsQuery, { ...range, ...variables }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.requestStats;
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver, { analyticsFlushIntervalMs: 0, xds: { ...defaultXdsConfig, maxAccessLogStreamsPerNode: 2 } });
    client = await certified('envoy-1');
    apiId = await createApiOverGraphql(t, 'books-api', { context: '/books', upstreamUrl: 'http://127.0.0.1:9', operations: [{ method: 'GET', path: '/items' }] });
    planId = await publishedPlan(t, apiId, 'Gold', { type: 'API_KEY' });
    const users: Record<string, string> = {};
    for (const name of ['cora', 'dan']) {
      const created = await mutate<{ user: { id: string } }>(t, 'createUser', 'CreateUserInput', 'user { id }', { username: name, password: `${name}-password-1`, role: 'consumer' });
      users[name] = created.user.id;
    }
    const app = async (name: string, owner: string) =>
      (await mutate<{ application: { id: string } }>(t, 'createApplication', 'CreateApplicationInput', 'application { id }', { name, ownerId: owner })).application.id;
    coraApp = await app('cora-app', users.cora!);
    danApp = await app('dan-app', users.dan!);

    const route = 'books-api/GET/items';
    const identity = (application: string) => ({ 'x-apip-application-id': rawId(application), 'x-apip-plan': rawId(planId) });
    await streamAccessLogs(client, [
      {
        identifier: { node: { id: 'envoy-1', cluster: 'apip' }, log_name: 'apip' },
        http_logs: {
          log_entry: [
            ...Array.from({ length: 8 }, () => entry(route, 200, 20, identity(coraApp))),
            entry(route, 404, 20, identity(coraApp)),
            entry(route, 502, 900, identity(coraApp)),
            entry(route, 401, 1),
          ],
        },
      },
      { http_logs: { log_entry: [entry(route, 200, 30, identity(danApp)), entry('', 404, 1)] } },
    ]);
    // A second Envoy: its counts add to the same rows.
    await streamAccessLogs(await certified('envoy-2'), [
      { identifier: { node: { id: 'envoy-2', cluster: 'apip' }, log_name: 'apip' }, http_logs: { log_entry: [entry(route, 200, 20, identity(coraApp))] } },
    ]);
    await t.platform.analytics.flush();
  });
  afterAll(async () => {
    for (const each of clients) each.close();
    await t?.close();
  });

  it('counts every routed entry of every stream, leaving out those that matched no route', async () => {
    const [total] = await stats({ groupBy: [] });
    expect(total).toMatchObject({ requests: 13, clientErrors: 2, serverErrors: 1 });
    expect(total!.errorRate).toBeCloseTo(3 / 13);
  });

  it('keeps applications apart, keyless traffic as the unknown application, with percentiles from the histogram', async () => {
    const rows = await stats({ groupBy: ['APPLICATION'], apiId });
    const byApp = new Map(rows.map((r) => [r.applicationId, r]));
    expect(byApp.get(coraApp)).toMatchObject({ requests: 11, clientErrors: 1, serverErrors: 1, application: { name: 'cora-app' } });
    expect(byApp.get(danApp)).toMatchObject({ requests: 1, application: { name: 'dan-app' } });
    expect(byApp.get(null)).toMatchObject({ requests: 1, clientErrors: 1, application: null });
    const [low, high] = latencyBucketBounds(latencyBucketOf(20));
    expect(byApp.get(coraApp)!.p50Ms).toBeGreaterThanOrEqual(low);
    expect(byApp.get(coraApp)!.p50Ms).toBeLessThan(high);
    expect(byApp.get(coraApp)!.p99Ms).toBeGreaterThan(900 / 1.19);
  });

  it('reports the API and plan as global ids, per minute', async () => {
    const rows = await stats({ groupBy: ['MINUTE', 'API', 'PLAN'] });
    const minute = new Date(minuteStart).toISOString();
    expect(rows.map((r) => [r.minute, r.apiId, r.api?.handle, r.planId, r.plan?.name, r.requests])).toEqual([
      [minute, apiId, 'books-api', planId, 'Gold', 12],
      [minute, apiId, 'books-api', null, undefined, 1],
    ]);
  });

  it('shows a consumer only the traffic of its own applications', async () => {
    const rows = await stats({ groupBy: ['APPLICATION'] }, cora);
    expect(rows.map((r) => [r.applicationId, r.requests])).toEqual([[coraApp, 11]]);
  });

  it('answers 401 without credentials and a VALIDATION error for an empty range', async () => {
    const anonymous = await t.graphql(statsQuery, { ...range, groupBy: [] }, null);
    expect(anonymous.status).toBe(401);
    const empty = await t.graphql(statsQuery, { from: range.to, to: range.to });
    expect(empty.errors?.[0]?.extensions?.code).toBe('VALIDATION');
    const wrongType = await t.graphql(statsQuery, { ...range, apiId: globalId('Plan', rawId(planId)) });
    expect(wrongType.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  describe('forged reports', () => {
    const route = 'books-api/GET/items';
    const identity = (application: string) => ({ 'x-apip-application-id': rawId(application), 'x-apip-plan': rawId(planId) });
    const forged = (nodeId: string, count = 50) => [
      { identifier: { node: { id: nodeId, cluster: 'apip' }, log_name: 'apip' }, http_logs: { log_entry: Array.from({ length: count }, () => entry(route, 500, 5, identity(coraApp))) } },
    ];
    async function total(): Promise<number> {
      await t.platform.analytics.flush();
      return (await stats({ groupBy: [] }))[0]?.requests ?? 0;
    }
    async function droppedMetric(reason: string): Promise<number> {
      const text = await (await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: adminAuth } })).text();
      return Number(new RegExp(`^apip_analytics_records_dropped_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    }
    const refusal = (promise: Promise<void>) => promise.then(() => null, (error: grpc.ServiceError) => error.code);

    it('counts nothing from a client without a certificate', async () => {
      const before = await total();
      const anonymous = alsClient(t.platform.ports.xds ?? 0, grpc.credentials.createSsl(Buffer.from(t.platform.pki.caCertificate)));
      clients.push(anonymous);
      expect(await refusal(streamAccessLogs(anonymous, forged('envoy-1')))).toBe(grpc.status.UNAVAILABLE);
      const plaintext = alsClient(t.platform.ports.xds ?? 0, grpc.credentials.createInsecure());
      clients.push(plaintext);
      expect(await refusal(streamAccessLogs(plaintext, forged('envoy-1')))).toBe(grpc.status.UNAVAILABLE);
      expect(await total()).toBe(before);
    });

    it('counts nothing from a certificate another CA issued', async () => {
      const before = await total();
      const stranger = await (await openPlatformPki({ kind: 'memory' }, [])).issue('envoy-1', 1);
      const client = alsClient(t.platform.ports.xds ?? 0, adsClientCredentials({ ...stranger, caCertificate: t.platform.pki.caCertificate }));
      clients.push(client);
      expect(await refusal(streamAccessLogs(client, forged('envoy-1')))).toBe(grpc.status.UNAVAILABLE);
      expect(await total()).toBe(before);
    });

    it('refuses a stream whose identifier names another node than its certificate, and counts the entries as dropped', async () => {
      const before = await total();
      const dropped = await droppedMetric('node_mismatch');
      expect(await refusal(streamAccessLogs(await certified('envoy-3'), forged('envoy-1', 7)))).toBe(grpc.status.PERMISSION_DENIED);
      expect(await total()).toBe(before);
      expect(await droppedMetric('node_mismatch')).toBe(dropped + 7);
    });

    it('drops entries naming an API, plan or application that does not exist, and counts them on /metrics', async () => {
      const before = await total();
      const envoy = await certified('envoy-4');
      await streamAccessLogs(envoy, [
        {
          identifier: { node: { id: 'envoy-4', cluster: 'apip' }, log_name: 'apip' },
          http_logs: {
            log_entry: [
              ...Array.from({ length: 3 }, () => entry('invented-api/GET/items', 500, 5)),
              ...Array.from({ length: 4 }, () => entry(route, 500, 5, { 'x-apip-application-id': 'app_invented', 'x-apip-plan': rawId(planId) })),
              ...Array.from({ length: 5 }, () => entry(route, 500, 5, { 'x-apip-application-id': rawId(coraApp), 'x-apip-plan': 'plan_invented' })),
              entry(route, 200, 5, identity(coraApp)),
            ],
          },
        },
      ]);
      expect(await total()).toBe(before + 1);
      expect(await droppedMetric('unknown_api')).toBeGreaterThanOrEqual(3);
      expect(await droppedMetric('unknown_application')).toBe(4);
      expect(await droppedMetric('unknown_plan')).toBe(5);
    });

    it('refuses an access-log stream of a data plane beyond its maximum with RESOURCE_EXHAUSTED', async () => {
      const open = await Promise.all([certified('envoy-5'), certified('envoy-5')]);
      const calls = open.map((each) => {
        const call = each.StreamAccessLogs(() => {});
        call.write(forged('envoy-5', 0)[0]);
        return call;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await refusal(streamAccessLogs(await certified('envoy-5'), forged('envoy-5', 1)))).toBe(grpc.status.RESOURCE_EXHAUSTED);
      for (const call of calls) call.end();
    });
  });
});
