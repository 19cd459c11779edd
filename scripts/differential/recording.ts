// What the policy tests' recorder (test/helpers/diff-recorder.ts, on with APIP_DIFF_RECORD=<dir>) writes per
// scenario: one plugin as a test loaded it, every request it served, and what our host answered. The differential
// script (scripts/differential.ts) replays each scenario in Envoy's wasm host (wasmcheck) and compares.

export type Pairs = Array<[string, string]>;

/** A callback outcome as our host gave it. `pending`: the module paused and the test never saw it settle. */
export type RecordedOutcome =
  | { action: 'continue' }
  | { action: 'localReply'; status: number; headers: Pairs; body: string; details: string }
  | { action: 'pending' };

export interface RecordedHttpCall {
  cluster: string;
  headers: Pairs;
  body: string;
  timeoutMs: number;
  /** The response the module was given; `failed` when the call failed or timed out (headers=0 for the module). */
  response: { headers: Pairs; body: string } | { failed: true } | null;
}

export interface RecordedRequest {
  kind: 'request';
  /** The clock (ms since the epoch) when the request reached the module. */
  timeMs: number;
  routeName: string;
  sourceAddress: string;
  /** Request headers as given to the module (pseudo-headers included); null when the test drove only the response. */
  requestHeaders: Pairs | null;
  requestBody: string[];
  /** The upstream response headers (with `:status`) the test gave the module, if it drove the response. */
  responseHeadersIn: Pairs | null;
  httpCalls: RecordedHttpCall[];
  /** The request phase (headers, then body chunks): the first local reply, or continue. */
  requestOutcome: RecordedOutcome | null;
  /** The request headers after the request phase continued: what goes upstream. */
  upstreamHeaders: Pairs | null;
  responseOutcome: RecordedOutcome | null;
  /** The response headers after on_response_headers: what reaches the client. */
  responseHeadersOut: Pairs | null;
}

export type RecordedEvent = RecordedRequest | { kind: 'tick' };

export interface RecordedScenario {
  /** `<test file> > <test name> #<plugin index in the test>`. */
  name: string;
  module: string;
  /** Plugin configuration bytes (proxy_on_configure), base64. */
  configuration: string;
  vmConfiguration: string;
  rootId: string;
  startTimeMs: number;
  /** Whether our host accepted the configuration. */
  isConfigured: boolean;
  /** Whether the test gave the plugin an http-call transport (without one every call is refused). */
  hasHttpCaller: boolean;
  /** Why wasmcheck cannot replay it faithfully (empty: it can). */
  unrenderable: string[];
  events: RecordedEvent[];
  /** After the last request: counter and gauge values by metric name, and shared data (latin1 text of the bytes)
   *  by key, as wasmcheck reports them. */
  final: { metrics: Record<string, string>; sharedData: Record<string, string> };
}
