// Proxy shared data: key -> (value, CAS token), one store per VM id. Envoy keeps it per VM id and across plugin
// configuration updates (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto,
// vm_id: "VMs with the same vm_id ... share ... shared data"), so it lives outside any one VM instance here too.
import { Status } from './abi.ts';

export interface SharedValue {
  value: Uint8Array;
  cas: number;
}

/** One VM id's key-value store. Injectable so tests can simulate concurrent writers. */
export interface SharedDataStore {
  get(key: string): SharedValue | undefined;
  /** Status.Ok, or Status.CasMismatch when `cas` is non-zero and differs from the stored token. */
  set(key: string, value: Uint8Array, cas: number): number;
}

/** The shared data of one data plane: one store per VM id (SharedDataRegistry in one thread, SharedMemoryData
 *  across worker threads). */
export interface SharedDataStores {
  forVm(vmId: string): SharedDataStore;
}

/** CAS tokens as cpp-host draws them (src/shared_data.h nextCas): one counter for every VM id of the data plane,
 *  starting at 1, never 0 (0 means "no CAS"), wrapping within u32. */
export class CasCounter {
  /** @param next the first token (tests start near the wrap) */
  constructor(private next = 1) {}

  take(): number {
    const token = this.next;
    this.next = this.next >= 0xffffffff ? 1 : this.next + 1;
    return token;
  }
}

/** cpp-host SharedData::set: a write with a non-zero `cas` that differs from the stored token is refused; cas 0,
 *  or a key not there yet, writes unconditionally; every write takes a new token. */
export class InMemorySharedData implements SharedDataStore {
  private readonly entries = new Map<string, SharedValue>();

  constructor(private readonly tokens: CasCounter = new CasCounter()) {}

  get(key: string): SharedValue | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Uint8Array, cas: number): number {
    const current = this.entries.get(key);
    if (cas !== 0 && current !== undefined && current.cas !== cas) return Status.CasMismatch;
    const token = this.tokens.take();
    // Counters are rewritten with a value of the same length on every request: reuse the entry and its bytes
    // (no garbage per write). get() hands out the entry itself, so callers copy what they keep (the import
    // copies it into guest memory at once).
    if (current !== undefined && current.value.length === value.length) {
      current.value.set(value);
      current.cas = token;
      return Status.Ok;
    }
    this.entries.set(key, { value: value.slice(), cas: token });
    return Status.Ok;
  }
}

/** The shared data of one data plane, one store per VM id: every plugin loaded with that VM id shares it, across
 *  reconfigures. Each embedded gateway has its own (counters are per data plane, as per Envoy instance). */
export class SharedDataRegistry implements SharedDataStores {
  private readonly storesByVmId = new Map<string, SharedDataStore>();

  constructor(private readonly tokens = new CasCounter()) {}

  forVm(vmId: string): SharedDataStore {
    let store = this.storesByVmId.get(vmId);
    if (store === undefined) {
      store = new InMemorySharedData(this.tokens);
      this.storesByVmId.set(vmId, store);
    }
    return store;
  }
}

const processRegistry = new SharedDataRegistry();

/** The process-wide store of a VM id (plugins loaded without a data plane's registry). */
export function sharedDataForVm(vmId: string): SharedDataStore {
  return processRegistry.forVm(vmId);
}
