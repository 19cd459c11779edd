import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../../helpers/otlp-receiver.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const SERVER = 2;

describe('management API traces (platform with OTEL_* tracing)', () => {
  let receiver: OtlpReceiver;
  let t: TestPlatform;
  let spans: ReceivedSpan[];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    t = await startTestPlatform('pglite', {
      tracing: { tracesEndpoint: receiver.url, sampler: 'parentbased_always_on', ratio: 1, serviceName: 'apip-management-test' },
    });
    const graphql = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: adminAuth, traceparent: `00-${TRACE}-${PARENT}-01` },
      body: JSON.stringify({ query: 'query ListUsers { users(first: 5) { nodes { id } } }' }),
    });
    expect(graphql.status).toBe(200);
    const rest = await fetch(`${t.baseUrl}/api/management/v0.9/rest-apis/unknown-api/api-keys`, { headers: { authorization: adminAuth } });
    expect(rest.status).toBe(404);
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

  it('names a REST request by its route template, and records no credential or body', () => {
    const rest = spans.filter((s) => s.attributes['url.path'] === '/api/management/v0.9/rest-apis/unknown-api/api-keys');
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({
      kind: SERVER, parentSpanId: '', name: 'GET /api/management/v0.9/rest-apis/:id/api-keys',
      attributes: { 'http.route': '/api/management/v0.9/rest-apis/:id/api-keys', 'http.response.status_code': 404 },
    });
    const everything = JSON.stringify(spans);
    expect(everything).not.toContain(adminAuth.slice('Basic '.length));
    expect(everything).not.toContain('users(first');
    expect(everything.toLowerCase()).not.toContain('authorization');
  });
});
