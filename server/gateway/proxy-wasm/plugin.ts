/**
 * The proxy-wasm ABI v0.2.1 host (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1) for the
 * embedded gateway: it runs the same policy `.wasm` files Envoy runs, with Envoy's behaviour where the spec leaves
 * room (property paths split on NUL only, local replies stop the chain, shared data per VM id survives reconfigure).
 *
 * API (nothing else in server/ is imported here):
 *
 *   const plugin = await loadPlugin({ name, wasm, configuration, vmId, logger, clock, httpCall });
 *   plugin.reconfigure(json)                  // proxy_on_configure again; shared data and CAS tokens are kept
 *   const stream = plugin.createHttpContext({ routeName, clusterName, sourceAddress, ... });
 *   stream.onRequestHeaders(headers, endOfStream)
 *     -> { action: 'continue' }                              // headers (a HeaderMap) mutated in place
 *      | { action: 'localReply', status, headers, body, details }   // the chain stops; never call the upstream
 *      | { action: 'pause', resume: Promise<continue | localReply> } // the module awaits an http_call
 *   stream.onRequestBody(chunk, endOfStream) -> continue | buffer | localReply
 *   stream.onResponseHeaders(headers, endOfStream), stream.onResponseBody(chunk, endOfStream)
 *   stream.onDone()                           // always, also after a local reply
 *   stream.release()                          // optional, after onDone: the plugin reuses the object (the caller
 *                                             // must drop it; the gateway's chain does, per-request garbage less)
 *   plugin.tick(); plugin.metrics.snapshot(); plugin.close();
 *
 * Several plugins in order: the gateway's FilterChainRun (../filter-chain.ts). A local reply there goes back through
 * the response callbacks of the plugins before the replying one, last to first, as Envoy's encoder filters see
 * local replies (../encode-local-reply.ts).
 * Failures never escape. A module that traps or runs out of memory fails its VM, as in proxy-wasm-cpp-host: that
 * request and every later one get a 503 local reply (details `wasm_fail_stream`, Envoy's fail-closed answer)
 * without running the VM, timers stop, one error log line; the gateway replaces the plugin at its next
 * configuration swap (runtime-config.ts), as cpp-host's getOrCreateThreadLocalPlugin does. A stream the module
 * paused with nothing that could resume it gets a 500 (`wasm_stalled`). A plugin whose configuration was refused
 * answers every request with a 500 (`wasm_fail_closed`).
 *
 * Per-request cost (bench/policies.ts): released streams are reused (no stream, state and scope objects per
 * request); live streams sit in a slot array by context id; guest calls take their arguments directly (no closure or array per call);
 * header maps and strings are written straight into the module's allocation; short strings the module passes in
 * (header names, property paths, shared-data keys) are interned; stream state the request does not use (trailers,
 * custom properties, pending calls) is created on first use.
 *
 * Known gaps: CPU time is not bounded (a module looping forever blocks the event loop); gRPC calls and foreign
 * functions answer UNIMPLEMENTED.
 */
import { Status } from './abi.ts';
import { systemClock } from './clock.ts';
import { encodeUtf8 } from './utf8.ts';
import { type CallScope, emptyScope, type HostServices } from './host-binding.ts';
import { HttpStream, type StreamHost } from './http-stream.ts';
import type { StreamState } from './stream-state.ts';
import { MetricsRegistry } from './metrics.ts';
import { type SharedDataStore, sharedDataForVm } from './shared-data.ts';
import { processSharedQueues, type SharedQueues } from './shared-queues.ts';
import type { Clock, HttpCaller, HttpCallRequest, HttpCallResponse, PolicyLogger, RequestInfo } from './types.ts';
import { type GuestCallback, ModuleRejectedError, PluginVm, validateModule } from './vm.ts';

export interface LoadPluginOptions {
  /** plugin_name; also used in logs. */
  name: string;
  /** The compiled module's bytes, or a WebAssembly.Module compiled once and shared. */
  wasm: Uint8Array | WebAssembly.Module;
  /** The plugin configuration (JSON for our policies). */
  configuration: string | Uint8Array;
  /** VM configuration passed to proxy_on_vm_start. @default "" */
  vmConfiguration?: string | Uint8Array;
  /** Plugins with the same VM id share shared data and queues. @default name */
  vmId?: string;
  /** plugin_root_id. @default "" */
  rootId?: string;
  logger: PolicyLogger;
  /** @default the system clock */
  clock?: Clock;
  /** Performs proxy_http_call requests; without it every http_call is refused as an unknown upstream. */
  httpCall?: HttpCaller;
  /** @default the process-wide store of `vmId` (a data plane passes its own: counters are per data plane) */
  sharedData?: SharedDataStore;
  /** @default the process-wide queues */
  queues?: SharedQueues;
  /** Linear memory beyond this fails the VM, as a trap does. @default 128 MiB */
  maxMemoryBytes?: number;
}

export interface Plugin {
  readonly name: string;
  readonly vmId: string;
  /** False after the module refused its configuration (or failed to start): requests fail closed. */
  readonly isConfigured: boolean;
  /** True once the VM trapped while serving: requests fail closed (503) until the plugin is replaced. */
  readonly isFailed: boolean;
  readonly metrics: MetricsRegistry;
  /** Calls proxy_on_configure with a new configuration; false when the module refused it. */
  reconfigure(configuration: string | Uint8Array): boolean;
  /** A new HTTP context (proxy_on_context_create) for one request. */
  createHttpContext(info?: RequestInfo): HttpStream;
  /** Runs proxy_on_tick now (timers also run it every tick period). */
  tick(): void;
  /** Stops timers; streams still open fail. */
  close(): void;
}

const ROOT_CONTEXT_ID = 1;
const DEFAULT_MAX_MEMORY = 128 * 1024 * 1024;
/** Enough for the streams in flight at once under load; beyond that, finished streams are left to the GC. */
const MAX_SPARE_STREAMS = 256;

function bytesOf(value: string | Uint8Array | undefined): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  return typeof value === 'string' ? encodeUtf8(value) : value;
}

class LoadedPlugin implements Plugin, StreamHost {
  readonly name: string;
  readonly vmId: string;
  readonly metrics = new MetricsRegistry();
  isConfigured = false;
  isFailed = false;
  private vm: PluginVm;
  private configuration: Uint8Array;
  private readonly vmConfiguration: Uint8Array;
  private readonly services: HostServices;
  private readonly logger: PolicyLogger;
  private readonly clock: Clock;
  private readonly maxMemoryBytes: number;
  private nextContextId = ROOT_CONTEXT_ID + 1;
  /** True while a VM runs its start sequence: a trap then must not restart it again (crash loop). */
  private isStarting = false;
  private nextToken = 1;
  /** What proxy_get_status reports in an http call response: Envoy's root Context status_code_, set to
   *  BrokenConnection by a failed call (message "reset" during that callback) and never reset by a success. */
  private callStatusCode = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Released streams, reused by createHttpContext (LIFO: the most recently used memory first). */
  private readonly spareStreams: HttpStream[] = [];

  constructor(private readonly module: WebAssembly.Module, options: LoadPluginOptions) {
    this.name = options.name;
    this.vmId = options.vmId ?? options.name;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.maxMemoryBytes = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
    this.configuration = bytesOf(options.configuration);
    this.vmConfiguration = bytesOf(options.vmConfiguration);
    const httpCall = options.httpCall;
    this.services = {
      plugin: { name: this.name, rootId: options.rootId ?? '', vmId: this.vmId },
      logger: this.logger,
      clock: this.clock,
      sharedData: options.sharedData ?? sharedDataForVm(this.vmId),
      queues: options.queues ?? processSharedQueues,
      metrics: this.metrics,
      startHttpCall: (contextId, request) => (httpCall ? this.startHttpCall(httpCall, contextId, request) : undefined),
      setTickPeriod: (ms) => this.setTickPeriod(ms),
      notifyQueueReady: (queueId) => this.runInRoot((vm) => vm.exports.proxy_on_queue_ready?.(ROOT_CONTEXT_ID, queueId)),
    };
    this.vm = this.startVm();
  }

  /** Instantiates a VM and runs the start sequence: root context, proxy_on_vm_start, proxy_on_configure. */
  private startVm(): PluginVm {
    const vm = new PluginVm(this.module, this.services, ROOT_CONTEXT_ID);
    this.vm = vm;
    this.isConfigured = false;
    this.isStarting = true;
    try {
      const started = this.runInRoot((current) => {
        current.exports.proxy_on_context_create(ROOT_CONTEXT_ID, 0);
        current.binding.scope.vmConfiguration = this.vmConfiguration;
        return current.exports.proxy_on_vm_start?.(ROOT_CONTEXT_ID, this.vmConfiguration.length) ?? 1;
      });
      if (started !== 1) {
        this.logger.error({ plugin: this.name }, 'proxy-wasm vm failed to start');
        return vm;
      }
      this.configure(this.configuration);
    } finally {
      this.isStarting = false;
    }
    return vm;
  }

  private configure(configuration: Uint8Array): boolean {
    const result = this.runInRoot((vm) => {
      vm.binding.scope.pluginConfiguration = configuration;
      return vm.exports.proxy_on_configure?.(ROOT_CONTEXT_ID, configuration.length) ?? 1;
    });
    this.isConfigured = result === 1;
    if (!this.isConfigured) this.logger.error({ plugin: this.name }, 'proxy-wasm plugin refused its configuration');
    return this.isConfigured;
  }

  reconfigure(configuration: string | Uint8Array): boolean {
    if (this.isFailed) return false;
    this.configuration = bytesOf(configuration);
    return this.configure(this.configuration);
  }

  createHttpContext(info: RequestInfo = {}): HttpStream {
    const contextId = this.nextContextId;
    this.nextContextId = this.nextContextId >= 0x7fffffff ? ROOT_CONTEXT_ID + 1 : this.nextContextId + 1;
    const timeNanos = info.timeNanos ?? this.clock.nowNanos();
    const spare = this.spareStreams.pop();
    if (spare === undefined) return new HttpStream(this, this.vm, contextId, info, timeNanos);
    spare.restart(this.vm, contextId, info, timeNanos);
    return spare;
  }

  recycle(stream: HttpStream): void {
    if (this.spareStreams.length < MAX_SPARE_STREAMS) this.spareStreams.push(stream);
  }

  isCurrent(vm: PluginVm): boolean {
    return vm === this.vm;
  }

  /** Runs a guest call in the root context; undefined on a trap (the VM is replaced). */
  private runInRoot(call: (vm: PluginVm) => number | undefined): number | undefined {
    if (this.isFailed) return undefined;
    const vm = this.vm;
    vm.binding.scope = emptyScope(ROOT_CONTEXT_ID);
    try {
      const result = call(vm);
      this.checkMemory(vm);
      return result;
    } catch (error: unknown) {
      this.crash(vm, error, ROOT_CONTEXT_ID);
      return undefined;
    } finally {
      vm.binding.scope = emptyScope(ROOT_CONTEXT_ID);
    }
  }

  runInStream(vm: PluginVm, scope: CallScope, callback: GuestCallback, a: number, b: number, c: number): number | undefined | 'trap' {
    if (vm !== this.vm || this.isFailed) return 'trap';
    vm.binding.scope = scope;
    try {
      const result = callback(a, b, c);
      this.checkMemory(vm);
      return result;
    } catch (error: unknown) {
      this.crash(vm, error, scope.contextId);
      return 'trap';
    } finally {
      vm.binding.scope = vm.binding.idleScope;
    }
  }

  private checkMemory(vm: PluginVm): void {
    if (vm.memory.size > this.maxMemoryBytes) {
      throw new Error(`module memory ${vm.memory.size} bytes exceeds the limit of ${this.maxMemoryBytes}`);
    }
  }

  /** Logs the failure once and marks the VM failed (cpp-host WasmBase::fail(RuntimeError)): no callback runs on it
   *  again and its timer stops. A trap while starting leaves the plugin unconfigured instead (Envoy rejects it). */
  private crash(vm: PluginVm, error: unknown, contextId: number): void {
    if (vm !== this.vm || this.isFailed) return;
    this.logger.error({ plugin: this.name, contextId, err: error }, 'proxy-wasm module trapped');
    if (this.isStarting) return;
    this.isFailed = true;
    this.setTickPeriod(0);
  }

  private startHttpCall(httpCall: HttpCaller, contextId: number, request: HttpCallRequest): number {
    const token = this.nextToken;
    this.nextToken = this.nextToken >= 0xffffffff ? 1 : this.nextToken + 1;
    const vm = this.vm;
    const state = vm.binding.streams.get(contextId) ?? null;
    state?.pendingCalls.add(token);
    const timeoutMs = request.timeoutMs > 0 ? request.timeoutMs : 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`http call timed out after ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    Promise.race([httpCall(request), timeout]).then(
      (response) => this.finishHttpCall(vm, contextId, token, response, null),
      (error: unknown) => this.finishHttpCall(vm, contextId, token, null, error),
    ).finally(() => clearTimeout(timer));
    return token;
  }

  /**
   * Delivers a call's response as proxy-wasm-cpp-host does (src/exports.cc http_call, src/context.cc
   * onHttpCallResponse): the call belongs to the root context, so the callback gets the ROOT context's id, in the
   * root's scope. A module reaches its stream with proxy_set_effective_context; whatever stream is effective when the
   * callback returns is the one whose continue or local reply takes effect. A trap fails the stream that made the call.
   */
  private finishHttpCall(vm: PluginVm, contextId: number, token: number, response: HttpCallResponse | null, error: unknown): void {
    const caller = vm.binding.streams.get(contextId) ?? null;
    caller?.pendingCalls.delete(token);
    // A failed VM gets no callback: its caller fails closed now (Envoy would hold it until its timeout).
    if (vm !== this.vm || this.isFailed) {
      caller?.owner?.afterHttpCallResponse(true);
      return;
    }
    if (error !== null) this.logger.warn({ plugin: this.name, contextId, err: error }, 'proxy-wasm http call failed');
    const scope = emptyScope(ROOT_CONTEXT_ID);
    scope.httpCallResponse = response ?? { headers: [], body: new Uint8Array(0), trailers: [] };
    if (response === null) this.callStatusCode = Status.BrokenConnection;
    scope.status = { code: this.callStatusCode, message: response === null ? 'reset' : '' };
    vm.binding.scope = scope;
    let trapped = false;
    let effective: StreamState | null = null;
    try {
      vm.exports.proxy_on_http_call_response?.(
        ROOT_CONTEXT_ID, token, response ? response.headers.length : 0, response ? response.body.length : 0,
        response ? response.trailers.length : 0,
      );
      effective = vm.binding.scope.stream;
      this.checkMemory(vm);
    } catch (callbackError: unknown) {
      trapped = true;
      this.crash(vm, callbackError, contextId);
    } finally {
      vm.binding.scope = emptyScope(ROOT_CONTEXT_ID);
    }
    if (trapped) caller?.owner?.afterHttpCallResponse(true);
    else {
      effective?.owner?.afterHttpCallResponse(false);
      // The caller may have been left waiting (the module answered another stream, or nothing): it stays paused, as
      // in Envoy, until its own timeout or the end of the stream.
      if (caller !== effective && caller !== null && caller.pendingCallCount === 0) caller.owner?.afterHttpCallResponse(false);
    }
  }

  private setTickPeriod(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (ms > 0) {
      this.timer = setInterval(() => this.tick(), ms);
      this.timer.unref();
    }
  }

  tick(): void {
    this.runInRoot((vm) => vm.exports.proxy_on_tick?.(ROOT_CONTEXT_ID));
  }

  close(): void {
    this.setTickPeriod(0);
  }
}

/** Compiles (if needed) and starts a plugin. Rejects when the module is not a proxy-wasm 0.2.1 module or imports a
 *  function Envoy does not provide. */
export async function loadPlugin(options: LoadPluginOptions): Promise<Plugin> {
  const module = options.wasm instanceof WebAssembly.Module ? options.wasm : await WebAssembly.compile(new Uint8Array(options.wasm));
  validateModule(module);
  try {
    return new LoadedPlugin(module, options);
  } catch (error: unknown) {
    if (error instanceof WebAssembly.LinkError) throw new ModuleRejectedError(`module imports what the host does not offer: ${error.message}`);
    throw error;
  }
}

