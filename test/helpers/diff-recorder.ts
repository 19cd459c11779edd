// Opt-in recorder for the differential check against Envoy's wasm host (scripts/differential.ts, docs/gateway.md):
// with APIP_DIFF_RECORD=<dir>, every plugin a policy test loads through loadPolicy is recorded as one scenario
// (configuration, requests, http-call answers, clock) with our host's outcome per request, in <dir>/<name>.json.
// Test harness only: the production host carries no hook. Loaded by test/helpers/policies.ts only when recording.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Pairs, RecordedEvent, RecordedOutcome, RecordedRequest, RecordedScenario } from '../../scripts/differential/recording.ts';
import { systemClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { HeaderMap } from '../../server/gateway/proxy-wasm/header-map.ts';
import { type SharedDataStore, sharedDataForVm } from '../../server/gateway/proxy-wasm/shared-data.ts';
import type { HttpStream } from '../../server/gateway/proxy-wasm/http-stream.ts';
import type { LoadPluginOptions, Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import type { BodyOutcome, Clock, HeaderList, HeadersOutcome, HttpCaller, LocalReply, RequestInfo } from '../../server/gateway/proxy-wasm/types.ts';

const decoder = new TextDecoder();
const text = (bytes: Uint8Array): string => decoder.decode(bytes);
const base64 = (value: string | Uint8Array | undefined): string =>
  value === undefined ? '' : Buffer.from(typeof value === 'string' ? value : value).toString('base64');
const pairsOf = (headers: HeaderMap | HeaderList): Pairs => (headers instanceof HeaderMap ? headers.toList() : headers.map(([n, v]): [string, string] => [n, v]));

function outcomeOf(outcome: { action: 'continue' } | LocalReply): RecordedOutcome {
  if (outcome.action === 'continue') return { action: 'continue' };
  return { action: 'localReply', status: outcome.status, headers: pairsOf(outcome.headers), body: text(outcome.body), details: outcome.details };
}

const nowMs = (clock: Clock): number => Number(clock.nowNanos() / 1_000_000n);

const perTest = new Map<string, number>();

/** `<test file> > <test name> #<n>`: the n-th plugin the current test loaded. */
function scenarioName(): string {
  const state = expect.getState();
  const file = (state.testPath ?? 'unknown').replace(/^.*\/test\//, 'test/');
  const test = `${file} > ${state.currentTestName ?? 'outside a test'}`;
  const n = (perTest.get(test) ?? 0) + 1;
  perTest.set(test, n);
  return `${test} #${n}`;
}

class ScenarioRecorder {
  readonly scenario: RecordedScenario;
  private readonly file: string;
  /** The request whose guest callback is running: http_calls started now are its. */
  current: RecordedRequest | null = null;
  /** The last request that made a call and is not done: calls made from http-call callbacks are its. */
  lastCaller: RecordedRequest | null = null;

  constructor(dir: string, options: LoadPluginOptions, explicit: Partial<LoadPluginOptions>, readonly clock: Clock) {
    const startTimeMs = nowMs(clock);
    const name = scenarioName();
    this.file = join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 180)}.json`);
    const unrenderable: string[] = [];
    if (explicit.vmId !== undefined) unrenderable.push('shares a VM id with other plugins (wasmcheck runs one plugin)');
    if (explicit.sharedData !== undefined) unrenderable.push('uses a scripted shared-data store');
    if (explicit.maxMemoryBytes !== undefined) unrenderable.push('sets a memory limit');
    this.scenario = {
      name, module: options.name, configuration: base64(options.configuration), vmConfiguration: base64(options.vmConfiguration),
      rootId: options.rootId ?? '', startTimeMs, isConfigured: false, hasHttpCaller: options.httpCall !== undefined, unrenderable, events: [],
      final: { metrics: {}, sharedData: {} },
    };
    const store = options.sharedData ?? sharedDataForVm(options.vmId ?? options.name);
    this.sharedData = {
      get: (key) => store.get(key),
      set: (key, value, cas) => {
        this.sharedKeys.add(key);
        return store.set(key, value, cas);
      },
    };
  }

  unrenderable(reason: string): void {
    if (!this.scenario.unrenderable.includes(reason)) this.scenario.unrenderable.push(reason);
    this.save();
  }

  push(event: RecordedEvent): void {
    this.scenario.events.push(event);
  }

  /** A request still waiting for our host's answer when the next one starts: the two overlap. */
  streamStarted(): void {
    const waiting = this.scenario.events.some((event) => event.kind === 'request' && event.requestOutcome?.action === 'pending');
    if (waiting) this.unrenderable('requests in flight at once (wasmcheck runs them one after the other)');
  }

  /** What the plugin is given as its shared data: the store, with the keys written noted. */
  readonly sharedData: SharedDataStore;
  private readonly sharedKeys = new Set<string>();
  plugin: Plugin | null = null;

  save(): void {
    const { final } = this.scenario;
    for (const metric of this.plugin?.metrics.snapshot() ?? []) {
      if (metric.type !== 'histogram') final.metrics[metric.name] = String(metric.value);
    }
    for (const key of this.sharedKeys) {
      const entry = this.sharedData.get(key);
      if (entry !== undefined) final.sharedData[key] = Buffer.from(entry.value).toString('latin1');
    }
    writeFileSync(this.file, JSON.stringify(this.scenario, null, 1));
  }
}

function recordCalls(httpCall: HttpCaller, recorder: () => ScenarioRecorder): HttpCaller {
  return (request) => {
    const rec = recorder();
    const owner = rec.current ?? rec.lastCaller;
    const call = { cluster: request.cluster, headers: pairsOf(request.headers), body: text(request.body), timeoutMs: request.timeoutMs, response: null } as RecordedRequest['httpCalls'][number];
    if (owner === null) rec.unrenderable('http_call outside any request');
    else {
      owner.httpCalls.push(call);
      rec.lastCaller = owner;
    }
    const answer = httpCall(request);
    answer.then(
      (response) => { call.response = { headers: pairsOf(response.headers), body: text(response.body) }; rec.save(); },
      () => { call.response = { failed: true }; rec.save(); },
    );
    return answer;
  };
}

/** Wraps one stream: every callback records its input and our host's outcome on `request`. */
function recordStream(stream: HttpStream, rec: ScenarioRecorder, request: RecordedRequest): HttpStream {
  let requestDone = false;
  const during = <T>(run: () => T): T => {
    rec.current = request;
    try { return run(); } finally { rec.current = null; }
  };
  const settleRequest = (outcome: { action: 'continue' } | LocalReply, headers: HeaderMap): void => {
    request.requestOutcome = outcomeOf(outcome);
    if (outcome.action === 'continue') request.upstreamHeaders = headers.toList();
    rec.save();
  };
  const wrapped = {
    onRequestHeaders(headers: HeaderMap | HeaderList, endOfStream: boolean): HeadersOutcome {
      const map = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
      request.timeMs = nowMs(rec.clock);
      request.requestHeaders = map.toList();
      const outcome = during(() => stream.onRequestHeaders(map, endOfStream));
      if (outcome.action === 'pause') {
        request.requestOutcome = { action: 'pending' };
        void outcome.resume.then((final) => { if (!requestDone) settleRequest(final, map); });
      } else {
        if (outcome.action === 'localReply') requestDone = true;
        settleRequest(outcome, map);
      }
      return outcome;
    },
    onRequestBody(chunk: Uint8Array, endOfStream: boolean): BodyOutcome {
      request.requestBody.push(text(chunk));
      const outcome = during(() => stream.onRequestBody(chunk, endOfStream));
      if (outcome.action === 'localReply') {
        requestDone = true;
        request.requestOutcome = outcomeOf(outcome);
        request.upstreamHeaders = null;
      }
      return outcome;
    },
    onResponseHeaders(headers: HeaderMap | HeaderList, endOfStream: boolean): HeadersOutcome {
      const map = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
      request.responseHeadersIn = map.toList();
      const outcome = during(() => stream.onResponseHeaders(map, endOfStream));
      if (outcome.action !== 'pause') {
        request.responseOutcome = outcomeOf(outcome);
        request.responseHeadersOut = map.toList();
      } else request.responseOutcome = { action: 'pending' };
      return outcome;
    },
    onResponseBody(chunk: Uint8Array, endOfStream: boolean): BodyOutcome {
      return during(() => stream.onResponseBody(chunk, endOfStream));
    },
    onDone(): void {
      during(() => stream.onDone());
      if (rec.lastCaller === request) rec.lastCaller = null;
      rec.save();
    },
  };
  return new Proxy(stream, {
    get(target, key) {
      if (typeof key === 'string' && Object.hasOwn(wrapped, key)) return wrapped[key as keyof typeof wrapped];
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Loads a plugin with `load` and records it as a scenario in `dir`. `explicit`: the options the test chose. */
export async function loadRecorded(
  dir: string,
  options: LoadPluginOptions,
  explicit: Partial<LoadPluginOptions>,
  load: (options: LoadPluginOptions) => Promise<Plugin>,
): Promise<Plugin> {
  mkdirSync(dir, { recursive: true });
  const clock = options.clock ?? systemClock;
  const rec = new ScenarioRecorder(dir, options, explicit, clock);
  const inner = options.httpCall;
  const plugin = await load({ ...options, clock, sharedData: rec.sharedData, ...(inner ? { httpCall: recordCalls(inner, () => rec) } : {}) });
  rec.plugin = plugin;
  rec.scenario.isConfigured = plugin.isConfigured;
  rec.save();
  return {
    get name() { return plugin.name; },
    get vmId() { return plugin.vmId; },
    get isConfigured() { return plugin.isConfigured; },
    get isFailed() { return plugin.isFailed; },
    get metrics() { return plugin.metrics; },
    reconfigure(configuration) {
      rec.unrenderable('reconfigures the plugin (wasmcheck configures once)');
      return plugin.reconfigure(configuration);
    },
    createHttpContext(info: RequestInfo = {}) {
      const request: RecordedRequest = {
        kind: 'request', timeMs: nowMs(clock), routeName: info.routeName ?? '',
        sourceAddress: info.sourceAddress ?? '127.0.0.1:50000', requestHeaders: null, requestBody: [], responseHeadersIn: null,
        httpCalls: [], requestOutcome: null, upstreamHeaders: null, responseOutcome: null, responseHeadersOut: null,
      };
      if (info.clusterName !== undefined || info.destinationAddress !== undefined || info.timeNanos !== undefined) {
        rec.unrenderable('sets request info wasmcheck is not given (cluster, destination or request time)');
      }
      rec.push(request);
      rec.streamStarted();
      return recordStream(plugin.createHttpContext(info), rec, request);
    },
    tick() {
      rec.push({ kind: 'tick' });
      plugin.tick();
      rec.save();
    },
    close() { plugin.close(); },
  };
}
