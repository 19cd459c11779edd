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
