// One instance of a policy module: instantiation with exactly the imports Envoy offers, the start sequence of
// the spec (_initialize + main, or _start), and typed access to the module's callbacks.
import { ENV_MODULE, WASI_MODULE } from './abi.ts';
import { createHostImports } from './env-imports-host.ts';
import { createHttpStreamImports } from './env-imports-http.ts';
import { guardProxyFunctions } from './guard.ts';
import { GuestMemory } from './guest-memory.ts';
import { emptyScope, type HostBinding, type HostServices } from './host-binding.ts';
import { LiveStreams } from './live-streams.ts';
import { createWasiImports } from './wasi-imports.ts';

/** A module callback as the host calls it (i32 arguments; extra arguments are ignored by WebAssembly). */
export type GuestCallback = (...args: number[]) => number | undefined;
type Callback = GuestCallback;

/** The module callbacks the host drives; optional ones are called only when exported (spec: all optional). */
export interface GuestExports {
  memory: WebAssembly.Memory;
  allocate: (size: number) => number;
  proxy_on_context_create: Callback;
  proxy_on_vm_start?: Callback;
  proxy_on_configure?: Callback;
  proxy_on_tick?: Callback;
  proxy_on_queue_ready?: Callback;
  proxy_on_request_headers?: Callback;
  proxy_on_request_body?: Callback;
  proxy_on_request_trailers?: Callback;
  proxy_on_response_headers?: Callback;
  proxy_on_response_body?: Callback;
  proxy_on_response_trailers?: Callback;
  proxy_on_http_call_response?: Callback;
  proxy_on_done?: Callback;
  proxy_on_log?: Callback;
  proxy_on_delete?: Callback;
}

/** Thrown by validateModule: the module is not a proxy-wasm 0.2.1 module or imports what Envoy does not offer. */
export class ModuleRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleRejectedError';
  }
}

const OPTIONAL_CALLBACKS = [
  'proxy_on_vm_start', 'proxy_on_configure', 'proxy_on_tick', 'proxy_on_queue_ready', 'proxy_on_request_headers',
  'proxy_on_request_body', 'proxy_on_request_trailers', 'proxy_on_response_headers', 'proxy_on_response_body',
  'proxy_on_response_trailers', 'proxy_on_http_call_response', 'proxy_on_done', 'proxy_on_log', 'proxy_on_delete',
] as const;

/** Checks the ABI marker and required exports before anything runs. */
export function validateModule(module: WebAssembly.Module): void {
  const exports = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name));
  if (!exports.has('proxy_abi_version_0_2_1')) {
    throw new ModuleRejectedError('module does not export proxy_abi_version_0_2_1');
  }
  for (const name of ['memory', 'proxy_on_context_create']) {
    if (!exports.has(name)) throw new ModuleRejectedError(`module does not export ${name}`);
  }
  if (!exports.has('proxy_on_memory_allocate') && !exports.has('malloc')) {
    throw new ModuleRejectedError('module exports neither proxy_on_memory_allocate nor malloc');
  }
}

function callbackOf(exports: WebAssembly.Exports, name: string): Callback | undefined {
  const value = exports[name];
  return typeof value === 'function' ? (value as Callback) : undefined;
}

export class PluginVm {
  readonly binding: HostBinding;
  readonly exports: GuestExports;
  readonly memory: GuestMemory;

  constructor(module: WebAssembly.Module, services: HostServices, rootContextId: number) {
    const idleScope = emptyScope(rootContextId);
    this.binding = { memory: null, scope: idleScope, idleScope, services, streams: new LiveStreams(), rootContextId };
    const env = {
      ...guardProxyFunctions(createHttpStreamImports(this.binding), services.logger),
      ...guardProxyFunctions(createHostImports(this.binding), services.logger),
    };
    // Instantiation fails with a LinkError when the module imports anything not offered here.
    const instance = new WebAssembly.Instance(module, {
      [ENV_MODULE]: env,
      [WASI_MODULE]: createWasiImports(this.binding),
    });
    const raw = instance.exports;
    const memory = raw['memory'];
    if (!(memory instanceof WebAssembly.Memory)) throw new ModuleRejectedError('module memory is not a memory');
    const allocate = callbackOf(raw, 'proxy_on_memory_allocate') ?? callbackOf(raw, 'malloc');
    const contextCreate = callbackOf(raw, 'proxy_on_context_create');
    if (!allocate || !contextCreate) throw new ModuleRejectedError('module callbacks are not functions');
    const exports: GuestExports = {
      memory,
      allocate: (size) => Number(allocate(size) ?? 0),
      proxy_on_context_create: contextCreate,
    };
    for (const name of OPTIONAL_CALLBACKS) exports[name] = callbackOf(raw, name);
    this.exports = exports;
    this.memory = new GuestMemory(memory, exports.allocate);
    this.binding.memory = this.memory;

    // Spec "Integration": _initialize then main when _initialize is exported, else _start.
    const initialize = callbackOf(raw, '_initialize');
    if (initialize) {
      initialize();
      callbackOf(raw, 'main')?.(0, 0);
    } else {
      callbackOf(raw, '_start')?.();
    }
  }
}
