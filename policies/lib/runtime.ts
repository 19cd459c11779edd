// Root and HTTP contexts, and the dispatch of the host's proxy_on_* callbacks to them.
//
// A policy subclasses RootContext (parses configuration once per proxy_on_configure) and HttpContext (per
// request), calls registerRootContext(factory) at the top level of its index.ts, and re-exports "../lib/exports".
// The SDK's runtime is not used: it builds debug log strings on every callback (against our hot-path rule) and
// logs through a FastEdge-specific path; this one keeps to the ABI.
import { proxy_log, Action, BufferType, LogLevel, proxy_get_buffer_bytes, proxy_set_effective_context, Status } from "./abi";
import { clearReturn, RETURN_PTR, RETURN_SIZE, takeReturned } from "./memory";

export class RootContext {
  contextId: u32 = 0;

  /** Called with the plugin configuration bytes; return false to refuse the configuration. */
  onConfigure(configuration: ArrayBuffer): bool {
    return true;
  }

  /** Called with the VM configuration bytes when the VM starts. */
  onVmStart(configuration: ArrayBuffer): bool {
    return true;
  }

  /** Called every tick period (see setTickPeriod in ./timers). */
  onTick(): void {}

  /** Called when the response of a proxy_http_call arrives (numHeaders == 0: the call failed). */
  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}

  onQueueReady(queueId: u32): void {}

  createHttpContext(contextId: u32): HttpContext {
    return new HttpContext(contextId, this);
  }
}

export class HttpContext {
  contextId: u32;
  root: RootContext;

  constructor(contextId: u32, root: RootContext) {
    this.contextId = contextId;
    this.root = root;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 { return Action.Continue; }
  onRequestBody(bodySize: u32, endOfStream: bool): u32 { return Action.Continue; }
  onRequestTrailers(numTrailers: u32): u32 { return Action.Continue; }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 { return Action.Continue; }
  onResponseBody(bodySize: u32, endOfStream: bool): u32 { return Action.Continue; }
  onResponseTrailers(numTrailers: u32): u32 { return Action.Continue; }
  /**
   * Called when the response of a proxy_http_call this stream made through `httpCall` (./http-call) arrives
   * (numHeaders == 0: failed), with this stream as the effective context.
   */
  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}
  onLog(): void {}
}

let rootFactory: ((contextId: u32) => RootContext) | null = null;
const roots = new Map<u32, RootContext>();
const streams = new Map<u32, HttpContext>();
/** proxy_http_call tokens of calls streams made, to the stream's context id (see onHttpCallResponse). */
const callers = new Map<u32, u32>();

/** Records that `stream` made the http call `token`, so its response reaches the stream (./http-call). */
export function rememberCaller(token: u32, stream: HttpContext): void {
  callers.set(token, stream.contextId);
}

/** Registers the factory of this module's root context. Call once at the top level of the policy. */
export function registerRootContext(factory: (contextId: u32) => RootContext): void {
  rootFactory = factory;
}

function readBuffer(type: i32, size: u32): ArrayBuffer {
  if (size == 0) return new ArrayBuffer(0);
  clearReturn();
  if (proxy_get_buffer_bytes(type, 0, size, RETURN_PTR, RETURN_SIZE) != Status.Ok) return new ArrayBuffer(0);
  return takeReturned();
}

function rootOf(contextId: u32): RootContext | null {
  return roots.has(contextId) ? roots.get(contextId) : null;
}

// The callbacks below are re-exported by ./exports under their ABI names.

export function onContextCreate(contextId: u32, parentContextId: u32): void {
  if (parentContextId == 0) {
    const factory = rootFactory;
    if (factory === null) {
      const message = String.UTF8.encode("no root context registered");
      proxy_log(<usize>LogLevel.Critical, changetype<usize>(message), <usize>message.byteLength);
      unreachable();
    }
    const root = factory(contextId);
    root.contextId = contextId;
    roots.set(contextId, root);
    return;
  }
  const root = rootOf(parentContextId);
  if (root === null) unreachable();
  streams.set(contextId, root!.createHttpContext(contextId));
}

export function onVmStart(rootContextId: u32, configurationSize: u32): bool {
  const root = rootOf(rootContextId);
  // Envoy calls proxy_on_vm_start on a root context it has just created; tolerate hosts that do not.
  if (root === null) return true;
  return root.onVmStart(readBuffer(BufferType.VmConfiguration, configurationSize));
}

export function onConfigure(rootContextId: u32, configurationSize: u32): bool {
  const root = rootOf(rootContextId);
  if (root === null) return false;
  return root.onConfigure(readBuffer(BufferType.PluginConfiguration, configurationSize));
}

export function onTick(rootContextId: u32): void {
  const root = rootOf(rootContextId);
  if (root !== null) root.onTick();
}

export function onQueueReady(rootContextId: u32, queueId: u32): void {
  const root = rootOf(rootContextId);
  if (root !== null) root.onQueueReady(queueId);
}

// proxy-wasm-cpp-host (Envoy's host) makes every http call on the ROOT context, whichever context called, and
// delivers the response to the root context's id (src/exports.cc http_call: `contextOrEffectiveContext()->root_context()`).
// So a response comes with the root's id and the token; the stream that made the call is found by the token and
// made the effective context (proxy_set_effective_context), so that what it does next — continue, reply, headers —
// acts on that stream and not on the root. A stream gone by then (client closed) drops the answer.
export function onHttpCallResponse(contextId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  if (callers.has(token)) {
    const streamId = callers.get(token);
    callers.delete(token);
    if (!streams.has(streamId)) return;
    if (proxy_set_effective_context(streamId) != Status.Ok) return;
    streams.get(streamId).onHttpCallResponse(token, numHeaders, bodySize, numTrailers);
    return;
  }
  const root = rootOf(contextId);
  if (root !== null) root.onHttpCallResponse(token, numHeaders, bodySize, numTrailers);
}

@inline
export function streamOf(contextId: u32): HttpContext {
  return streams.get(contextId);
}

export function onDone(contextId: u32): bool {
  return true;
}

export function onLog(contextId: u32): void {
  if (streams.has(contextId)) streams.get(contextId).onLog();
}

export function onDelete(contextId: u32): void {
  if (streams.has(contextId)) {
    streams.delete(contextId);
  } else if (roots.has(contextId)) {
    roots.delete(contextId);
  }
}

/**
 * The abort handler (`--use abort=abort_proc_exit`): log what failed through proxy_log, then trap so the host
 * fails only the current request. Never returns: continuing after a failed assertion would run on bad state.
 */
// @ts-ignore: decorator
@global
export function abort_proc_exit(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: ";
  if (message !== null) text += message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  proxy_log(<usize>LogLevel.Critical, changetype<usize>(bytes), <usize>bytes.byteLength);
  unreachable();
}
