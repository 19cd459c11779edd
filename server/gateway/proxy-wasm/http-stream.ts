// One request through one plugin: the HTTP context of the proxy-wasm ABI. Created by Plugin.createHttpContext.
import { Action } from './abi.ts';
import { failClosedReply, failStreamReply, stalledReply } from './failures.ts';
import { HeaderMap } from './header-map.ts';
import { type CallScope, emptyScope } from './host-binding.ts';
import { type StreamOwner, StreamState } from './stream-state.ts';
import type { BodyOutcome, HeaderList, HeadersOutcome, LocalReply, RequestInfo } from './types.ts';
import type { GuestCallback, PluginVm } from './vm.ts';

type Final = { action: 'continue' } | LocalReply;

/** What a stream needs from its plugin (implemented in plugin.ts). */
export interface StreamHost {
  /** Calls `callback(a, b, c)` on `vm` in `scope` (fixed arity: no closure or argument array per call); 'trap'
   *  when it trapped (the VM is then failed: see plugin.ts). */
  runInStream(vm: PluginVm, scope: CallScope, callback: GuestCallback, a: number, b: number, c: number): number | undefined | 'trap';
  readonly isConfigured: boolean;
  /** The VM failed (trapped) while serving: every stream fails closed until the plugin is replaced. */
  readonly isFailed: boolean;
  /** The VM currently serving new streams (a crash replaces it). */
  isCurrent(vm: PluginVm): boolean;
  /** Takes back a finished stream for reuse by a later createHttpContext. */
  recycle(stream: HttpStream): void;
}

const CONTINUE: Final = { action: 'continue' };
const NO_INFO: RequestInfo = Object.freeze({});

function toHeaderMap(headers: HeaderMap | HeaderList): HeaderMap {
  return headers instanceof HeaderMap ? headers : new HeaderMap(headers);
}

export class HttpStream implements StreamOwner {
  readonly state: StreamState;
  /** The scope of every guest call for this stream, built once. */
  private readonly scope: CallScope;
  private failure: LocalReply | null = null;
  private waiter: ((outcome: Final) => void) | null = null;
  private isDone = false;
  /** The last body callback asked to buffer: the next chunk is appended, not a replacement. */
  private isBufferingRequest = false;
  private isBufferingResponse = false;
  private isReleased = false;

  constructor(
    private readonly host: StreamHost,
    private vm: PluginVm,
    contextId: number,
    info: RequestInfo,
    timeNanos: bigint,
  ) {
    this.state = new StreamState(contextId, null, info, timeNanos);
    this.scope = emptyScope(contextId);
    this.scope.stream = this.state;
    this.start();
  }

  /** proxy_on_context_create for the stream the state describes. */
  private start(): void {
    const { host, vm, state } = this;
    if (host.isFailed) {
      // cpp-host: a failed VM runs no callback; Envoy's filter answers each stream 503 (Context::failStream).
      this.failure = failStreamReply();
      return;
    }
    if (!host.isConfigured) {
      this.failure = failClosedReply();
      return;
    }
    state.owner = this;
    vm.binding.streams.set(state.contextId, state);
    const result = host.runInStream(vm, this.scope, vm.exports.proxy_on_context_create, state.contextId, vm.binding.rootContextId, 0);
    if (result === 'trap') this.failure = failStreamReply();
  }

  /** Starts this (released) object as a new stream: the plugin reuses finished streams instead of allocating a
   *  stream, its state and its call scope per request. */
  restart(vm: PluginVm, contextId: number, info: RequestInfo, timeNanos: bigint): void {
    this.vm = vm;
    this.state.reset(contextId, info, timeNanos);
    this.scope.contextId = contextId;
    this.failure = null;
    this.waiter = null;
    this.isDone = false;
    this.isBufferingRequest = false;
    this.isBufferingResponse = false;
    this.isReleased = false;
    this.start();
  }

  /**
   * Hands a finished stream (onDone called) back to its plugin for reuse. Optional: for owners that drop every
   * reference to the stream right here (the gateway's filter chain); nothing of it may be read afterwards.
   */
  release(): void {
    if (!this.isDone || this.isReleased || this.waiter !== null) return;
    this.isReleased = true;
    // A spare stream must not keep the finished request's objects (headers, bodies, request info) alive.
    this.state.reset(this.state.contextId, NO_INFO, 0n);
    this.host.recycle(this);
  }

  get contextId(): number { return this.state.contextId; }
  /** The host answered this stream in the module's place (VM failure, refused configuration, stall): its
   *  callbacks no longer run, and a local reply passes it by. */
  get hasFailed(): boolean { return this.failure !== null; }
  get requestHeaders(): HeaderMap { return this.state.requestHeaders; }
  get responseHeaders(): HeaderMap { return this.state.responseHeaders; }
  get requestBody(): Uint8Array { return this.state.requestBody; }
  get responseBody(): Uint8Array { return this.state.responseBody; }

  /** proxy_on_request_headers. `headers` is kept and mutated in place (share one HeaderMap along a chain). */
  onRequestHeaders(headers: HeaderMap | HeaderList, endOfStream: boolean): HeadersOutcome {
    const state = this.state;
    state.requestHeaders = toHeaderMap(headers);
    state.requestBodyEnded = endOfStream;
    state.requestHeadersLive = true;
    const outcome = this.headersCallback(this.vm.exports.proxy_on_request_headers, state.requestHeaders.size, endOfStream);
    // Envoy drops its pointer once the callback continues; a pause keeps it until the module continues.
    if (outcome.action === 'continue') state.requestHeadersLive = false;
    return outcome;
  }

  /** proxy_on_response_headers (`:status` among the headers). */
  onResponseHeaders(headers: HeaderMap | HeaderList, endOfStream: boolean): HeadersOutcome {
    const state = this.state;
    state.responseHeaders = toHeaderMap(headers);
    state.responseBodyEnded = endOfStream;
    state.responseHeadersLive = true;
    const outcome = this.headersCallback(this.vm.exports.proxy_on_response_headers, state.responseHeaders.size, endOfStream);
    if (outcome.action === 'continue') state.responseHeadersLive = false;
    return outcome;
  }

  /** proxy_on_request_body with the next chunk; after `buffer`, chunks accumulate until endOfStream. */
  onRequestBody(chunk: Uint8Array, endOfStream: boolean): BodyOutcome {
    this.state.requestBody = this.isBufferingRequest ? concat(this.state.requestBody, chunk) : chunk;
    this.state.requestBodyEnded = endOfStream;
    const outcome = this.bodyCallback(this.vm.exports.proxy_on_request_body, this.state.requestBody.length, endOfStream);
    this.isBufferingRequest = outcome.action === 'buffer';
    return outcome;
  }

  onResponseBody(chunk: Uint8Array, endOfStream: boolean): BodyOutcome {
    this.state.responseBody = this.isBufferingResponse ? concat(this.state.responseBody, chunk) : chunk;
    this.state.responseBodyEnded = endOfStream;
    const outcome = this.bodyCallback(this.vm.exports.proxy_on_response_body, this.state.responseBody.length, endOfStream);
    this.isBufferingResponse = outcome.action === 'buffer';
    return outcome;
  }

  /** proxy_on_log, proxy_on_done, proxy_on_delete: the stream is over (also after a local reply). Envoy's order
   *  (doDeferredStreamDestroy: access log first, then the filters' destruction); on_log reads the access log's
   *  copies of the headers, on_done and on_delete no map. */
  onDone(): void {
    if (this.isDone) return;
    this.isDone = true;
    const { vm, state, host, scope } = this;
    state.requestHeadersLive = false;
    state.responseHeadersLive = false;
    if (this.failure === null && !host.isFailed && host.isCurrent(vm)) {
      const id = state.contextId;
      const { proxy_on_done: done, proxy_on_log: log, proxy_on_delete: remove } = vm.exports;
      if (log !== undefined) {
        state.isLogPhase = true;
        host.runInStream(vm, scope, log, id, 0, 0);
        state.isLogPhase = false;
      }
      if (done !== undefined && !host.isFailed) host.runInStream(vm, scope, done, id, 0, 0);
      if (remove !== undefined && !host.isFailed) host.runInStream(vm, scope, remove, id, 0, 0);
    }
    vm.binding.streams.delete(state.contextId);
    state.owner = null;
    if (this.waiter !== null) this.settle(this.failure ?? stalledReply());
  }

  /** Called by the plugin after a proxy_on_http_call_response for this stream ran. */
  afterHttpCallResponse(trapped: boolean): void {
    if (trapped) {
      this.failure = failStreamReply();
      this.settle(this.failure);
      return;
    }
    const { state } = this;
    if (state.localReply !== null) this.settle(this.takeReply(state.localReply));
    else if (state.continueRequested) {
      state.requestHeadersLive = false;
      state.responseHeadersLive = false;
      this.settle(CONTINUE);
    } else if (state.pendingCallCount === 0) this.settle(stalledReply());
  }

  /** Hands the module's local reply to the chain, which sends it through this stream's own response callbacks
   *  (Envoy's sendLocalReplyViaFilterChain); a reply the module sends there is a new one (sent directly). */
  private takeReply(reply: LocalReply): LocalReply {
    this.state.localReply = null;
    return reply;
  }

  private settle(outcome: Final): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(outcome);
  }

  private call(callback: GuestCallback | undefined, size: number, endOfStream: boolean): number | LocalReply {
    if (this.failure !== null) return this.failure;
    const state = this.state;
    if (state.localReply !== null) return this.takeReply(state.localReply);
    if (callback === undefined) return Action.Continue;
    if (this.host.isFailed || !this.host.isCurrent(this.vm)) return (this.failure = failStreamReply());
    state.continueRequested = false;
    const result = this.host.runInStream(this.vm, this.scope, callback, state.contextId, size, endOfStream ? 1 : 0);
    if (result === 'trap') return (this.failure = failStreamReply());
    if (state.localReply !== null) return this.takeReply(state.localReply);
    return result ?? Action.Continue;
  }

  private headersCallback(callback: GuestCallback | undefined, count: number, endOfStream: boolean): HeadersOutcome {
    const result = this.call(callback, count, endOfStream);
    if (typeof result !== 'number') return result;
    if (result === Action.Continue || this.state.continueRequested) return CONTINUE;
    // Paused: only an outstanding http_call can resume it (Envoy would wait for its stream timeout instead).
    if (this.state.pendingCallCount === 0) return (this.failure = stalledReply());
    return { action: 'pause', resume: new Promise<Final>((resolve) => { this.waiter = resolve; }) };
  }

  private bodyCallback(callback: GuestCallback | undefined, size: number, endOfStream: boolean): BodyOutcome {
    const result = this.call(callback, size, endOfStream);
    if (typeof result !== 'number') return result;
    if (result === Action.Continue) return CONTINUE;
    // Stopping at the end of the body would hang the stream (no more data can come): pass the buffered body on.
    return endOfStream ? CONTINUE : { action: 'buffer' };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
