// The host behaviours where proxy-wasm-cpp-host under Envoy and a naive host can differ, each as Envoy has it (the
// table in docs/gateway.md "The proxy-wasm host, as Envoy's" names the cpp-host / Envoy source of each). Driven
// through the probe module (test/policies/fixtures/host-probe.ts), which logs what the host answers.
import { beforeAll, describe, expect, it } from 'vitest';
import { HeaderMap } from '../../../../server/gateway/proxy-wasm/header-map.ts';
import { loadPlugin, type LoadPluginOptions, type Plugin } from '../../../../server/gateway/proxy-wasm/plugin.ts';
import { SharedDataRegistry } from '../../../../server/gateway/proxy-wasm/shared-data.ts';
import type { HttpCallRequest, HttpCallResponse } from '../../../../server/gateway/proxy-wasm/types.ts';
import { compileProbe } from '../../../policies/fixtures/compile-probe.ts';
import { startChain } from '../../../fixtures/gateway/filter-chain.ts';
import { baseFunctions, buildModule, op } from '../../../helpers/wasm-builder.ts';
import { captureLogger, type CapturingLogger, localReplyOf } from '../../../helpers/policies.ts';

let wasm: WebAssembly.Module;
let vmCounter = 0;

beforeAll(async () => {
  wasm = await WebAssembly.compile(await compileProbe());
});

function probe(mode: string, options: Partial<LoadPluginOptions> = {}): Promise<Plugin> {
  vmCounter += 1;
  return loadPlugin({ name: `probe-${mode}`, wasm, configuration: mode, vmId: `fidelity-${vmCounter}`, logger: captureLogger(), ...options });
}

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);
const policyLines = (logger: CapturingLogger): string[] =>
  logger.entries.filter((entry) => entry.message === 'policy log').map((entry) => String((entry.fields as { message: string }).message));

function requestHeaders(extra: Array<[string, string]> = []): HeaderMap {
  return new HeaderMap([[':method', 'GET'], [':path', '/books'], [':authority', 'api.example.test'], ...extra]);
}

// Byte sizes of requestHeaders(): Envoy's get_header_map_size is the map's byteSize() (names and values), the pairs
// are the serialised map (4 + 8 per entry + names and values, NUL-terminated).
const REQUEST_BYTES = 7 + 3 + 5 + 6 + 10 + 16;
const REQUEST_PAIRS = 4 + 3 * 8 + REQUEST_BYTES + 6;
const DEAD = 'get=2 size=2:0 pairs=0:0 add=2 prop=1';

describe('header map lifetime (Envoy Context: request_headers_ dropped once on_request_headers returns Continue)', () => {
  it('answers BadArgument on a map once its headers callback continued, and NotFound for header properties', async () => {
    const logger = captureLogger();
    const plugin = await probe('lifetime', { logger });
    const stream = plugin.createHttpContext();
    expect(stream.onRequestHeaders(requestHeaders(), false)).toEqual({ action: 'continue' });
    stream.onRequestBody(bytes('x'), true);
    stream.onResponseHeaders([[':status', '200'], ['content-type', 'text/plain']], false);
    stream.onResponseBody(bytes('ok'), true);
    stream.onDone();
    const responseBytes = 7 + 3 + 12 + 10;
    const responsePairs = 4 + 2 * 8 + responseBytes + 4;
    const added = 8 + 13 + 1 + 2;
    expect(policyLines(logger)).toEqual([
      // The root context has no stream: Envoy has no map there.
      `root request ${DEAD}`,
      `on_request_headers request get=0 size=0:${REQUEST_BYTES} pairs=0:${REQUEST_PAIRS} add=0 prop=0`,
      `on_request_body request ${DEAD}`,
      `on_response_headers request ${DEAD}`,
      `on_response_headers response get=0 size=0:${responseBytes} pairs=0:${responsePairs} add=0 prop=0`,
      `on_response_body request ${DEAD}`,
      `on_response_body response ${DEAD}`,
      // on_log reads the access log's copies: readable, not writable (size needs the writable map).
      `on_log request get=0 size=2:0 pairs=0:${REQUEST_PAIRS + added} add=2 prop=0`,
      `on_log response get=0 size=2:0 pairs=0:${responsePairs + added} add=2 prop=0`,
    ]);
  });

  it('keeps the request map while the stream is paused, and drops it when the module continues', async () => {
    const logger = captureLogger();
    let answer: ((response: HttpCallResponse) => void) | undefined;
    const httpCall = (_request: HttpCallRequest) => new Promise<HttpCallResponse>((resolve) => { answer = resolve; });
    const plugin = await probe('lifetime-pause', { logger, httpCall });
    const stream = plugin.createHttpContext();
    const outcome = stream.onRequestHeaders(requestHeaders(), true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
    answer?.({ headers: [[':status', '200']], body: new Uint8Array(0), trailers: [] });
    await expect(outcome.resume).resolves.toEqual({ action: 'continue' });
    stream.onDone();
    expect(policyLines(logger)).toEqual([
      `paused request get=0 size=0:${REQUEST_BYTES} pairs=0:${REQUEST_PAIRS} add=0 prop=0`,
      // Envoy's Context::continueStream drops the request-side pointers at once.
      `continued request ${DEAD}`,
    ]);
  });
});

describe('local replies through the replying filter (Envoy sendLocalReplyViaFilterChain)', () => {
  it('runs the replying filter\'s own response callbacks on its reply, with content-length and text/plain', async () => {
    const plugin = await probe('reply-own');
    const chain = startChain([plugin], requestHeaders());
    const reply = localReplyOf(await chain.onRequestHeaders(true));
    chain.onDone();
    expect(reply.status).toBe(403);
    expect(text(reply.body)).toBe('denied');
    expect(reply.headers).toEqual([
      ['content-length', '6'],
      ['content-type', 'text/plain'],
      ['x-own-status', '403'],
      ['x-own-type', 'text/plain'],
      ['x-own-length', '6'],
    ]);
  });
});

describe('header add (Envoy HeaderMapImpl::addCopy)', () => {
  it('appends ",value" to an inline header that exists and adds a new entry for any other header', async () => {
    const plugin = await probe('add');
    const headers = requestHeaders([['user-agent', 'curl'], ['x-custom', 'one']]);
    const stream = plugin.createHttpContext();
    expect(stream.onRequestHeaders(headers, true)).toEqual({ action: 'continue' });
    stream.onDone();
    expect(headers.toList().filter(([name]) => name === 'user-agent' || name === 'x-custom')).toEqual([
      ['user-agent', 'curl,probe'],
      ['x-custom', 'one'],
      ['x-custom', 'two'],
    ]);
  });
});

describe('VM failure, fail closed (cpp-host CHECK_FAIL_HTTP, Envoy Context::failStream)', () => {
  it('answers 503 wasm_fail_stream to the trapping request and to every later one without running the VM', async () => {
    const logger = captureLogger();
    const plugin = await probe('trap', { logger });
    const trapped = plugin.createHttpContext();
    const first = localReplyOf(trapped.onRequestHeaders(requestHeaders([['x-trap', '1']]), true));
    trapped.onDone();
    expect(first).toMatchObject({ status: 503, details: 'wasm_fail_stream' });
    expect(first.body).toHaveLength(0);

    const headers = requestHeaders();
    const later = plugin.createHttpContext();
    expect(localReplyOf(later.onRequestHeaders(headers, true))).toMatchObject({ status: 503, details: 'wasm_fail_stream' });
    later.onDone();
    expect(headers.get('x-ran')).toBeUndefined();
    expect(plugin.isFailed).toBe(true);
    // Timers do not run a failed VM either.
    plugin.tick();
    expect(plugin.metrics.snapshot().find((metric) => metric.name === 'ticks')?.value).toBe(0n);
    expect(logger.entries.filter((entry) => entry.level === 'error').map((entry) => entry.message)).toEqual(['proxy-wasm module trapped']);
  });
});

describe('metrics (Envoy Context::incrementMetric / recordMetric / getMetric)', () => {
  it('refuses a counter increment <= 0 and a histogram read, adds a counter record, sets a gauge, lets a gauge go down', async () => {
    const logger = captureLogger();
    const plugin = await probe('metrics-rules', { logger });
    const stream = plugin.createHttpContext();
    stream.onRequestHeaders(requestHeaders(), true);
    stream.onDone();
    expect(policyLines(logger)).toEqual([
      'metrics counter+0=2 counter.record=0 counter=0:6 gauge.record=0 gauge-3=0 gauge=0:7 histogram+1=2 histogram.record=0 histogram=2:0',
    ]);
  });
});

describe('shared data (cpp-host SharedData)', () => {
  it('draws CAS tokens from one counter for every VM id of the data plane', async () => {
    const shared = new SharedDataRegistry();
    const first = await probe('cas', { sharedData: shared.forVm('a') });
    const second = await probe('cas', { sharedData: shared.forVm('b') });
    const tokens = [first, second, first].map((plugin) => {
      const headers = requestHeaders();
      const stream = plugin.createHttpContext();
      stream.onRequestHeaders(headers, true);
      stream.onDone();
      return headers.get('x-cas');
    });
    expect(tokens).toEqual(['1', '2', '3']);
  });
});

describe('buffers (Envoy Buffer::copyFrom)', () => {
  it('refuses a set_buffer_bytes that neither prepends, replaces nor appends, and leaves the body as it was', async () => {
    const logger = captureLogger();
    const plugin = await probe('splice', { logger });
    const stream = plugin.createHttpContext();
    stream.onRequestHeaders(requestHeaders(), false);
    expect(stream.onRequestBody(bytes('abc'), true)).toEqual({ action: 'continue' });
    stream.onDone();
    expect(policyLines(logger)).toEqual(['splice=2']);
    expect(text(stream.requestBody)).toBe('abc');
  });
});

describe('end of stream (Envoy doDeferredStreamDestroy)', () => {
  it('calls proxy_on_log before proxy_on_done', async () => {
    const logImport = { module: 'env', name: 'proxy_log', type: { params: 3, results: 1 } } as const;
    const logAt = (level: number) => [...op.i32Const(level), ...op.i32Const(0), ...op.i32Const(0), ...op.call(0), ...op.drop()];
    const module = buildModule([logImport], [
      ...baseFunctions(),
      { export: 'proxy_on_log', type: { params: 1, results: 0 }, body: logAt(2) },
      { export: 'proxy_on_done', type: { params: 1, results: 1 }, body: [...logAt(3), ...op.i32Const(1)] },
    ]);
    const logger = captureLogger();
    const plugin = await loadPlugin({ name: 'order', wasm: module, configuration: '', logger });
    const stream = plugin.createHttpContext();
    stream.onRequestHeaders(requestHeaders(), true);
    stream.onDone();
    expect(logger.entries.filter((entry) => entry.message === 'policy log').map((entry) => entry.level)).toEqual(['info', 'warn']);
  });
});

describe('proxy_get_status in an http call response (Envoy Context::onHttpCallFailure)', () => {
  it('reports BrokenConnection "reset" for a failed call, and keeps the code after a later success', async () => {
    const answers: Array<(response: HttpCallResponse | Error) => void> = [];
    const httpCall = (_request: HttpCallRequest) => new Promise<HttpCallResponse>((resolve, reject) => {
      answers.push((answer) => (answer instanceof Error ? reject(answer) : resolve(answer)));
    });
    const plugin = await probe('http-call', { httpCall });
    const statusAfter = async (answer: HttpCallResponse | Error): Promise<string | undefined> => {
      const headers = requestHeaders();
      const stream = plugin.createHttpContext();
      const outcome = stream.onRequestHeaders(headers, true);
      if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
      answers.shift()?.(answer);
      const settled = await outcome.resume;
      stream.onDone();
      return settled.action === 'localReply' ? settled.headers.find(([name]) => name === 'x-call-status')?.[1] : headers.get('x-call-status');
    };
    const ok = { headers: [[':status', '200']] as Array<[string, string]>, body: bytes('alice'), trailers: [] };
    expect(await statusAfter(ok)).toBe('0:');
    expect(await statusAfter(new Error('connection refused'))).toBe('11:reset');
    expect(await statusAfter(ok)).toBe('11:');
  });
});
