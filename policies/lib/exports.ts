// The proxy-wasm ABI v0.2.1 callbacks this module exports. Every policy's index.ts ends with
//   export * from "../lib/exports";
import { allocate } from "./memory";
import {
  onConfigure, onContextCreate, onDelete, onDone, onHttpCallResponse, onLog, onQueueReady, onTick, onVmStart,
  streamOf,
} from "./runtime";

/** Marker telling the host which ABI this module speaks. Never called. */
export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize { return allocate(size); }

/** Deprecated name of proxy_on_memory_allocate, still looked for by older hosts. */
export function malloc(size: usize): usize { return allocate(size); }

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  onContextCreate(contextId, parentContextId);
}

export function proxy_on_vm_start(rootContextId: u32, configurationSize: u32): u32 {
  return onVmStart(rootContextId, configurationSize) ? 1 : 0;
}

export function proxy_on_configure(rootContextId: u32, configurationSize: u32): u32 {
  return onConfigure(rootContextId, configurationSize) ? 1 : 0;
}

export function proxy_on_tick(rootContextId: u32): void { onTick(rootContextId); }

export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void { onQueueReady(rootContextId, queueId); }

export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: u32): u32 {
  return streamOf(contextId).onRequestHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  return streamOf(contextId).onRequestBody(bodySize, endOfStream != 0);
}

export function proxy_on_request_trailers(contextId: u32, numTrailers: u32): u32 {
  return streamOf(contextId).onRequestTrailers(numTrailers);
}

export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: u32): u32 {
  return streamOf(contextId).onResponseHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  return streamOf(contextId).onResponseBody(bodySize, endOfStream != 0);
}

export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): u32 {
  return streamOf(contextId).onResponseTrailers(numTrailers);
}

export function proxy_on_http_call_response(
  contextId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32,
): void {
  onHttpCallResponse(contextId, token, numHeaders, bodySize, numTrailers);
}

export function proxy_on_done(contextId: u32): u32 { return onDone(contextId) ? 1 : 0; }

export function proxy_on_log(contextId: u32): void { onLog(contextId); }

export function proxy_on_delete(contextId: u32): void { onDelete(contextId); }
