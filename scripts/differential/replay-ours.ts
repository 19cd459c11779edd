// A scenario's wasmcheck run, driven through our host the way wasmcheck drives cpp-host: the same request headers as
// the module saw there (report's `request_headers_in`, with Envoy's x-request-id and x-forwarded-proto), the same
// http-call answers and clock, and every request a whole stream (request headers and body, the fake upstream's
// response headers when it continued, then the end of the stream), also where the test stopped after the request.
// So phases the tests do not drive (a module's response callbacks on every request) are compared too.
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { HeaderMap } from '../../server/gateway/proxy-wasm/header-map.ts';
import { loadPlugin, type Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import { InMemorySharedData } from '../../server/gateway/proxy-wasm/shared-data.ts';
import type { HttpCaller, LocalReply, PolicyLogger } from '../../server/gateway/proxy-wasm/types.ts';
import type { Pairs, RecordedOutcome, RecordedRequest, RecordedScenario } from './recording.ts';

const quiet: PolicyLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function outcomeOf(outcome: { action: 'continue' } | LocalReply): RecordedOutcome {
  if (outcome.action === 'continue') return outcome;
  return { action: 'localReply', status: outcome.status, headers: outcome.headers, body: decoder.decode(outcome.body), details: outcome.details };
}

let vmCounter = 0;

/** Our host's outcomes for the scenario's requests, each driven as wasmcheck drove it (`headersIn`: per request,
 *  the request headers wasmcheck's report says the module saw; null where the report has none), and the end state.
 *  Null when our host refused the configuration. */
export async function replayInOurHost(
  scenario: RecordedScenario,
  wasm: WebAssembly.Module,
  headersIn: Array<Pairs | undefined>,
): Promise<{ requests: Array<RecordedRequest | null>; final: RecordedScenario['final'] } | null> {
  const clock = createManualClock(scenario.startTimeMs);
  const sharedData = new InMemorySharedData();
  const keys = new Set<string>();
  let current: RecordedRequest | null = null;
  const answers: Array<RecordedRequest['httpCalls'][number]['response']> = [];
  const httpCall: HttpCaller = async (request) => {
    const answer = answers.shift() ?? null;
    current?.httpCalls.push({ cluster: request.cluster, headers: request.headers, body: decoder.decode(request.body), timeoutMs: request.timeoutMs, response: answer });
    if (answer === null || 'failed' in answer) throw new Error('failed as recorded');
    return { headers: answer.headers, body: encoder.encode(answer.body), trailers: [] };
  };
  vmCounter += 1;
  const plugin: Plugin = await loadPlugin({
    name: scenario.module, wasm, configuration: Buffer.from(scenario.configuration, 'base64'),
    vmConfiguration: Buffer.from(scenario.vmConfiguration, 'base64'), rootId: scenario.rootId,
    vmId: `differential-${vmCounter}`, logger: quiet, clock,
    sharedData: { get: (key) => sharedData.get(key), set: (key, value, cas) => { keys.add(key); return sharedData.set(key, value, cas); } },
    ...(scenario.hasHttpCaller ? { httpCall } : {}),
  });
  if (!plugin.isConfigured) return null;
  const requests: Array<RecordedRequest | null> = [];
  let index = 0;
  for (const event of scenario.events) {
    if (event.kind === 'tick') {
      plugin.tick();
      continue;
    }
    const input = headersIn[index];
    index += 1;
    if (input === undefined) {
      requests.push(null);
      continue;
    }
    clock.set(Math.max(event.timeMs, Number(clock.nowNanos() / 1_000_000n)));
    const request: RecordedRequest = {
      ...event, requestHeaders: input, httpCalls: [], requestOutcome: null, upstreamHeaders: null,
      responseOutcome: null, responseHeadersOut: null,
    };
    requests.push(request);
    answers.length = 0;
    for (const call of event.httpCalls) answers.push(call.response);
    current = request;
    const stream = plugin.createHttpContext({ routeName: event.routeName, sourceAddress: event.sourceAddress });
    const headers = new HeaderMap(input);
    const hasBody = event.requestBody.length > 0;
    const first = stream.onRequestHeaders(headers, !hasBody);
    let outcome = first.action === 'pause' ? await first.resume : first;
    for (let i = 0; outcome.action === 'continue' && i < event.requestBody.length; i++) {
      const body = stream.onRequestBody(encoder.encode(event.requestBody[i]), i === event.requestBody.length - 1);
      if (body.action === 'localReply') outcome = body;
    }
    request.requestOutcome = outcomeOf(outcome);
    if (outcome.action === 'continue') {
      request.upstreamHeaders = headers.toList();
      // The fake upstream's answer as wasmcheck builds it: the scripted status and headers, then the router's header.
      const upstream = event.responseHeadersIn ?? [[':status', '200']];
      const response = new HeaderMap([...upstream, ['x-envoy-upstream-service-time', '1']]);
      request.responseHeadersIn = response.toList();
      const answered = stream.onResponseHeaders(response, true);
      const final = answered.action === 'pause' ? await answered.resume : answered;
      request.responseOutcome = outcomeOf(final);
      request.responseHeadersOut = response.toList();
    }
    stream.onDone();
    current = null;
  }
  const final: RecordedScenario['final'] = { metrics: {}, sharedData: {} };
  for (const metric of plugin.metrics.snapshot()) if (metric.type !== 'histogram') final.metrics[metric.name] = String(metric.value);
  for (const key of keys) {
    const entry = sharedData.get(key);
    if (entry !== undefined) final.sharedData[key] = Buffer.from(entry.value).toString('latin1');
  }
  plugin.close();
  return { requests, final };
}
