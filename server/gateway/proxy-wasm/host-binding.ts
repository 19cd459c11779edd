// What the import functions of one VM instance see: its memory, the context the current callback runs in,
// and the host services. One binding per VM instance; the plugin swaps `scope` around every guest call.
import type { GuestMemory } from './guest-memory.ts';
import type { HeaderMap } from './header-map.ts';
import type { MetricsRegistry } from './metrics.ts';
import type { PluginIdentity } from './properties.ts';
import type { SharedDataStore } from './shared-data.ts';
import type { SharedQueues } from './shared-queues.ts';
import type { StreamState } from './stream-state.ts';
import type { Clock, HttpCallRequest, HttpCallResponse, PolicyLogger } from './types.ts';

/** The context of the guest call in progress. */
export interface CallScope {
  contextId: number;
  stream: StreamState | null;
  /** Readable during proxy_on_configure. */
  pluginConfiguration: Uint8Array | null;
  /** Readable during proxy_on_vm_start. */
  vmConfiguration: Uint8Array | null;
  /** Readable during proxy_on_http_call_response. */
  httpCallResponse: HttpCallResponse | null;
  /** The HTTP call response's header maps, built on first read. */
  httpCallHeaders?: HeaderMap;
  httpCallTrailers?: HeaderMap;
  /** What proxy_get_status reports (Envoy's Context status: BrokenConnection / "reset" in a failed http call's
   *  response, see plugin.ts); replaced, never mutated (scopes share the default). */
  status: { readonly code: number; readonly message: string };
}

const NO_STATUS = Object.freeze({ code: 0, message: '' });

export function emptyScope(contextId: number): CallScope {
  return {
    contextId,
    stream: null,
    pluginConfiguration: null,
    vmConfiguration: null,
    httpCallResponse: null,
    status: NO_STATUS,
  };
}

export interface HostServices {
  plugin: PluginIdentity;
  logger: PolicyLogger;
  clock: Clock;
  sharedData: SharedDataStore;
  queues: SharedQueues;
  metrics: MetricsRegistry;
  /** Starts a proxy_http_call for the context `contextId`; returns its token or undefined if refused. */
  startHttpCall(contextId: number, request: HttpCallRequest): number | undefined;
  /** proxy_set_tick_period_milliseconds. */
  setTickPeriod(ms: number): void;
  /** Tells the root context a registered queue has data (proxy_on_queue_ready). */
  notifyQueueReady(queueId: number): void;
}

/** Streams by context id (a Map fits; the VM uses LiveStreams). */
export interface StreamRegistry {
  get(contextId: number): StreamState | undefined;
  set(contextId: number, state: StreamState): unknown;
  delete(contextId: number): unknown;
}

export interface HostBinding {
  /** Set right after instantiation; imports never run before that. */
  memory: GuestMemory | null;
  scope: CallScope;
  /** The scope between guest calls (root context, nothing readable); never mutated. */
  readonly idleScope: CallScope;
  readonly services: HostServices;
  /** Live streams of this VM, for proxy_set_effective_context. */
  readonly streams: StreamRegistry;
  readonly rootContextId: number;
}

/** The binding's memory; imports run only after instantiation set it. */
export function memoryOf(binding: HostBinding): GuestMemory {
  const memory = binding.memory;
  if (memory === null) throw new Error('guest memory used before instantiation');
  return memory;
}
