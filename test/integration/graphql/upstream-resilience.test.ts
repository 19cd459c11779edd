import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { restClient } from '../../helpers/rest.ts';
import { numberedSeedApi } from '../../helpers/rest-seed.ts';
import { send, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';

const resilienceFields = `upstreamResilience {
  healthCheck { path host intervalSeconds timeoutSeconds unhealthyThreshold healthyThreshold expectedStatuses { start end } }
  outlierDetection { consecutive5xx consecutiveGatewayFailure intervalSeconds baseEjectionSeconds maxEjectionPercent }
  retry { on numRetries perTryTimeoutMs budgetPercent } }`;

const payload = (type: string) => `__typename
  ... on ${type} { api { id handle ${resilienceFields} } }
  ... on ValidationError { message issues { path message } }
  ... on Error { message }`;

const createApi = `mutation($input: CreateApiInput!) { createApi(input: $input) { ${payload('CreateApiPayload')} } }`;
const updateApi = `mutation($input: UpdateApiInput!) { updateApi(input: $input) { ${payload('UpdateApiPayload')} } }`;
const readApi = `query($id: ID!) { api(id: $id) { ${resilienceFields} } }`;

interface Result {
  __typename: string;
  api?: { id: string; handle: string; upstreamResilience: Record<string, unknown> };
  issues?: { path: string; message: string }[];
}

let seq = 0;
function apiInput(upstreamResilience?: unknown, url?: string): Record<string, unknown> {
  seq++;
  const { name, spec } = numberedSeedApi(1000 + seq);
  return {
    metadata: { name },
    spec: { ...spec, policies: [], ...(url === undefined ? {} : { upstream: { main: { url } } }) },
    accessMode: 'OPEN',
    ...(upstreamResilience === undefined ? {} : { upstreamResilience }),
  };
}

describe.each(shapeDrivers)('GraphQL Api.upstreamResilience (%s)', (driver) => {
  let t: TestPlatform;
  let flaky: TestServer;
  let served = 0;

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    // Every other request answers 503: a retry of it succeeds.
    flaky = await startUpstream('flaky', (_req, res) => {
      served++;
      res.writeHead(served % 2 === 1 ? 503 : 200, { 'x-upstream': 'flaky' }).end(String(served));
    });
  });
  afterAll(async () => {
    await t.close();
    await flaky.close();
  });

  const run = async (query: string, input: Record<string, unknown>, field: string): Promise<Result> => {
    const res = await t.graphql<Record<string, Result>>(query, { input });
    expect(res.errors).toBeUndefined();
    return res.data![field]!;
  };

  it('stores each part given with Envoy-like defaults filled in, and none for the parts not given', async () => {
    const created = await run(createApi, apiInput({ healthCheck: { path: '/healthz', intervalSeconds: 5, timeoutSeconds: 2 }, retry: { numRetries: 3 } }), 'createApi');
    expect(created.__typename).toBe('CreateApiPayload');
    expect(created.api!.upstreamResilience).toEqual({
      healthCheck: { path: '/healthz', host: null, intervalSeconds: 5, timeoutSeconds: 2, unhealthyThreshold: 3, healthyThreshold: 2, expectedStatuses: [{ start: 200, end: 399 }] },
      outlierDetection: null,
      retry: { on: ['CONNECT_FAILURE', 'UNAVAILABLE_503'], numRetries: 3, perTryTimeoutMs: null, budgetPercent: 20 },
    });
  });

  it('answers ValidationError naming every field out of range, and stores nothing', async () => {
    const result = await run(createApi, apiInput({
      healthCheck: { path: 'healthz', intervalSeconds: 0, timeoutSeconds: 5, unhealthyThreshold: 0, expectedStatuses: [{ start: 300, end: 200 }] },
      outlierDetection: { consecutive5xx: 0, maxEjectionPercent: 101 },
      retry: { numRetries: 11, budgetPercent: -1, perTryTimeoutMs: 0 },
    }), 'createApi');
    expect(result.__typename).toBe('ValidationError');
    expect(result.issues!.map((i) => i.path).sort()).toEqual([
      'upstreamResilience.healthCheck.expectedStatuses[0].end',
      'upstreamResilience.healthCheck.intervalSeconds',
      'upstreamResilience.healthCheck.path',
      'upstreamResilience.healthCheck.timeoutSeconds',
      'upstreamResilience.healthCheck.unhealthyThreshold',
      'upstreamResilience.outlierDetection.consecutive5xx',
      'upstreamResilience.outlierDetection.maxEjectionPercent',
      'upstreamResilience.retry.budgetPercent',
      'upstreamResilience.retry.numRetries',
      'upstreamResilience.retry.perTryTimeoutMs',
    ]);
    expect(result.issues!.find((i) => i.path.endsWith('timeoutSeconds'))!.message).toMatch(/less than intervalSeconds/);
  });

  it('keeps the settings on an update without them and on a REST PUT, and removes them on an update with null', async () => {
    const input = apiInput({ outlierDetection: { consecutive5xx: 2 } });
    const created = (await run(createApi, input, 'createApi')).api!;
    const { metadata: _metadata, upstreamResilience: _settings, accessMode: _mode, ...rest } = input;
    const kept = await run(updateApi, { id: created.id, ...rest }, 'updateApi');
    expect(kept.api!.upstreamResilience.outlierDetection).toMatchObject({ consecutive5xx: 2 });

    const rest09 = restClient(t);
    const current = await rest09.get<Record<string, unknown>>(`/rest-apis/${created.handle}`);
    const { status: _status, ...body } = current.body;
    expect((await rest09.put(`/rest-apis/${created.handle}`, body)).status).toBe(200);
    const afterPut = await t.graphql<{ api: { upstreamResilience: Record<string, unknown> } }>(readApi, { id: created.id });
    expect(afterPut.data!.api.upstreamResilience.outlierDetection).toMatchObject({ consecutive5xx: 2 });

    const removed = await run(updateApi, { id: created.id, ...rest, upstreamResilience: null }, 'updateApi');
    expect(removed.api!.upstreamResilience).toEqual({ healthCheck: null, outlierDetection: null, retry: null });
  });

  it('has the embedded gateway retry a 503 once the API says so', async () => {
    const input = apiInput({ retry: { on: ['UNAVAILABLE_503'], numRetries: 1 } }, flaky.url);
    const created = await run(createApi, input, 'createApi');
    expect(created.__typename).toBe('CreateApiPayload');
    const path = `/reading-list-${1000 + seq}/v1.0/books`;
    const port = t.platform.ports.gateway!;
    // The configuration reaches the gateway shortly after the write.
    const deadline = Date.now() + 10_000;
    while ((await send(port, path)).status === 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 4; i++) {
      const before = served;
      const response = await send(port, path);
      expect(response.status).toBe(200);
      // Either straight to a 200 or a 503 and its retry.
      expect(served - before).toBeLessThanOrEqual(2);
    }
  });
});
