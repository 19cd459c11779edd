// The pure part of scripts/differential.ts: a recorded scenario rendered as a wasmcheck script, and our host's
// outcome compared with wasmcheck's report of the same request. No wasmcheck needed.
import { describe, expect, it } from 'vitest';
import { compareFinal, compareRequest, type WasmcheckStep } from '../../../scripts/differential/compare.ts';
import type { RecordedRequest, RecordedScenario } from '../../../scripts/differential/recording.ts';
import { renderScenario } from '../../../scripts/differential/render.ts';
import { scenariosFromListeners } from '../../../scripts/differential/generated.ts';
import { differenceCount, formatReport } from '../../../scripts/differential/report.ts';

const START = Date.parse('2026-04-01T10:30:00Z');

function request(overrides: Partial<RecordedRequest> = {}): RecordedRequest {
  return {
    kind: 'request',
    timeMs: START,
    routeName: 'books/GET/books',
    sourceAddress: '127.0.0.1:50000',
    requestHeaders: [[':method', 'GET'], [':path', '/books'], [':authority', 'api.example.test'], [':scheme', 'http'], ['authorization', 'Bearer t']],
    requestBody: [],
    responseHeadersIn: null,
    httpCalls: [],
    requestOutcome: { action: 'continue' },
    upstreamHeaders: [[':method', 'GET'], [':path', '/books'], [':authority', 'api.example.test'], [':scheme', 'http'], ['x-apip-plan', 'gold']],
    responseOutcome: null,
    responseHeadersOut: null,
    ...overrides,
  };
}

function scenario(overrides: Partial<RecordedScenario> = {}): RecordedScenario {
  return {
    name: 'test/policies/oauth2.test.ts > oauth2 policy > admits #1',
    module: 'oauth2',
    configuration: Buffer.from('{"routes":{}}').toString('base64'),
    vmConfiguration: '',
    rootId: '',
    startTimeMs: START,
    isConfigured: true,
    hasHttpCaller: true,
    unrenderable: [],
    events: [],
    final: { metrics: {}, sharedData: {} },
    ...overrides,
  };
}

/** wasmcheck's report of a request that reached the upstream with `headers`. */
function upstreamStep(headers: Array<[string, string]>, extra: WasmcheckStep = {}): WasmcheckStep {
  return { local_response: null, upstream_request: { headers }, response: { source: 'upstream', headers: [[':status', '200']], state: 'complete' }, http_calls: [], ...extra };
}

describe('renderScenario', () => {
  it('renders requests, http-call answers and clock moves as wasmcheck steps', () => {
    const run = renderScenario(scenario({
      events: [
        request({
          httpCalls: [
            { cluster: 'auth', headers: [[':method', 'POST']], body: 'token=t', timeoutMs: 2000, response: { headers: [[':status', '200'], ['content-type', 'application/json']], body: '{"active":true}' } },
            { cluster: 'auth', headers: [[':method', 'POST']], body: 'token=u', timeoutMs: 2000, response: { failed: true } },
          ],
        }),
        { kind: 'tick' },
        request({ timeMs: START + 61_000, requestBody: ['a', 'b'], responseHeadersIn: [[':status', '201'], ['x-up', '1']] }),
      ],
    }));
    if ('unrenderable' in run) throw new Error('expected a run');
    expect(run.pluginConfiguration.toString()).toBe('{"routes":{}}');
    expect(run.script.clusters).toBeUndefined();
    expect(run.script.start_time_ms).toBe(START);
    expect(run.script.steps).toEqual([
      {
        name: 'request 1', method: 'GET', path: '/books', scheme: 'http', authority: 'api.example.test',
        headers: [['authorization', 'Bearer t']], route_name: 'books/GET/books', source_address: '127.0.0.1:50000',
        http_call_responses: [{ status: 200, headers: [['content-type', 'application/json']], body: '{"active":true}' }, { fail: true }],
      },
      { tick: 1 },
      { advance_ms: 61_000 },
      {
        name: 'request 2', method: 'GET', path: '/books', scheme: 'http', authority: 'api.example.test',
        headers: [['authorization', 'Bearer t']], route_name: 'books/GET/books', source_address: '127.0.0.1:50000',
        body: ['a', 'b'], response: { status: 201, headers: [['x-up', '1']] },
      },
    ]);
    expect(run.requestSteps).toEqual([0, 3]);
  });

  it('makes wasmcheck refuse every http_call when the test gave our host no transport', () => {
    const run = renderScenario(scenario({ hasHttpCaller: false, events: [request()] }));
    expect('unrenderable' in run ? null : run.script.clusters).toEqual([]);
  });

  it('gives the reasons instead of a script when wasmcheck cannot replay the scenario', () => {
    expect(renderScenario(scenario({ unrenderable: ['reconfigures the plugin'] }))).toEqual({ unrenderable: ['reconfigures the plugin'] });
  });
});

describe('compareRequest', () => {
  it('finds nothing when only the headers Envoy itself adds differ', () => {
    const theirs = upstreamStep([
      [':authority', 'api.example.test'], [':path', '/books'], [':method', 'GET'], [':scheme', 'http'], ['x-apip-plan', 'gold'],
      ['x-forwarded-proto', 'http'], ['x-request-id', '00000000-0000-4000-8000-000000000001'],
    ]);
    expect(compareRequest(request(), theirs)).toEqual([]);
  });

  it('reports a header sent upstream by one host only', () => {
    const theirs = upstreamStep([[':authority', 'api.example.test'], [':path', '/books'], [':method', 'GET'], [':scheme', 'http'], ['x-apip-plan', 'gold'], ['x-apip-plan', 'gold']]);
    expect(compareRequest(request(), theirs)).toEqual([{ field: 'upstream headers', ours: '(none)', theirs: 'x-apip-plan: gold' }]);
  });

  it('reports a request cpp-host leaves stalled where ours answered', () => {
    const ours = request({ requestOutcome: { action: 'localReply', status: 401, headers: [], body: 'no', details: 'apip_unauthorized' }, upstreamHeaders: null });
    const theirs: WasmcheckStep = { local_response: null, upstream_request: null, response: { state: 'stalled: on_request_headers stopped iteration' } };
    expect(compareRequest(ours, theirs)).toEqual([{ field: 'request outcome', ours: 'local reply 401', theirs: 'stalled' }]);
  });

  it('reports headers the replying filter adds to its own local reply on its way to the client', () => {
    const reply = { status: 429, headers: [['content-type', 'application/json'], ['retry-after', '30']] as Array<[string, string]>, body: '{}' };
    const ours = request({ requestOutcome: { action: 'localReply', ...reply, details: 'apip_throttled' }, upstreamHeaders: null });
    const theirs: WasmcheckStep = {
      local_response: { status: 429, body: '{}', additional_headers: reply.headers, details: 'apip_throttled' },
      upstream_request: null,
      response: { source: 'local_reply', headers: [[':status', '429'], ...reply.headers, ['ratelimit-limit', '2'], ['content-length', '2']], body: '{}' },
    };
    expect(compareRequest(ours, theirs)).toEqual([{ field: 'local reply headers at the client', ours: '(none)', theirs: 'ratelimit-limit: 2' }]);
  });

  it('compares http calls made, ignoring the content-length Envoy sets from the body', () => {
    const call = { cluster: 'auth', headers: [[':method', 'POST']] as Array<[string, string]>, body: 'token=t', timeoutMs: 2000, response: null };
    const made = { cluster: 'auth', headers: [[':method', 'POST'], ['content-length', '7']] as Array<[string, string]>, body: 'token=t', result: 'Ok' };
    expect(compareRequest(request({ httpCalls: [call] }), upstreamStep(request().upstreamHeaders ?? [], { http_calls: [made] }))).toEqual([]);
    expect(compareRequest(request({ httpCalls: [call] }), upstreamStep(request().upstreamHeaders ?? [], { http_calls: [made, made] })))
      .toEqual([{ field: 'http calls made', ours: '1', theirs: '2' }]);
  });

  it('reads our VM failure reply and cpp-host failing the stream as one outcome, and reports their statuses', () => {
    const failStream: WasmcheckStep = { local_response: { status: 503, body: '', additional_headers: [], details: 'wasm_fail_stream' }, upstream_request: null, vm_failed: true };
    const failed = request({ requestOutcome: { action: 'localReply', status: 503, headers: [], body: '', details: 'wasm_fail_stream' }, upstreamHeaders: null });
    expect(compareRequest(failed, failStream)).toEqual([]);
    const refused = request({ requestOutcome: { action: 'localReply', status: 500, headers: [], body: '', details: 'wasm_fail_closed' }, upstreamHeaders: null });
    expect(compareRequest(refused, failStream)).toEqual([{ field: 'request outcome', ours: 'VM failure 500', theirs: 'VM failure 503' }]);
  });

  it('reads our stall reply as the stream cpp-host leaves stalled', () => {
    const stalled = request({ requestOutcome: { action: 'localReply', status: 500, headers: [], body: '', details: 'wasm_stalled' }, upstreamHeaders: null });
    expect(compareRequest(stalled, { local_response: null, upstream_request: null, response: { state: 'stalled: on_request_headers stopped iteration' } })).toEqual([]);
  });
});

describe('compareFinal', () => {
  it('compares metric values and shared data, not CAS tokens', () => {
    const ours = { metrics: { apip_total: '2' }, sharedData: { k: '\u0001\u0002' } };
    expect(compareFinal(ours, { metrics: { apip_total: { type: 'counter', value: 2 } }, shared_data: { k: { value: '\u0001\u0002', cas: 9 } } })).toEqual([]);
    expect(compareFinal(ours, { metrics: { apip_total: { type: 'counter', value: 4 } }, shared_data: {} })).toEqual([
      { field: 'metric apip_total', ours: '2', theirs: '4' },
      { field: 'shared data k', ours: '0102', theirs: 'absent' },
    ]);
  });
});

describe('formatReport', () => {
  it('counts a differing request and a module cpp-host cannot load as differences', () => {
    const results = [
      { kind: 'compared' as const, module: 'oauth2', name: 's1', requests: [{ request: 'request 1', differences: [{ field: 'request outcome', ours: 'continue', theirs: 'stalled' }] }, { request: 'request 2', differences: [] }] },
      { kind: 'failedToLoad' as const, module: 'jwt', name: 's2', reason: 'v128 value type requires simd feature' },
      { kind: 'skipped' as const, module: 'throttle', name: 's3', reasons: ['reconfigures the plugin'] },
    ];
    expect(differenceCount(results)).toBe(2);
    const text = formatReport(results, false);
    expect(text).toMatch(/^oauth2\s+1\s+2\s+1\s+1\s+0\s+0$/m);
    expect(text).toContain('request outcome: ours continue | cpp-host stalled');
    expect(text).toContain('[jwt] s2: v128 value type requires simd feature');
  });
});

describe('scenariosFromListeners', () => {
  it('makes one scenario per wasm filter of a generated listener, probing each configured route and an unknown one', () => {
    const listeners = [{
      name: 'apip/http',
      filterChains: [{ filters: [{ typedConfig: { httpFilters: [
        { name: 'envoy.filters.http.wasm/api-key', typedConfig: { config: { name: 'api-key', vmConfig: { vmId: 'apip/api-key' }, configuration: { value: '{"routes":{"books/GET/books/{id}":{}}}' } } } },
        { name: 'envoy.filters.http.router' },
      ] } }] }],
    }];
    const [scenario, ...rest] = scenariosFromListeners('reading-list', listeners);
    expect(rest).toEqual([]);
    expect(scenario?.module).toBe('api-key');
    expect(Buffer.from(scenario?.configuration ?? '', 'base64').toString()).toBe('{"routes":{"books/GET/books/{id}":{}}}');
    const requests = (scenario?.events ?? []).filter((event) => event.kind === 'request');
    expect(new Set(requests.map((event) => event.routeName))).toEqual(new Set(['books/GET/books/{id}', 'unknown/GET/nowhere']));
    expect(requests[0]?.requestHeaders?.slice(0, 2)).toEqual([[':method', 'GET'], [':path', '/books/1']]);
    // Strictly increasing times: the clock never goes back between two requests.
    expect(requests.every((event, i) => i === 0 || event.timeMs > (requests[i - 1]?.timeMs ?? 0))).toBe(true);
  });
});
