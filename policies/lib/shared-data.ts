// Proxy shared data: a key-value store shared by every plugin of the same VM id, each value with a CAS token.
// Envoy keeps it per VM id across plugin configuration updates.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto (vm_id)
import { proxy_get_shared_data, proxy_set_shared_data, Status } from "./abi";
import { clearReturn, RETURN_PTR, RETURN_SIZE, RETURN_U32, takeReturned } from "./memory";

export class SharedValue {
  constructor(public value: ArrayBuffer | null, public cas: u32) {}
}

/** Reads `key` (UTF-8 encoded); value null (cas 0) when absent. */
export function getSharedData(key: ArrayBuffer): SharedValue {
  clearReturn();
  store<u32>(RETURN_U32, 0);
  const status = proxy_get_shared_data(changetype<usize>(key), <usize>key.byteLength, RETURN_PTR, RETURN_SIZE, RETURN_U32);
  if (status != Status.Ok) return new SharedValue(null, 0);
  const cas = load<u32>(RETURN_U32);
  return new SharedValue(takeReturned(), cas);
}

/** Writes `key` if its CAS token is still `cas` (0: unconditionally). Returns Status.Ok or Status.CasMismatch. */
export function setSharedData(key: ArrayBuffer, value: ArrayBuffer, cas: u32): u32 {
  return proxy_set_shared_data(changetype<usize>(key), <usize>key.byteLength, changetype<usize>(value), <usize>value.byteLength, cas);
}

// The CAS token of the last readSharedValue (a module runs one callback at a time).
let lastCas: u32 = 0;

/** Reads `key` (UTF-8 encoded) without allocating a SharedValue: the value or null when absent; its CAS token
 *  (0 when absent) is then lastSharedCas(). */
export function readSharedValue(key: ArrayBuffer): ArrayBuffer | null {
  clearReturn();
  store<u32>(RETURN_U32, 0);
  const status = proxy_get_shared_data(changetype<usize>(key), <usize>key.byteLength, RETURN_PTR, RETURN_SIZE, RETURN_U32);
  if (status != Status.Ok) {
    lastCas = 0;
    return null;
  }
  lastCas = load<u32>(RETURN_U32);
  return takeReturned();
}

/** The CAS token read by the last readSharedValue. */
export function lastSharedCas(): u32 {
  return lastCas;
}
