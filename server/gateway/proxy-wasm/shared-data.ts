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

export class InMemorySharedData implements SharedDataStore {
  private readonly entries = new Map<string, SharedValue>();
  private nextCas = 1;

  get(key: string): SharedValue | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Uint8Array, cas: number): number {
    const current = this.entries.get(key);
    if (cas !== 0 && current !== undefined && current.cas !== cas) return Status.CasMismatch;
    // Tokens are never 0 (0 means "no CAS"), and wrap within u32.
    const token = this.nextCas;
    this.nextCas = this.nextCas >= 0xffffffff ? 1 : this.nextCas + 1;
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
export class SharedDataRegistry {
  private readonly storesByVmId = new Map<string, SharedDataStore>();

  forVm(vmId: string): SharedDataStore {
    let store = this.storesByVmId.get(vmId);
    if (store === undefined) {
      store = new InMemorySharedData();
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
