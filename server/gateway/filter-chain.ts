// The HTTP filter chain of one request, over the proxy-wasm host's streams. Order is Envoy's: decoder callbacks
// (request headers, request body) in chain order, encoder callbacks (response headers, response body) in reverse
// order; https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#filter-ordering
// The first local reply stops the chain and the upstream is not called; a local reply of the request phase
// (headers or body) then goes through the response callbacks of the filter that replied and of those before it,
// last to first, as Envoy's sendLocalReplyViaFilterChain does (encode-local-reply.ts). A filter that failed to load answers
// in its place in the chain. Every phase is synchronous unless a filter pauses (awaits an http_call).
// The gateway runs the headers phases and the end of streams in batches per event-loop turn (requestHeadersBatched,
// responseHeadersBatched, done): each request sees exactly the callbacks it would alone, in the same order, but the
// batch goes through one module after the other, which keeps each module hot in the CPU caches.
import { encodeLocalReplyThrough } from './encode-local-reply.ts';
import { failClosedReply } from './proxy-wasm/failures.ts';
import type { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HttpStream } from './proxy-wasm/http-stream.ts';
import type { Plugin } from './proxy-wasm/plugin.ts';
import type { HeadersOutcome, LocalReply, RequestInfo } from './proxy-wasm/types.ts';
import { TurnBatcher } from './turn-batcher.ts';

/** One wasm filter of the runtime configuration: a running plugin, or one whose module could not be loaded. */
export type ChainFilter =
  | { readonly kind: 'plugin'; readonly name: string; readonly plugin: Plugin }
  | { readonly kind: 'failed'; readonly name: string; readonly reason: string };

export type PhaseOutcome = { action: 'continue' } | LocalReply;
/** Body data to pass on (`null` while a filter buffers), or a local reply (a promise of it while an earlier
 *  filter's response phase, which the reply goes through, awaits an http_call). */
export type BodyPhaseOutcome = { action: 'data'; data: Uint8Array | null } | LocalReply | Promise<LocalReply>;

const CONTINUE: PhaseOutcome = { action: 'continue' };

/** Sees each module's request headers callback (tracing.ts); null on untraced requests, which pay one check. */
export interface ChainObserver {
  moduleStarted(position: number, name: string): void;
  /** The module's outcome: a pause settles later; a rejected promise is a host failure. */
  moduleDecided(position: number, outcome: HeadersOutcome | Promise<never>): void;
}

/** Receives the outcome of the request headers phase started with requestHeadersBatched. */
export interface RequestHeadersListener {
  afterRequestHeaders(outcome: PhaseOutcome | Promise<PhaseOutcome>): void;
}

/** Receives the outcome of the response headers phase started with responseHeadersBatched. */
export interface ResponseHeadersListener {
  /** The whole response body when it has already arrived with its end (the common case), else null: the batch
   *  then runs its body callbacks too, filter by filter. */
  completeBody(): Uint8Array | null;
  /** `body`: what the body callbacks left of completeBody() (false: a filter answered a local reply during the
   *  body, which can only reset the stream), or null when the batch did not run them. */
  afterResponseHeaders(outcome: PhaseOutcome | Promise<PhaseOutcome>, body: Uint8Array | false | null): void;
}

/** A headers callback of a batch step (`request`: decoder, else encoder). A host bug fails this request only (its
 *  listener reports the rejection), never the rest of the batch. */
function guarded(stream: HttpStream, request: boolean, headers: HeaderMap, endOfStream: boolean): HeadersOutcome | Promise<never> {
  try {
    return request ? stream.onRequestHeaders(headers, endOfStream) : stream.onResponseHeaders(headers, endOfStream);
  } catch (error: unknown) {
    return Promise.reject(error);
  }
}

export class FilterChainRun {
  private readonly streams: HttpStream[] = [];
  /** A filter that could not load: requests reaching it fail closed. */
  private readonly failure: LocalReply | null = null;
  /** How many filters get a stream: those before the first filter that could not load. */
  private readonly width: number;
  private hasStreams = false;
  private isDone = false;
  // The batched request headers phase (requestHeadersBatched), kept here: no entry object per request.
  private batchHeaders: HeaderMap | null = null;
  private batchEndOfStream = false;
  private batchListener: RequestHeadersListener | null = null;
  private batchOutcome: PhaseOutcome | Promise<PhaseOutcome> | null = null;
  // The batched response headers phase (responseHeadersBatched).
  private responseHeadersMap: HeaderMap | null = null;
  private responseEndOfStream = false;
  private responseListener: ResponseHeadersListener | null = null;
  private responseOutcome: PhaseOutcome | Promise<PhaseOutcome> | null = null;
  private responseBodyData: Uint8Array | false | null = null;

  constructor(
    private readonly filters: readonly ChainFilter[], private readonly info: RequestInfo, private readonly batches: ChainBatches,
    private readonly observer: ChainObserver | null = null,
  ) {
    let width = 0;
    while (width < filters.length && (filters[width] as ChainFilter).kind === 'plugin') width++;
    this.width = width;
    if (width < filters.length) this.failure = failClosedReply();
  }

  /** proxy_on_context_create of filter `position` (Envoy creates every filter's context when the stream starts). */
  private createStream(position: number): void {
    const filter = this.filters[position] as Extract<ChainFilter, { kind: 'plugin' }>;
    this.streams.push(filter.plugin.createHttpContext(this.info));
  }

  private createStreams(): void {
    if (this.hasStreams) return;
    this.hasStreams = true;
    for (let i = 0; i < this.width; i++) this.createStream(i);
  }

  /** Decoder headers callbacks in chain order. Synchronous unless a filter pauses (it awaits an http_call): then
   *  a promise of the outcome, the remaining filters running after it resumes. */
  requestHeaders(headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    this.createStreams();
    return this.requestHeadersFrom(0, headers, endOfStream);
  }

  /**
   * requestHeaders for a request that arrived with others in this event-loop turn: the contexts and request
   * headers callbacks of every such request run at the end of the turn filter by filter (all requests through
   * the first module, then the second...), each request still seeing its filters in chain order. Under load every
   * request otherwise finds each module's code and memory evicted from the CPU caches by the others; batched, a
   * module runs hot for all of them. Then `listener` gets each outcome, in arrival order.
   */
  requestHeadersBatched(headers: HeaderMap, endOfStream: boolean, listener: RequestHeadersListener): void {
    this.batchHeaders = headers;
    this.batchEndOfStream = endOfStream;
    this.batchListener = listener;
    this.batchOutcome = null;
    this.batches.requests.add(this);
  }

  /** Step `position` of the batched request headers phase (see runRequestBatch). */
  private batchStep(position: number, createOnly: boolean): void {
    if (this.isDone || position >= this.width) return;
    if (createOnly) {
      if (position === 0) this.hasStreams = true;
      this.createStream(position);
      return;
    }
    if (this.batchOutcome !== null) return;
    const streams = this.streams;
    const headers = this.batchHeaders as HeaderMap;
    const endOfStream = this.batchEndOfStream;
    const observer = this.observer;
    if (observer !== null) observer.moduleStarted(position, (this.filters[position] as ChainFilter).name);
    const outcome = guarded(streams[position] as HttpStream, true, headers, endOfStream);
    if (observer !== null) observer.moduleDecided(position, outcome);
    if (outcome instanceof Promise) this.batchOutcome = outcome;
    else if (outcome.action === 'localReply') this.batchOutcome = encodeLocalReplyThrough(streams, position + 1, outcome);
    else if (outcome.action === 'pause') {
      this.batchOutcome = outcome.resume.then((settled) => (settled.action === 'localReply'
        ? encodeLocalReplyThrough(streams, position + 1, settled)
        : this.requestHeadersFrom(position + 1, headers, endOfStream)));
    }
  }

  /** The end of the batched phase: the outcome to the listener. */
  private batchFinish(): void {
    const listener = this.batchListener;
    this.batchListener = null;
    this.batchHeaders = null;
    if (this.isDone || listener === null) return;
    const outcome = this.batchOutcome ?? (this.failure === null ? CONTINUE : this.failLoadFailed());
    this.batchOutcome = null;
    listener.afterRequestHeaders(outcome);
  }

  /** Runs a batch of requestHeadersBatched calls: every context filter by filter, then every request headers
   *  callback filter by filter, then the outcomes in arrival order. */
  static runBatch(batch: readonly FilterChainRun[]): void {
    let width = 0;
    for (const run of batch) if (run.width > width) width = run.width;
    for (let position = 0; position < width; position++) for (const run of batch) run.batchStep(position, true);
    for (let position = 0; position < width; position++) for (const run of batch) run.batchStep(position, false);
    for (const run of batch) run.batchFinish();
  }

  /** The reply of the first filter that could not load, in its place in the chain: every filter before it encodes it. */
  private failLoadFailed(): LocalReply | Promise<LocalReply> {
    const failure = this.failure as LocalReply;
    const observer = this.observer;
    if (observer !== null) {
      observer.moduleStarted(this.width, (this.filters[this.width] as ChainFilter).name);
      observer.moduleDecided(this.width, failure);
    }
    return encodeLocalReplyThrough(this.streams, this.streams.length, failure);
  }

  private requestHeadersFrom(first: number, headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    const streams = this.streams;
    const observer = this.observer;
    for (let i = first; i < streams.length; i++) {
      // The untraced loop stays as it was: one call per filter.
      const outcome = observer === null ? (streams[i] as HttpStream).onRequestHeaders(headers, endOfStream) : this.observedRequestHeaders(observer, i, headers, endOfStream);
      if (outcome.action === 'continue') continue;
      if (outcome.action === 'localReply') return encodeLocalReplyThrough(streams, i + 1, outcome);
      return outcome.resume.then((settled) => (settled.action === 'localReply'
        ? encodeLocalReplyThrough(streams, i + 1, settled)
        : this.requestHeadersFrom(i + 1, headers, endOfStream)));
    }
    // A filter that could not load answers in its place: every filter before it encodes the reply.
    return this.failure === null ? CONTINUE : this.failLoadFailed();
  }

  private observedRequestHeaders(observer: ChainObserver, position: number, headers: HeaderMap, endOfStream: boolean): HeadersOutcome {
    observer.moduleStarted(position, (this.filters[position] as ChainFilter).name);
    const outcome = (this.streams[position] as HttpStream).onRequestHeaders(headers, endOfStream);
    observer.moduleDecided(position, outcome);
    return outcome;
  }

  requestBody(chunk: Uint8Array, endOfStream: boolean): BodyPhaseOutcome {
    let data = chunk;
    const streams = this.streams;
    for (let i = 0; i < streams.length; i++) {
      const stream = streams[i] as HttpStream;
      const outcome = stream.onRequestBody(data, endOfStream);
      if (outcome.action === 'localReply') return encodeLocalReplyThrough(streams, i + 1, outcome);
      if (outcome.action === 'buffer') return { action: 'data', data: null };
      data = stream.requestBody;
    }
    return { action: 'data', data };
  }

  /** responseHeaders for a response that arrived with others in this event-loop turn, run at the end of the turn
   *  filter by filter (reverse chain order), as requestHeadersBatched; then `listener` gets each outcome. */
  responseHeadersBatched(headers: HeaderMap, endOfStream: boolean, listener: ResponseHeadersListener): void {
    this.responseHeadersMap = headers;
    this.responseEndOfStream = endOfStream;
    this.responseListener = listener;
    this.responseOutcome = null;
    this.batches.responses.add(this);
  }

  /** Step `position` of the batched response headers phase (positions run last to first). */
  private responseStep(position: number): void {
    if (this.isDone || this.responseOutcome !== null || position >= this.streams.length) return;
    const headers = this.responseHeadersMap as HeaderMap;
    const endOfStream = this.responseEndOfStream;
    const outcome = guarded(this.streams[position] as HttpStream, false, headers, endOfStream);
    if (outcome instanceof Promise || outcome.action === 'localReply') this.responseOutcome = outcome;
    else if (outcome.action === 'pause') {
      this.responseOutcome = outcome.resume.then((settled) => (settled.action === 'localReply'
        ? settled
        : this.responseHeadersFrom(position - 1, headers, endOfStream)));
    }
  }

  /** The body step of the batch: after the headers phase continued, the complete body through filter
   *  `position` with end_of_stream (positions run last to first). */
  private responseBodyStep(position: number): void {
    const data = this.responseBodyData;
    if (this.isDone || data === null || data === false || position >= this.streams.length) return;
    const stream = this.streams[position] as HttpStream;
    const outcome = stream.onResponseBody(data, true);
    // With end_of_stream a filter cannot buffer (the host passes the body on), so this is continue or a reply.
    this.responseBodyData = outcome.action === 'localReply' ? false : stream.responseBody;
  }

  private responseFinish(): void {
    const listener = this.responseListener;
    this.responseListener = null;
    this.responseHeadersMap = null;
    const body = this.responseBodyData;
    this.responseBodyData = null;
    if (this.isDone || listener === null) return;
    const outcome = this.responseOutcome ?? CONTINUE;
    this.responseOutcome = null;
    listener.afterResponseHeaders(outcome, body);
  }

  /** Runs a batch of responseHeadersBatched calls filter by filter, then the outcomes in arrival order. */
  static runResponseBatch(batch: readonly FilterChainRun[]): void {
    let width = 0;
    for (const run of batch) if (run.streams.length > width) width = run.streams.length;
    for (let position = width - 1; position >= 0; position--) for (const run of batch) run.responseStep(position);
    let withBody = 0;
    for (const run of batch) {
      if (run.isDone || run.responseOutcome !== null || run.responseListener === null) continue;
      run.responseBodyData = run.responseListener.completeBody();
      if (run.responseBodyData !== null) withBody++;
    }
    if (withBody > 0) {
      for (let position = width - 1; position >= 0; position--) for (const run of batch) run.responseBodyStep(position);
    }
    for (const run of batch) run.responseFinish();
  }

  /** Encoder headers callbacks in reverse order; synchronous unless a filter pauses, as requestHeaders. A local
   *  reply here replaces the response as it is (Envoy sends a local reply from an encoder filter directly, since
   *  the response is already being encoded). */
  responseHeaders(headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    return this.responseHeadersFrom(this.streams.length - 1, headers, endOfStream);
  }

  private responseHeadersFrom(first: number, headers: HeaderMap, endOfStream: boolean): PhaseOutcome | Promise<PhaseOutcome> {
    const streams = this.streams;
    for (let i = first; i >= 0; i--) {
      const outcome = (streams[i] as HttpStream).onResponseHeaders(headers, endOfStream);
      if (outcome.action === 'continue') continue;
      if (outcome.action === 'localReply') return outcome;
      return outcome.resume.then((settled) => (settled.action === 'localReply' ? settled : this.responseHeadersFrom(i - 1, headers, endOfStream)));
    }
    return CONTINUE;
  }

  /** Response body through the encoder callbacks; a local reply this late can only reset the stream. */
  responseBody(chunk: Uint8Array, endOfStream: boolean): { action: 'data'; data: Uint8Array | null } | LocalReply {
    let data = chunk;
    for (let i = this.streams.length - 1; i >= 0; i--) {
      const stream = this.streams[i];
      if (stream === undefined) continue;
      const outcome = stream.onResponseBody(data, endOfStream);
      if (outcome.action === 'localReply') return outcome;
      if (outcome.action === 'buffer') return { action: 'data', data: null };
      data = stream.responseBody;
    }
    return { action: 'data', data };
  }

  /** proxy_on_done / on_log / on_delete for every stream; always called once per request. The calls run at the
   *  end of this event-loop turn, with those of every other request that ended in it (see finishStreams). */
  done(): void {
    if (this.isDone) return;
    this.isDone = true;
    if (this.streams.length > 0) this.batches.finishing.add(this.streams);
  }
}

// Streams end in batches, as Envoy destroys a finished stream (its wasm contexts get on_done, on_log and
// on_delete) in the deferred-delete pass at the end of the event-loop iteration rather than in the middle of the
// response. Running the batch filter by filter keeps one module's code and memory in the CPU caches for all its
// calls instead of alternating between modules for every request; under load that costs measurably less. Then
// the stream objects go back to their plugins for reuse.
function finishStreams(batch: readonly HttpStream[][]): void {
  let width = 0;
  for (const streams of batch) if (streams.length > width) width = streams.length;
  for (let position = 0; position < width; position++) {
    for (const streams of batch) streams[position]?.onDone();
  }
  for (const streams of batch) for (const stream of streams) stream.release();
}

/** The per-turn batches of the filter chains of one gateway (its proxy handler owns them): request headers,
 *  response headers and the ends of streams. Benchmarks and tests that drive chains synchronously call
 *  `finishing.runNow()`. */
export class ChainBatches {
  readonly requests = new TurnBatcher<FilterChainRun>((batch) => FilterChainRun.runBatch(batch));
  readonly responses = new TurnBatcher<FilterChainRun>((batch) => FilterChainRun.runResponseBatch(batch));
  readonly finishing = new TurnBatcher<HttpStream[]>(finishStreams);
}
