// Pure: one recorded scenario → the wasmcheck script (and the files it reads) that replays it in Envoy's wasm host.
// Script format: the README of ../shared/tools/wasmcheck. `expect` is left out: the comparison is ours (compare.ts).
import type { Pairs, RecordedRequest, RecordedScenario } from './recording.ts';

/** The authority and source address our test harness gives every request (test/helpers/policies.ts). */
export const DEFAULT_AUTHORITY = 'api.example.test';

export interface WasmcheckRun {
  /** The bytes for --plugin-config and --vm-config. */
  pluginConfiguration: Buffer;
  vmConfiguration: Buffer;
  rootId: string;
  script: WasmcheckScript;
  /** For each request event, the index of its step in `script.steps` (clock steps sit between them). */
  requestSteps: number[];
}

export interface WasmcheckScript {
  clusters?: string[];
  start_time_ms: number;
  defaults: Record<string, unknown>;
  steps: Array<Record<string, unknown>>;
}

function header(pairs: Pairs | null, name: string): string | undefined {
  return pairs?.find(([key]) => key === name)?.[1];
}

function withoutPseudo(pairs: Pairs): Pairs {
  return pairs.filter(([name]) => !name.startsWith(':'));
}

function requestStep(request: RecordedRequest, index: number): Record<string, unknown> {
  const headers = request.requestHeaders;
  const step: Record<string, unknown> = { name: `request ${index + 1}` };
  if (headers !== null) {
    step.method = header(headers, ':method') ?? 'GET';
    step.path = header(headers, ':path') ?? '/';
    step.scheme = header(headers, ':scheme') ?? 'http';
    step.authority = header(headers, ':authority') ?? DEFAULT_AUTHORITY;
    step.headers = withoutPseudo(headers);
  }
  step.route_name = request.routeName;
  step.source_address = request.sourceAddress;
  if (request.requestBody.length > 0) step.body = request.requestBody;
  if (request.responseHeadersIn !== null) {
    step.response = {
      status: Number(header(request.responseHeadersIn, ':status') ?? 200),
      headers: withoutPseudo(request.responseHeadersIn),
    };
  }
  const responses = request.httpCalls.map((call) => {
    if (call.response === null || 'failed' in call.response) return { fail: true };
    return {
      status: Number(header(call.response.headers, ':status') ?? 0),
      headers: withoutPseudo(call.response.headers),
      body: call.response.body,
    };
  });
  if (responses.length > 0) step.http_call_responses = responses;
  return step;
}

/** The wasmcheck run of a scenario, or the reasons it cannot be replayed faithfully. */
export function renderScenario(scenario: RecordedScenario): WasmcheckRun | { unrenderable: string[] } {
  if (scenario.unrenderable.length > 0) return { unrenderable: scenario.unrenderable };
  const steps: Array<Record<string, unknown>> = [];
  const requestSteps: number[] = [];
  let now = scenario.startTimeMs;
  let requests = 0;
  for (const event of scenario.events) {
    if (event.kind === 'tick') {
      steps.push({ tick: 1 });
      continue;
    }
    // wasmcheck's clock only moves when told (and then fires the timers crossed, as Envoy's dispatcher would).
    if (event.timeMs > now) {
      steps.push({ advance_ms: event.timeMs - now });
      now = event.timeMs;
    }
    requestSteps.push(steps.length);
    steps.push(requestStep(event, requests));
    requests += 1;
  }
  const script: WasmcheckScript = {
    start_time_ms: scenario.startTimeMs,
    defaults: { authority: DEFAULT_AUTHORITY },
    steps,
  };
  // Without a transport our host refuses every http_call as an unknown upstream; an empty cluster list makes
  // wasmcheck refuse them the same way (BadArgument, as Envoy does for a cluster it does not know).
  if (!scenario.hasHttpCaller) script.clusters = [];
  return {
    pluginConfiguration: Buffer.from(scenario.configuration, 'base64'),
    vmConfiguration: Buffer.from(scenario.vmConfiguration, 'base64'),
    rootId: scenario.rootId,
    script,
    requestSteps,
  };
}
