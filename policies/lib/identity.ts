// Identity passed between policies as request headers. The first policy of every chain strips client-supplied
// `x-apip-*` headers before anything else runs (its configuration sets stripIdentityHeaders), so a client can
// never forge them.
import { MapType } from "./abi";
import { getHeaderPairsRaw, removeRequestHeader } from "./headers";

export const IDENTITY_PREFIX = "x-apip-";
export const APPLICATION_ID_HEADER = "x-apip-application-id";
export const SUBSCRIPTION_ID_HEADER = "x-apip-subscription-id";
export const PLAN_HEADER = "x-apip-plan";
/** Marks a request let through over its quota because stopOnQuotaReach is false. */
export const QUOTA_EXCEEDED_HEADER = "x-apip-quota-exceeded";

// The same names UTF-8 encoded once, for the *Of / *Raw header functions.
// @ts-ignore: decorator
@lazy export const APPLICATION_ID_HEADER_BYTES = String.UTF8.encode(APPLICATION_ID_HEADER);
// @ts-ignore: decorator
@lazy export const SUBSCRIPTION_ID_HEADER_BYTES = String.UTF8.encode(SUBSCRIPTION_ID_HEADER);
// @ts-ignore: decorator
@lazy export const PLAN_HEADER_BYTES = String.UTF8.encode(PLAN_HEADER);

/** Removes every request header whose name starts with `x-apip-`. Scans the serialized map without decoding. */
export function stripIdentityHeaders(): void {
  const raw = getHeaderPairsRaw(MapType.RequestHeaders);
  const size = <usize>raw.byteLength;
  if (size < 4) return;
  const base = changetype<usize>(raw);
  const count = <usize>load<u32>(base);
  if (count > (size - 4) / 8) return;
  let data = base + 4 + count * 8;
  const end = base + size;
  let names: Array<string> | null = null;
  for (let i: usize = 0; i < count; i++) {
    const keyLength = <usize>load<u32>(base + 4 + i * 8);
    const valueLength = <usize>load<u32>(base + 8 + i * 8);
    if (data + keyLength + valueLength + 2 > end) break;
    // "x-apip-" = 78 2d 61 70 69 70 2d; compare the first 7 bytes as one u32 and three u8.
    if (keyLength >= 7 && load<u32>(data) == 0x70612d78 && load<u8>(data + 4) == 0x69
      && load<u8>(data + 5) == 0x70 && load<u8>(data + 6) == 0x2d) {
      if (names === null) names = new Array<string>(0);
      names.push(String.UTF8.decodeUnsafe(data, keyLength));
    }
    data += keyLength + valueLength + 2;
  }
  if (names === null) return;
  for (let i = 0; i < names.length; i++) removeRequestHeader(unchecked(names[i]));
}
