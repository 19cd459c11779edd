import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvoyResources } from '../../../server/envoy/resources.ts';
import { adminAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../../helpers/otlp-receiver.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const REST_TRACE = '0af7651916cd43dd8448eb211c80319d';
const GATEWAY_TRACE = '0af7651916cd43dd8448eb211c80319e';
const SERVER = 2;

describe('platform traces (OTEL_* tracing): management API spans and the generated Envoy tracer', () => {
  let receiver: OtlpReceiver;
  let t: TestPlatform;
  let spans: ReceivedSpan[];
  let resources: EnvoyResources | undefined;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    t = await startTestPlatform('pglite', {
      tracing: { tracesEndpoint: receiver.url, sampler: 'parentbased_traceidratio', ratio: 0.25, serviceName: 'apip-management-test' },
    });
    resources = t.platform.snapshots.current()?.resources;
    const graphql = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: adminAuth, traceparent: `00-${TRACE}-${PARENT}-01` },
      body: JSON.stringify({ query: 'query ListUsers { users(first: 5) { nodes { id } } }' }),
    });
    expect(graphql.status).toBe(200);
    // Sampled parents: the ratio sampler (25 %) decides only for new traces.
    const rest = await fetch(`${t.baseUrl}/api/management/v0.9/rest-apis/unknown-api/api-keys`, {
      headers: { authorization: adminAuth, traceparent: `00-${REST_TRACE}-${PARENT}-01` },
    });
    expect(rest.status).toBe(404);
    // The embedded gateway traces with the platform's tracer too (a request no route matches).
    const gateway = await fetch(`http://127.0.0.1:${t.platform.ports.gateway}/nowhere?q=1`, { headers: { traceparent: `00-${GATEWAY_TRACE}-${PARENT}-01` } });
    expect(gateway.status).toBe(404);
    await gateway.arrayBuffer();
    // Closing the platform flushes every ended span.
    await t.close();
    spans = receiver.spans;
  });

  afterAll(async () => {
    await receiver.close();
  });

  it('exports a server span per GraphQL request, in the client trace, with the operation name', () => {
    const server = spans.filter((s) => s.traceId === TRACE);
    expect(server).toHaveLength(1);
    expect(server[0]).toMatchObject({
      service: 'apip-management-test', kind: SERVER, parentSpanId: PARENT, name: 'POST /graphql',
      attributes: {
        'http.request.method': 'POST', 'url.path': '/graphql', 'server.address': '127.0.0.1', 'http.route': '/graphql',
        'http.response.status_code': 200, 'graphql.operation.name': 'ListUsers', 'graphql.operation.type': 'query',
      },
    });
  });

  it('gives Envoy the OpenTelemetry tracer to the same collector, with the sampler’s ratio, and a cluster for it', () => {
    const hcm = (resources?.listener[0] as { filterChains: { filters: { typedConfig: Record<string, unknown> }[] }[] }).filterChains[0]?.filters[0]?.typedConfig;
    const port = new URL(receiver.url).port;
    expect(hcm?.tracing).toEqual({
      randomSampling: { value: 25 },
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
          httpService: { httpUri: { uri: receiver.url, cluster: 'apip/otel-collector', timeout: '5s' } },
          serviceName: 'apip-management-test-envoy',
        },
      },
    });
    const collector = resources?.cluster.find((c) => c.name === 'apip/otel-collector');
    expect(collector).toMatchObject({ name: 'apip/otel-collector', type: 'EDS' });
    expect(resources?.clusterLoadAssignment.find((c) => c.clusterName === 'apip/otel-collector')).toEqual({
      clusterName: 'apip/otel-collector',
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: Number(port) } }, hostname: `127.0.0.1:${port}` } }] }],
    });
  });

  it('traces embedded gateway requests with the platform’s tracer', () => {
    expect(spans.filter((s) => s.traceId === GATEWAY_TRACE)).toEqual([expect.objectContaining({
      service: 'apip-management-test', kind: SERVER, parentSpanId: PARENT, name: 'GET no-api-found',
      attributes: {
        'http.request.method': 'GET', 'url.path': '/nowhere', 'server.address': '127.0.0.1', 'http.route': 'no-api-found', 'http.response.status_code': 404,
      },
    })]);
  });

  it('names a REST request by its route template, and records no credential or body', () => {
    const rest = spans.filter((s) => s.attributes['url.path'] === '/api/management/v0.9/rest-apis/unknown-api/api-keys');
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({
      traceId: REST_TRACE, kind: SERVER, parentSpanId: PARENT, name: 'GET /api/management/v0.9/rest-apis/:id/api-keys',
      attributes: { 'http.route': '/api/management/v0.9/rest-apis/:id/api-keys', 'http.response.status_code': 404 },
    });
    const everything = JSON.stringify(spans);
    expect(everything).not.toContain(adminAuth.slice('Basic '.length));
    expect(everything).not.toContain('users(first');
    expect(everything.toLowerCase()).not.toContain('authorization');
  });
});
