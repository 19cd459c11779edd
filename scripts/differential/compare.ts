// Pure: what our host did for one recorded request against what wasmcheck (cpp-host) reported for its step, field by
// field. Headers compare as multisets (order is not behaviour), minus those a host adds itself and not the module.
import type { Pairs, RecordedHttpCall, RecordedOutcome, RecordedRequest, RecordedScenario } from './recording.ts';

export interface Difference {
  field: string;
  ours: string;
  theirs: string;
}

/** The part of a wasmcheck request step (its JSON report) that is compared. */
export interface WasmcheckStep {
  local_response?: { status: number; body: string; additional_headers: Pairs; details: string } | null;
  upstream_request?: { headers: Pairs } | null;
  response?: { source?: string; headers?: Pairs; body?: string; state?: string } | null;
  http_calls?: Array<{ cluster: string; headers: Pairs; body: string; result: string }>;
  vm_failed?: boolean;
}

/** Added by Envoy's connection manager or router (and by wasmcheck as they do), never by our host: not the module's. */
/** The request line and these: Envoy's codec and connection manager always give them, our tests not always. */
const HOST_REQUEST_HEADERS = new Set([':authority', ':method', ':path', ':scheme', 'x-request-id', 'x-forwarded-proto', 'content-length']);
const HOST_RESPONSE_HEADERS = new Set(['x-envoy-upstream-service-time', 'content-length']);

type Kind = 'continue' | 'localReply' | 'stalled' | 'vmFailed' | 'pending';

interface Normalized {
  kind: Kind;
  status?: number;
  body?: string;
  headers?: Pairs;
}

/** Our host's own failure replies, named as the behaviour they stand for. */
function normalizeOurs(outcome: RecordedOutcome): Normalized {
  if (outcome.action !== 'localReply') return { kind: outcome.action };
  if (outcome.details === 'wasm_stalled') return { kind: 'stalled' };
  // Kept with its status: ours fails the VM as cpp-host does (503 `wasm_fail_stream`, and later requests too); a
  // refused configuration answers 500 here, where Envoy rejects the configuration.
  if (outcome.details === 'wasm_fail_stream' || outcome.details === 'wasm_fail_closed') return { kind: 'vmFailed', status: outcome.status };
  return { kind: 'localReply', status: outcome.status, body: outcome.body, headers: outcome.headers };
}

function normalizeTheirs(step: WasmcheckStep): Normalized {
  const local = step.local_response ?? null;
  if (local !== null) {
    if (local.details === 'wasm_fail_stream') return { kind: 'vmFailed', status: local.status };
    return { kind: 'localReply', status: local.status, body: local.body, headers: local.additional_headers };
  }
  if (step.upstream_request) return { kind: 'continue' };
  if (step.vm_failed) return { kind: 'vmFailed', status: 503 };
  return { kind: 'stalled' };
}

function describe(outcome: Normalized): string {
  if (outcome.kind === 'localReply') return `local reply ${outcome.status}`;
  return outcome.kind === 'vmFailed' ? `VM failure ${outcome.status ?? ''}`.trim() : outcome.kind;
}

function lower(pairs: Pairs, skip: ReadonlySet<string>): string[] {
  return pairs.map(([name, value]): [string, string] => [name.toLowerCase(), value])
    .filter(([name]) => !skip.has(name))
    .map(([name, value]) => `${name}: ${value}`)
    .sort();
}

/** Header pairs only one side has (multiset difference), as `name: value` lists; empty strings when equal. */
export function headerDifference(ours: Pairs, theirs: Pairs, skip: ReadonlySet<string> = new Set()): { ours: string; theirs: string } | null {
  const left = lower(ours, skip);
  const right = lower(theirs, skip);
  const onlyOurs: string[] = [];
  const rest = [...right];
  for (const entry of left) {
    const at = rest.indexOf(entry);
    if (at >= 0) rest.splice(at, 1);
    else onlyOurs.push(entry);
  }
  if (onlyOurs.length === 0 && rest.length === 0) return null;
  return { ours: onlyOurs.join(' | ') || '(none)', theirs: rest.join(' | ') || '(none)' };
}

function compareHeaders(out: Difference[], field: string, ours: Pairs, theirs: Pairs, skip?: ReadonlySet<string>): void {
  const diff = headerDifference(ours, theirs, skip);
  if (diff !== null) out.push({ field, ...diff });
}

function compareValue(out: Difference[], field: string, ours: unknown, theirs: unknown): void {
  if (ours !== theirs) out.push({ field, ours: String(ours), theirs: String(theirs) });
}

/** What reaches the client of a local reply in Envoy: the reply's headers, content-type text/plain when it has a
 *  body and none (Envoy's sendLocalReply), then whatever the filter's own response callbacks do to it. */
function localReplyAsSent(headers: Pairs, body: string): Pairs {
  if (body.length === 0 || headers.some(([name]) => name.toLowerCase() === 'content-type')) return headers;
  return [...headers, ['content-type', 'text/plain']];
}

function compareHttpCalls(out: Difference[], ours: RecordedHttpCall[], theirs: WasmcheckStep['http_calls']): void {
  // Calls the host refused (unknown cluster, missing pseudo-headers) never reach our transport: compare those made.
  const made = (theirs ?? []).filter((call) => call.result === 'Ok');
  compareValue(out, 'http calls made', ours.length, made.length);
  ours.forEach((call, i) => {
    const other = made[i];
    if (other === undefined) return;
    compareValue(out, `http call ${i + 1} cluster`, call.cluster, other.cluster);
    compareValue(out, `http call ${i + 1} body`, call.body, other.body);
    // Envoy's httpCall sets content-length from the body (as our fetch transport does on the wire).
    const skip = new Set(call.headers.some(([name]) => name === 'content-length') ? [] : ['content-length']);
    compareHeaders(out, `http call ${i + 1} headers`, call.headers, other.headers, skip);
  });
}

/** Every difference between our host's handling of `request` and cpp-host's report of the same request. */
export function compareRequest(request: RecordedRequest, step: WasmcheckStep): Difference[] {
  const out: Difference[] = [];
  const theirs = normalizeTheirs(step);
  if (request.requestOutcome !== null) {
    const ours = normalizeOurs(request.requestOutcome);
    if (ours.kind === 'pending') return out; // the test never learnt our answer: nothing to hold cpp-host to
    if (ours.kind !== theirs.kind || ours.status !== theirs.status) {
      out.push({ field: 'request outcome', ours: describe(ours), theirs: describe(theirs) });
    } else if (ours.kind === 'localReply' && theirs.kind === 'localReply') {
      compareValue(out, 'local reply body', ours.body, theirs.body);
      compareHeaders(out, 'local reply headers', ours.headers ?? [], theirs.headers ?? [], HOST_RESPONSE_HEADERS);
      // The reply as the client gets it: in Envoy it goes through this filter's own response callbacks.
      const sent = localReplyAsSent(ours.headers ?? [], ours.body ?? '');
      compareHeaders(out, 'local reply headers at the client', sent, (step.response?.headers ?? []).filter(([name]) => name !== ':status'), HOST_RESPONSE_HEADERS);
      compareValue(out, 'local reply body at the client', ours.body, step.response?.body ?? '');
    } else if (ours.kind === 'continue' && request.upstreamHeaders !== null) {
      const given = request.requestHeaders ?? [];
      const skip = new Set([...HOST_REQUEST_HEADERS].filter((name) => !given.some(([key]) => key === name)));
      compareHeaders(out, 'upstream headers', request.upstreamHeaders, step.upstream_request?.headers ?? [], skip);
    }
  }
  if (request.responseOutcome !== null && request.responseHeadersOut !== null && (theirs.kind === 'continue' || request.requestOutcome === null)) {
    const ours = normalizeOurs(request.responseOutcome);
    if (ours.kind === 'continue') {
      if (step.response?.source !== 'upstream') {
        out.push({ field: 'response outcome', ours: 'continue', theirs: `${step.response?.source ?? 'none'} ${step.response?.state ?? ''}`.trim() });
      } else {
        compareHeaders(out, 'response headers', request.responseHeadersOut, step.response.headers ?? [], HOST_RESPONSE_HEADERS);
      }
    } else if (ours.kind === 'localReply') {
      compareValue(out, 'response outcome', `local reply ${ours.status}`, `${step.response?.source ?? 'none'} ${step.response?.headers?.find(([name]) => name === ':status')?.[1] ?? ''}`.trim());
    }
  }
  compareHttpCalls(out, request.httpCalls, step.http_calls);
  return out;
}

/** The end of a wasmcheck report: metrics by name, shared data by key. */
export interface WasmcheckFinal {
  metrics?: Record<string, { type: string; value?: number }>;
  shared_data?: Record<string, { value: string; cas: number }>;
}

/** Counter and gauge values and shared-data values after the last request (CAS tokens are the host's own
 *  numbering and not compared). */
export function compareFinal(ours: RecordedScenario['final'], theirs: WasmcheckFinal): Difference[] {
  const out: Difference[] = [];
  const metrics = Object.entries(theirs.metrics ?? {}).filter(([, metric]) => metric.type !== 'histogram');
  for (const name of new Set([...Object.keys(ours.metrics), ...metrics.map(([name]) => name)])) {
    const value = theirs.metrics?.[name]?.value;
    compareValue(out, `metric ${name}`, ours.metrics[name] ?? 'undefined', value === undefined ? 'undefined' : String(value));
  }
  const shared = theirs.shared_data ?? {};
  for (const key of new Set([...Object.keys(ours.sharedData), ...Object.keys(shared)])) {
    const a = ours.sharedData[key];
    const b = shared[key]?.value;
    if (a !== b) out.push({ field: `shared data ${key}`, ours: a === undefined ? 'absent' : hex(a), theirs: b === undefined ? 'absent' : hex(b) });
  }
  return out;
}

function hex(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('hex');
}
