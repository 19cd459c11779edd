import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import { createTracing, type Tracing } from '../../../server/telemetry/tracing.ts';
import type { TracingConfig } from '../../../server/telemetry/tracing-config.ts';
import { listener, methodIs, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import { ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';
import { keyDigestHex, testDigestKeyHex } from '../../helpers/policies.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../../helpers/otlp-receiver.ts';

const ROUTE = 'books-api/GET/books';
const FAILING_ROUTE = 'books-api/GET/failing';
const KEY = `apip_${'5'.repeat(64)}`;
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_PARENT = '00f067aa0ba902b7';
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

function tracingTo(receiver: OtlpReceiver, sampler: TracingConfig['sampler'] = 'parentbased_always_on'): Tracing {
  const tracing = createTracing({ tracesEndpoint: receiver.url, sampler, ratio: 1, serviceName: 'apip-test' }, { batchDelayMs: 20 });
  if (tracing === null) throw new Error('tracing expected');
  return tracing;
}

/** The gateway's spans of one trace, once the response was reported (spans end when the response is over). */
async function traceOf(tracing: Tracing, receiver: OtlpReceiver, traceId: string, count: number): Promise<ReceivedSpan[]> {
  for (let i = 0; i < 100; i++) {
    await tracing.forceFlush();
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    if (spans.length >= count) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return receiver.spans.filter((s) => s.traceId === traceId);
}

function only(spans: ReceivedSpan[], predicate: (span: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(predicate);
  expect(found, JSON.stringify(spans, null, 1)).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

describe('embedded gateway traces (OTLP/HTTP to a receiver)', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let gateway: Gateway;
  let source: ManualSource;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    tracing = tracingTo(receiver);
    upstream = await startUpstream('books', (req, res) => {
      const status = req.url === '/failing' ? 503 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ traceparent: req.headers.traceparent ?? null }));
    });
    modules = await startModuleServer();
    source = new ManualSource(snapshot('1', {
      listeners: [listener([
        wasmFilter({
          module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'),
          configuration: {
            stripIdentityHeaders: true,
            digestKey: testDigestKeyHex,
            keySets: { books: [{ sha256: keyDigestHex(KEY), status: 'active', applicationId: 'app-9', subscriptionId: 'sub-9', plan: 'plan-gold' }] },
            routes: { [ROUTE]: { keySets: ['books'], key: 'x-api-key' }, [FAILING_ROUTE]: { keySets: ['books'], key: 'x-api-key' } },
          },
        }),
        wasmFilter({
          module: 'set-headers', baseUrl: modules.url, sha256: moduleSha256('set-headers'),
          configuration: { routes: { [ROUTE]: { request: { headers: [{ name: 'x-gateway', value: 'v1' }] } } } },
        }),
      ])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [
        route({ name: ROUTE, match: { path: '/books', headers: [methodIs('GET')] }, cluster: 'books' }),
        route({ name: FAILING_ROUTE, match: { path: '/failing' }, cluster: 'books' }),
      ] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger(), tracer: tracing.tracer });
  });

  afterAll(async () => {
    await gateway.close();
    await tracing.shutdown();
    await upstream.close();
    await modules.close();
    await receiver.close();
  });

  it('continues the client trace: server → policy chain → a span per module, server → upstream client span', async () => {
    const answer = await send(gateway.port, '/books?api_key=not-recorded', {
      headers: { 'x-api-key': KEY, traceparent: `00-${CLIENT_TRACE}-${CLIENT_PARENT}-01`, tracestate: 'vendor=abc' },
    });
    expect(answer.status).toBe(200);
    const spans = await traceOf(tracing, receiver, CLIENT_TRACE, 5);
    expect(spans.every((s) => s.service === 'apip-test')).toBe(true);

    const server = only(spans, (s) => s.kind === SERVER);
    expect(server.parentSpanId).toBe(CLIENT_PARENT);
    expect(server.name).toBe(`GET ${ROUTE}`);
    expect(server.attributes).toEqual({
      'http.request.method': 'GET', 'url.path': '/books', 'server.address': '127.0.0.1', 'http.route': ROUTE,
      'http.response.status_code': 200, 'apip.api': 'books-api', 'apip.plan': 'plan-gold', 'apip.application': 'app-9', 'apip.subscription': 'sub-9',
    });
    expect(server.statusCode).not.toBe(ERROR);

    const chain = only(spans, (s) => s.name === 'policy chain');
    expect(chain.parentSpanId).toBe(server.spanId);
    expect(chain.attributes['apip.policy.decision']).toBe('continue');
    const apiKey = only(spans, (s) => s.name === 'policy api-key');
    const setHeaders = only(spans, (s) => s.name === 'policy set-headers');
    for (const module of [apiKey, setHeaders]) {
      expect(module.parentSpanId).toBe(chain.spanId);
      expect(module.attributes['apip.policy.decision']).toBe('continue');
    }

    const client = only(spans, (s) => s.kind === CLIENT);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': upstream.port, 'http.response.status_code': 200, 'apip.upstream.cluster': 'books',
    });
    // The upstream sees our client span as its parent, in the same trace; the client's header is not forwarded as is.
    expect(JSON.parse(answer.text)).toEqual({ traceparent: `00-${CLIENT_TRACE}-${client.spanId}-01` });
    const sent = upstream.requests.at(-1);
    expect(sent?.headers.tracestate).toBe('vendor=abc');
    // Nothing of the query (where API keys may ride) nor the key header is recorded.
    expect(JSON.stringify(spans)).not.toContain(KEY);
    expect(JSON.stringify(spans)).not.toContain('not-recorded');
  });

  it('records a module’s local reply as its decision, with its status; the upstream is never called', async () => {
    const trace = 'aaaabbbbccccddddeeeeffff00001111';
    const calls = upstream.requests.length;
    const answer = await send(gateway.port, '/books', { headers: { traceparent: `00-${trace}-${CLIENT_PARENT}-01` } });
    expect(answer.status).toBe(401);
    const spans = await traceOf(tracing, receiver, trace, 3);
    expect(upstream.requests.length).toBe(calls);
    const apiKey = only(spans, (s) => s.name === 'policy api-key');
    expect(apiKey.attributes).toMatchObject({ 'apip.policy.decision': 'local_reply', 'http.response.status_code': 401, 'apip.policy.details': 'apip_api_key_missing' });
    const chain = only(spans, (s) => s.name === 'policy chain');
    expect(chain.attributes).toMatchObject({ 'apip.policy.decision': 'local_reply', 'http.response.status_code': 401 });
    // The module after the one that replied never ran.
    expect(spans.filter((s) => s.name === 'policy set-headers')).toEqual([]);
    expect(spans.filter((s) => s.kind === CLIENT)).toEqual([]);
    const server = only(spans, (s) => s.kind === SERVER);
    expect(server.attributes['http.response.status_code']).toBe(401);
    expect(server.statusCode).not.toBe(ERROR);
  });

  it('starts a new trace when the client traceparent is invalid, and propagates that one', async () => {
    const before = new Set(receiver.spans.map((s) => s.traceId));
    const invalid = `00-${'0'.repeat(32)}-${CLIENT_PARENT}-01`;
    const answer = await send(gateway.port, '/books', { headers: { 'x-api-key': KEY, traceparent: invalid } });
    expect(answer.status).toBe(200);
    const propagated = (JSON.parse(answer.text) as { traceparent: string }).traceparent;
    const [, traceId, parentId] = propagated.split('-');
    expect(traceId).not.toBe('0'.repeat(32));
    expect(before.has(traceId as string)).toBe(false);
    const spans = await traceOf(tracing, receiver, traceId as string, 5);
    expect(only(spans, (s) => s.kind === SERVER).parentSpanId).toBe('');
    expect(only(spans, (s) => s.kind === CLIENT).spanId).toBe(parentId);
  });

  it('marks the server and client spans as errors on an upstream 5xx', async () => {
    const trace = '11112222333344445555666677778888';
    const answer = await send(gateway.port, '/failing', { headers: { 'x-api-key': KEY, traceparent: `00-${trace}-${CLIENT_PARENT}-01` } });
    expect(answer.status).toBe(503);
    const spans = await traceOf(tracing, receiver, trace, 4);
    const server = only(spans, (s) => s.kind === SERVER);
    const client = only(spans, (s) => s.kind === CLIENT);
    expect(server.attributes['http.response.status_code']).toBe(503);
    expect(server.statusCode).toBe(ERROR);
    expect(client.attributes['http.response.status_code']).toBe(503);
    expect(client.statusCode).toBe(ERROR);
  });

  it('traces a route without policies (no chain span) and records no identity a client sent itself', async () => {
    const plain = new ManualSource(snapshot('1', {
      listeners: [listener([])],
      routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: ROUTE, match: { path: '/books' }, cluster: 'books' })] }])],
      clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    const third = await createGateway({ source: plain, port: 0, logger: silentLogger(), tracer: tracing.tracer });
    try {
      const trace = '99998888777766665555444433332222';
      const answer = await send(third.port, '/books', { headers: { traceparent: `00-${trace}-${CLIENT_PARENT}-01`, 'x-apip-application-id': 'forged' } });
      expect(answer.status).toBe(200);
      const spans = await traceOf(tracing, receiver, trace, 2);
      expect(spans.map((s) => s.kind).sort()).toEqual([SERVER, CLIENT]);
      const server = only(spans, (s) => s.kind === SERVER);
      expect(server.attributes['apip.application']).toBeUndefined();
      expect(JSON.parse(answer.text)).toEqual({ traceparent: `00-${trace}-${only(spans, (s) => s.kind === CLIENT).spanId}-01` });
    } finally {
      await third.close();
    }
  });

  it('exports nothing with the always_off sampler, and still serves', async () => {
    const quiet = await startOtlpReceiver();
    const off = tracingTo(quiet, 'always_off');
    const second = await createGateway({ source, port: 0, logger: silentLogger(), tracer: off.tracer });
    try {
      expect((await send(second.port, '/books', { headers: { 'x-api-key': KEY } })).status).toBe(200);
      expect((await send(second.port, '/books', { headers: { 'x-api-key': KEY, traceparent: `00-${CLIENT_TRACE}-${CLIENT_PARENT}-01` } })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await off.forceFlush();
      expect(quiet.spans).toEqual([]);
      expect(quiet.rejected).toBe(0);
    } finally {
      await second.close();
      await off.shutdown();
      await quiet.close();
    }
  });
  it('traces requests served on worker threads: each worker exports its spans, flushed when the gateway closes', async () => {
    const config: TracingConfig = { tracesEndpoint: receiver.url, sampler: 'parentbased_always_on', ratio: 1, serviceName: 'apip-workers' };
    const threaded = await createGateway({ source, port: 0, logger: silentLogger(), workers: 2, tracing: config });
    const traceId = 'a'.repeat(31) + 'b';
    try {
      const answer = await send(threaded.port, '/books', { headers: { 'x-api-key': KEY, traceparent: `00-${traceId}-${CLIENT_PARENT}-01` } });
      expect(answer.status).toBe(200);
    } finally {
      await threaded.close();
    }
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    expect(spans.every((s) => s.service === 'apip-workers')).toBe(true);
    const server = only(spans, (s) => s.kind === SERVER);
    expect(server.parentSpanId).toBe(CLIENT_PARENT);
    expect(server.attributes).toMatchObject({ 'http.route': ROUTE, 'apip.application': 'app-9' });
    const client = only(spans, (s) => s.kind === CLIENT);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(only(spans, (s) => s.name === 'policy api-key').attributes['apip.policy.decision']).toBe('continue');
  });
});
