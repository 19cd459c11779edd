// Host paths no policy module exercises, through a small AssemblyScript test module
// (test/policies/fixtures/host-probe.ts) compiled once for this file: http_call with pause and resume, timers,
// metrics, body callbacks, and local replies going back through the response phase of earlier plugins.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HeaderMap } from '../../../../server/gateway/proxy-wasm/header-map.ts';
import { loadPlugin, type LoadPluginOptions, type Plugin } from '../../../../server/gateway/proxy-wasm/plugin.ts';
import type { HttpCallRequest, HttpCallResponse } from '../../../../server/gateway/proxy-wasm/types.ts';
import { compileProbe } from '../../../policies/fixtures/compile-probe.ts';
import { startChain } from '../../../fixtures/gateway/filter-chain.ts';
import { captureLogger, jsonOf, localReplyOf } from '../../../helpers/policies.ts';

let wasm: WebAssembly.Module;
let vmCounter = 0;

beforeAll(async () => {
  wasm = await WebAssembly.compile(await compileProbe());
});

afterEach(() => {
  vi.useRealTimers();
});

function probe(mode: string, options: Partial<LoadPluginOptions> = {}): Promise<Plugin> {
  vmCounter += 1;
  return loadPlugin({ name: `probe-${mode}`, wasm, configuration: mode, vmId: `probe-${vmCounter}`, logger: captureLogger(), ...options });
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

function requestHeaders(extra: Array<[string, string]> = []): HeaderMap {
  return new HeaderMap([[':method', 'GET'], [':path', '/books'], [':authority', 'api.example.test'], ...extra]);
}

/** An HttpCaller whose responses the test settles by hand. */
function manualCaller() {
  const requests: HttpCallRequest[] = [];
  const pending: Array<{ resolve: (response: HttpCallResponse) => void; reject: (error: Error) => void }> = [];
  const call = (request: HttpCallRequest): Promise<HttpCallResponse> => {
    requests.push(request);
    return new Promise<HttpCallResponse>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { call, requests, pending };
}

describe('proxy_http_call', () => {
  it('pauses the request and resumes it with the response when the module dispatches a call', async () => {
    const caller = manualCaller();
    const plugin = await probe('http-call', { httpCall: caller.call });
    const stream = plugin.createHttpContext();
    const headers = requestHeaders([['x-probe-token', 't1']]);
    const outcome = stream.onRequestHeaders(headers, true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);

    expect(caller.requests).toHaveLength(1);
    expect(caller.requests[0]).toEqual({
      cluster: 'auth',
      headers: [[':method', 'GET'], [':path', '/check'], [':authority', 'auth.internal'], ['x-probe-token', 't1']],
      body: bytes('probe'),
      trailers: [],
      timeoutMs: 500,
    });
    expect(headers.get('x-auth')).toBeUndefined();

    caller.pending[0]?.resolve({ headers: [[':status', '200'], ['content-type', 'text/plain']], body: bytes('alice'), trailers: [] });
    await expect(outcome.resume).resolves.toEqual({ action: 'continue' });
    expect(headers.get('x-auth')).toBe('alice');
    stream.onDone();
  });

  it('resumes with the local reply when the module rejects the call response', async () => {
    const caller = manualCaller();
    const plugin = await probe('http-call', { httpCall: caller.call });
    const stream = plugin.createHttpContext();
    const outcome = stream.onRequestHeaders(requestHeaders(), true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
    caller.pending[0]?.resolve({ headers: [[':status', '401']], body: new Uint8Array(0), trailers: [] });

    const reply = localReplyOf(await outcome.resume);
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('probe_auth_denied');
    expect(reply.headers).toContainEqual(['x-auth-status', '401']);
    stream.onDone();
  });

  it('gives the module a failed call (no headers) when the caller rejects', async () => {
    const caller = manualCaller();
    const logger = captureLogger();
    const plugin = await probe('http-call', { httpCall: caller.call, logger });
    const stream = plugin.createHttpContext();
    const outcome = stream.onRequestHeaders(requestHeaders(), true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
    caller.pending[0]?.reject(new Error('connection refused'));

    const reply = localReplyOf(await outcome.resume);
    expect(reply.status).toBe(503);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Auth service unavailable.' });
    expect(logger.entries.map((entry) => entry.message)).toContain('proxy-wasm http call failed');
    stream.onDone();
  });

  it('refuses the call when the host has no http caller', async () => {
    const plugin = await probe('http-call');
    const stream = plugin.createHttpContext();
    const reply = localReplyOf(stream.onRequestHeaders(requestHeaders(), true));
    expect(reply.status).toBe(500);
    expect(reply.details).toBe('probe_dispatch_failed');
    stream.onDone();
  });

  it('settles a paused request as stalled when the stream ends before the response', async () => {
    const caller = manualCaller();
    const plugin = await probe('http-call', { httpCall: caller.call });
    const stream = plugin.createHttpContext();
    const outcome = stream.onRequestHeaders(requestHeaders(), true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
    stream.onDone();

    expect(localReplyOf(await outcome.resume).details).toBe('wasm_stalled');
    // A late response reaches no stream and changes nothing.
    caller.pending[0]?.resolve({ headers: [[':status', '200']], body: bytes('late'), trailers: [] });
    await new Promise((resolve) => setImmediate(resolve));
    const next = plugin.createHttpContext();
    expect(next.onRequestHeaders(requestHeaders(), true).action).toBe('pause');
    next.onDone();
  });
});

describe('proxy_http_call as proxy-wasm-cpp-host dispatches it', () => {
  // cpp-host makes every call on the root context and calls proxy_on_http_call_response with the root's id
  // (src/exports.cc http_call, src/context.cc onHttpCallResponse); the module must choose the stream with
  // proxy_set_effective_context. policies/lib/http-call.ts does that for every module.
  it('delivers the response to the root context, where a continue without an effective context resumes nothing', async () => {
    const caller = manualCaller();
    const logger = captureLogger();
    const plugin = await probe('root-call', { httpCall: caller.call, logger });
    const stream = plugin.createHttpContext();
    const headers = requestHeaders([['x-probe-token', 't1']]);
    const outcome = stream.onRequestHeaders(headers, true);
    if (outcome.action !== 'pause') throw new Error(`expected pause, got ${outcome.action}`);
    caller.pending[0]?.resolve({ headers: [[':status', '200']], body: bytes('alice'), trailers: [] });

    // Nothing resumed the stream: the host settles it as stalled rather than holding it until a timeout.
    expect(localReplyOf(await outcome.resume).details).toBe('wasm_stalled');
    const policyLogs = logger.entries.filter((entry) => entry.message === 'policy log').map((entry) => entry.fields);
    expect(policyLogs).toContainEqual(expect.objectContaining({ contextId: 1, message: expect.stringMatching(/^http call response on the root context \(token \d+\)$/) }));
    expect(headers.get('x-auth')).toBeUndefined();
    stream.onDone();
  });

  it('resumes the stream the module makes effective, with that stream\'s headers', async () => {
    const caller = manualCaller();
    const plugin = await probe('http-call', { httpCall: caller.call });
    const first = plugin.createHttpContext();
    const second = plugin.createHttpContext();
    const firstHeaders = requestHeaders([['x-probe-token', 'one']]);
    const secondHeaders = requestHeaders([['x-probe-token', 'two']]);
    const firstOutcome = first.onRequestHeaders(firstHeaders, true);
    const secondOutcome = second.onRequestHeaders(secondHeaders, true);
    if (firstOutcome.action !== 'pause' || secondOutcome.action !== 'pause') throw new Error('expected both paused');
    // Answered in the other order: each answer must reach its own stream.
    caller.pending[1]?.resolve({ headers: [[':status', '200']], body: bytes('bob'), trailers: [] });
    await expect(secondOutcome.resume).resolves.toEqual({ action: 'continue' });
    caller.pending[0]?.resolve({ headers: [[':status', '403']], body: bytes(''), trailers: [] });
    expect(localReplyOf(await firstOutcome.resume).status).toBe(403);
    expect(secondHeaders.get('x-auth')).toBe('bob');
    expect(firstHeaders.get('x-auth')).toBeUndefined();
    first.onDone();
    second.onDone();
  });
});

describe('timers', () => {
  it('runs proxy_on_tick every tick period until the module sets the period to 0', async () => {
    vi.useFakeTimers();
    const plugin = await probe('tick');
    const ticks = () => plugin.metrics.snapshot().find((metric) => metric.name === 'ticks')?.value;
    expect(ticks()).toBe(0n);

    vi.advanceTimersByTime(25);
    expect(ticks()).toBe(2n);
    vi.advanceTimersByTime(10);
    expect(ticks()).toBe(3n);
    // The third tick set the period to 0: no more timer ticks.
    vi.advanceTimersByTime(100);
    expect(ticks()).toBe(3n);

    plugin.tick();
    expect(ticks()).toBe(4n);
    plugin.close();
  });

  it('stops the timer when the plugin is closed', async () => {
    vi.useFakeTimers();
    const plugin = await probe('tick');
    vi.advanceTimersByTime(10);
    plugin.close();
    vi.advanceTimersByTime(100);
    expect(plugin.metrics.snapshot().find((metric) => metric.name === 'ticks')?.value).toBe(1n);
  });
});

describe('metrics', () => {
  it('defines, increments, records and reads back counters, gauges and histograms', async () => {
    const plugin = await probe('metrics');
    let headers = requestHeaders();
    for (let i = 0; i < 2; i++) {
      headers = requestHeaders();
      const stream = plugin.createHttpContext();
      expect(stream.onRequestHeaders(headers, true)).toEqual({ action: 'continue' });
      stream.onDone();
    }
    // proxy_get_metric read the counter after this request's increment.
    expect(headers.get('x-requests')).toBe('2');
    // A counter cannot go down: BAD_ARGUMENT (2), and the value is unchanged.
    expect(headers.get('x-negative')).toBe('2');
    expect(plugin.metrics.snapshot()).toEqual([
      { name: 'requests', type: 'counter', value: 2n, count: 2 },
      { name: 'inflight', type: 'gauge', value: 7n, count: 2 },
      { name: 'latency_ms', type: 'histogram', value: 30n, count: 4 },
    ]);
  });
});

describe('body callbacks', () => {
  it('buffers the request body until its end and passes on the body the module rewrote', async () => {
    const plugin = await probe('body');
    const stream = plugin.createHttpContext();
    expect(stream.onRequestHeaders(requestHeaders(), false)).toEqual({ action: 'continue' });
    expect(stream.onRequestBody(bytes('hel'), false)).toEqual({ action: 'buffer' });
    expect(stream.onRequestBody(bytes('lo'), true)).toEqual({ action: 'continue' });
    expect(text(stream.requestBody)).toBe('HELLO');

    expect(stream.onResponseHeaders([[':status', '200']], false)).toEqual({ action: 'continue' });
    expect(stream.onResponseBody(bytes('ok'), false)).toEqual({ action: 'buffer' });
    expect(stream.onResponseBody(bytes('!'), true)).toEqual({ action: 'continue' });
    expect(text(stream.responseBody)).toBe('ok! [checked]');
    stream.onDone();
  });

  it('answers with the local reply when the module refuses the request body', async () => {
    const plugin = await probe('body');
    const stream = plugin.createHttpContext();
    stream.onRequestHeaders(requestHeaders(), false);
    const outcome = stream.onRequestBody(bytes('please deny this'), true);
    if (outcome.action !== 'localReply') throw new Error(`expected a local reply, got ${outcome.action}`);
    const reply = outcome;
    expect(reply.status).toBe(413);
    expect(reply.details).toBe('probe_body_denied');
    stream.onDone();
  });
});

describe('local replies in a chain', () => {
  it('runs the response phase of the plugins before the replying one on the local reply, last to first', async () => {
    const outer = await probe('stamp', { name: 'outer' });
    const inner = await probe('stamp', { name: 'inner' });
    const replier = await probe('reply');
    const after = await probe('stamp', { name: 'after' });
    const chain = startChain([outer, inner, replier, after], requestHeaders());

    const reply = localReplyOf(await chain.onRequestHeaders(true));
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('probe_denied');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Denied by the probe.' });
    expect(reply.headers).toContainEqual(['x-replied-by', 'reply']);
    // inner (closer to the replier) runs first, then outer; the plugin after the replier never sees the request.
    expect(reply.headers.filter(([name]) => name === 'x-stamp')).toEqual([['x-stamp', 'inner'], ['x-stamp', 'outer']]);
    expect(reply.headers).toContainEqual(['x-seen-status', '403']);
    expect(reply.headers.some(([name]) => name === ':status')).toBe(false);
    chain.onDone();
  });

  it('returns the reply unchanged when the first plugin replies', async () => {
    const replier = await probe('reply');
    const stamp = await probe('stamp', { name: 'later' });
    const chain = startChain([replier, stamp], requestHeaders());
    const reply = localReplyOf(await chain.onRequestHeaders(true));
    expect(reply.headers.some(([name]) => name === 'x-stamp')).toBe(false);
    chain.onDone();
  });
});
