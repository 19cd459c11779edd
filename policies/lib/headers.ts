// Header map access (request, response, http-call response) and the proxy-wasm map serialisation.
import { indexPath, memberPath, Problems, readString } from "./config";
import { JsonValue } from "./json";
import {
  proxy_add_header_map_value, proxy_get_header_map_pairs, proxy_get_header_map_value,
  proxy_remove_header_map_value, proxy_replace_header_map_value, MapType, Status,
} from "./abi";
import { clearReturn, RETURN_PTR, RETURN_SIZE, takeReturned } from "./memory";

/** One header; names are lowercase on the wire in both Envoy and our host. */
export class Header {
  constructor(public name: string, public value: string) {}
}

/** The value of header `name` in map `map`, or null when absent. */
export function getHeader(map: i32, name: string): string | null {
  const key = String.UTF8.encode(name);
  clearReturn();
  const status = proxy_get_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return String.UTF8.decode(takeReturned());
}

/** Sets (overwrites) header `name`. */
export function setHeader(map: i32, name: string, value: string): void {
  const key = String.UTF8.encode(name);
  const bytes = String.UTF8.encode(value);
  proxy_replace_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, changetype<usize>(bytes), <usize>bytes.byteLength);
}

/** Adds a value for header `name`, keeping existing ones. */
export function addHeader(map: i32, name: string, value: string): void {
  const key = String.UTF8.encode(name);
  const bytes = String.UTF8.encode(value);
  proxy_add_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, changetype<usize>(bytes), <usize>bytes.byteLength);
}

/** Removes every value of header `name`. */
export function removeHeader(map: i32, name: string): void {
  const key = String.UTF8.encode(name);
  proxy_remove_header_map_value(map, changetype<usize>(key), <usize>key.byteLength);
}

// Variants taking the header name already UTF-8 encoded (encode names used on every request once, at configure
// time or as lazy globals): no allocation per call for the name.

/** The raw value bytes of header `key` in map `map`, or null when absent. */
export function getHeaderRaw(map: i32, key: ArrayBuffer): ArrayBuffer | null {
  clearReturn();
  const status = proxy_get_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturned();
}

/** The value of header `key` (UTF-8 encoded name) in map `map`, or null when absent. */
export function getHeaderOf(map: i32, key: ArrayBuffer): string | null {
  const raw = getHeaderRaw(map, key);
  return raw === null ? null : String.UTF8.decode(raw);
}

/** Sets (overwrites) header `key` (UTF-8 encoded name) to the UTF-8 bytes `value`. */
export function setHeaderRaw(map: i32, key: ArrayBuffer, value: ArrayBuffer): void {
  proxy_replace_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, changetype<usize>(value), <usize>value.byteLength);
}

/** Sets (overwrites) header `key` (UTF-8 encoded name) to `value`. */
export function setHeaderOf(map: i32, key: ArrayBuffer, value: string): void {
  setHeaderRaw(map, key, String.UTF8.encode(value));
}

// Scratch for the decimal digits of a u32 (at most 10).
const DIGITS: usize = memory.data(16);

/** Sets (overwrites) header `key` (UTF-8 encoded name) to the decimal `value`, exactly as value.toString(). */
export function setHeaderU32(map: i32, key: ArrayBuffer, value: u32): void {
  const end = DIGITS + 16;
  let start = end;
  let rest = value;
  do {
    start--;
    store<u8>(start, <u8>(48 + rest % 10));
    rest /= 10;
  } while (rest != 0);
  proxy_replace_header_map_value(map, changetype<usize>(key), <usize>key.byteLength, start, end - start);
}

/** Removes every value of header `key` (UTF-8 encoded name). */
export function removeHeaderOf(map: i32, key: ArrayBuffer): void {
  proxy_remove_header_map_value(map, changetype<usize>(key), <usize>key.byteLength);
}

export function getRequestHeader(name: string): string | null { return getHeader(MapType.RequestHeaders, name); }
export function setRequestHeader(name: string, value: string): void { setHeader(MapType.RequestHeaders, name, value); }
export function removeRequestHeader(name: string): void { removeHeader(MapType.RequestHeaders, name); }
export function getResponseHeader(name: string): string | null { return getHeader(MapType.ResponseHeaders, name); }
export function setResponseHeader(name: string, value: string): void { setHeader(MapType.ResponseHeaders, name, value); }
export function removeResponseHeader(name: string): void { removeHeader(MapType.ResponseHeaders, name); }

/** The serialized pairs of map `map` as returned by the host (see parsePairs), or an empty buffer. */
export function getHeaderPairsRaw(map: i32): ArrayBuffer {
  clearReturn();
  if (proxy_get_header_map_pairs(map, RETURN_PTR, RETURN_SIZE) != Status.Ok) return new ArrayBuffer(0);
  return takeReturned();
}

/** How many entries of map `map` are named `key` (lower-case UTF-8 bytes, as hosts store names). Scans the
 *  serialized pairs without decoding them. */
export function countHeaderOf(map: i32, key: ArrayBuffer): i32 {
  const raw = getHeaderPairsRaw(map);
  const size = <usize>raw.byteLength;
  if (size < 4) return 0;
  const base = changetype<usize>(raw);
  const count = <usize>load<u32>(base);
  if (count > (size - 4) / 8) return 0;
  const wanted = changetype<usize>(key);
  const wantedLength = <usize>key.byteLength;
  let data = base + 4 + count * 8;
  const end = base + size;
  let found = 0;
  for (let i: usize = 0; i < count; i++) {
    const keyLength = <usize>load<u32>(base + 4 + i * 8);
    const valueLength = <usize>load<u32>(base + 8 + i * 8);
    if (data + keyLength + valueLength + 2 > end) break;
    if (keyLength == wantedLength && memory.compare(data, wanted, keyLength) == 0) found++;
    data += keyLength + valueLength + 2;
  }
  return found;
}

/** All headers of map `map`, in order. */
export function getHeaders(map: i32): Array<Header> {
  return parsePairs(getHeaderPairsRaw(map));
}

/**
 * Parses the proxy-wasm map serialisation: u32 count, count × (u32 key length, u32 value length), then each key
 * and value followed by a NUL. Malformed input yields the pairs read so far.
 */
export function parsePairs(raw: ArrayBuffer): Array<Header> {
  const out = new Array<Header>(0);
  const size = <usize>raw.byteLength;
  if (size < 4) return out;
  const base = changetype<usize>(raw);
  const count = <usize>load<u32>(base);
  if (count > (size - 4) / 8) return out;
  let data = base + 4 + count * 8;
  const end = base + size;
  for (let i: usize = 0; i < count; i++) {
    const keyLength = <usize>load<u32>(base + 4 + i * 8);
    const valueLength = <usize>load<u32>(base + 8 + i * 8);
    if (data + keyLength + valueLength + 2 > end) break;
    const name = String.UTF8.decodeUnsafe(data, keyLength);
    data += keyLength + 1;
    const value = String.UTF8.decodeUnsafe(data, valueLength);
    data += valueLength + 1;
    out.push(new Header(name, value));
  }
  return out;
}

/** Serialises headers in the proxy-wasm map format (for send_local_response and http_call). */
export function serializePairs(headers: Array<Header>): ArrayBuffer {
  const count = headers.length;
  const names = new Array<ArrayBuffer>(count);
  const values = new Array<ArrayBuffer>(count);
  for (let i = 0; i < count; i++) {
    unchecked(names[i] = String.UTF8.encode(unchecked(headers[i]).name));
    unchecked(values[i] = String.UTF8.encode(unchecked(headers[i]).value));
  }
  return serializeEncodedPairs(names, values);
}

/** `serializePairs` of names and values already UTF-8 encoded (once, at configure time, where they are fixed). */
export function serializeEncodedPairs(names: Array<ArrayBuffer>, values: Array<ArrayBuffer>): ArrayBuffer {
  const count = names.length;
  let size: usize = 4 + <usize>count * 8;
  for (let i = 0; i < count; i++) size += <usize>unchecked(names[i]).byteLength + <usize>unchecked(values[i]).byteLength + 2;
  const out = new ArrayBuffer(<i32>size);
  const base = changetype<usize>(out);
  store<u32>(base, <u32>count);
  let data = base + 4 + <usize>count * 8;
  for (let i = 0; i < count; i++) {
    const name = unchecked(names[i]);
    const value = unchecked(values[i]);
    store<u32>(base + 4 + <usize>i * 8, <u32>name.byteLength);
    store<u32>(base + 8 + <usize>i * 8, <u32>value.byteLength);
    memory.copy(data, changetype<usize>(name), <usize>name.byteLength);
    data += <usize>name.byteLength + 1;
    memory.copy(data, changetype<usize>(value), <usize>value.byteLength);
    data += <usize>value.byteLength + 1;
  }
  return out;
}

/**
 * Pairs (proxy-wasm map format) built per request into one buffer that is reused (grown when needed): the local
 * replies whose headers depend on the request (a preflight's echoed Origin, a redirect's Location) cost no array
 * and no ArrayBuffer per request. `begin(count)`, then per pair `name()`, `append*()` for its value and `end()`;
 * the pairs are valid until the next `begin` (the host copies them during proxy_send_local_response). Sources are
 * passed as ArrayBuffers, never raw pointers, so a growth (an allocation) cannot free what is being copied.
 */
export class PairsWriter {
  buffer: ArrayBuffer = new ArrayBuffer(512);
  private count: i32 = 0;
  private index: i32 = 0;
  /** Offset of the next byte, and of the current value. */
  private at: i32 = 0;
  private valueAt: i32 = 0;

  begin(count: i32): PairsWriter {
    this.count = count;
    this.index = 0;
    this.at = 4 + count * 8;
    this.reserve(0);
    store<u32>(changetype<usize>(this.buffer), <u32>count);
    return this;
  }

  /** Writes the next pair's name (and its NUL) and starts its value. */
  name(name: ArrayBuffer): void {
    const length = name.byteLength;
    this.reserve(length + 1);
    const base = changetype<usize>(this.buffer);
    store<u32>(base + 4 + <usize>this.index * 8, <u32>length);
    memory.copy(base + <usize>this.at, changetype<usize>(name), <usize>length);
    store<u8>(base + <usize>(this.at + length), 0);
    this.at += length + 1;
    this.valueAt = this.at;
  }

  /** Appends `bytes[from, to)` to the current value. */
  append(bytes: ArrayBuffer, from: i32, to: i32): void {
    const length = to - from;
    if (length <= 0) return;
    this.reserve(length);
    memory.copy(changetype<usize>(this.buffer) + <usize>this.at, changetype<usize>(bytes) + <usize>from, <usize>length);
    this.at += length;
  }

  appendBytes(bytes: ArrayBuffer): void {
    this.append(bytes, 0, bytes.byteLength);
  }

  appendByte(byte: u8): void {
    this.reserve(1);
    store<u8>(changetype<usize>(this.buffer) + <usize>this.at, byte);
    this.at++;
  }

  /** Appends the decimal digits of `value` (as value.toString()). */
  appendU32(value: u32): void {
    let digits = 1;
    for (let rest = value / 10; rest != 0; rest /= 10) digits++;
    this.reserve(digits);
    const base = changetype<usize>(this.buffer) + <usize>this.at;
    let rest = value;
    for (let i = digits - 1; i >= 0; i--) {
      store<u8>(base + <usize>i, <u8>(48 + rest % 10));
      rest /= 10;
    }
    this.at += digits;
  }

  /** Ends the current value (its NUL and its length). */
  end(): void {
    this.reserve(1);
    const base = changetype<usize>(this.buffer);
    store<u32>(base + 8 + <usize>this.index * 8, <u32>(this.at - this.valueAt));
    store<u8>(base + <usize>this.at, 0);
    this.at++;
    this.index++;
  }

  /** A whole pair of encoded bytes. */
  pair(name: ArrayBuffer, value: ArrayBuffer): void {
    this.name(name);
    this.appendBytes(value);
    this.end();
  }

  /** The pairs' address and size (complete once every pair of `begin`'s count has ended). */
  get pointer(): usize {
    return changetype<usize>(this.buffer);
  }

  get size(): usize {
    return <usize>this.at;
  }

  /** Room for `more` bytes after `at` (and the length table). */
  private reserve(more: i32): void {
    const needed = this.at + more;
    const current = this.buffer.byteLength;
    if (needed <= current) return;
    let capacity = current * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new ArrayBuffer(capacity);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.buffer), <usize>this.at);
    this.buffer = grown;
  }
}

let sharedPairs: PairsWriter | null = null;

/** The writer local replies share (a module sends at most one reply per callback), begun for `count` pairs.
 *  Created on first use: a module that never calls this carries no PairsWriter code. */
export function replyPairs(count: i32): PairsWriter {
  let pairs = sharedPairs;
  if (pairs === null) sharedPairs = pairs = new PairsWriter();
  return pairs.begin(count);
}

/** True when `name` is a valid lowercase HTTP field name (RFC 9110 token, lowercase letters only). */
export function isValidHeaderName(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const isToken = (c >= 97 && c <= 122) || (c >= 48 && c <= 57)
      || c == 33 || c == 35 || c == 36 || c == 37 || c == 38 || c == 39 || c == 42 || c == 43
      || c == 45 || c == 46 || c == 94 || c == 95 || c == 96 || c == 124 || c == 126;
    if (!isToken) return false;
  }
  return true;
}

/** True when `value` has no CR, LF or NUL (and no other control character but tab). */
export function isValidHeaderValue(value: string): bool {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c != 9) || c == 127) return false;
  }
  return true;
}

/**
 * True when `text` starts with `lowerPrefix` compared ASCII case-insensitively, without allocating: an
 * Authorization scheme such as "bearer " (schemes are case-insensitive, RFC 9110 section 11.1).
 */
export function startsWithIgnoringCase(text: string, lowerPrefix: string): bool {
  // No length check: past the end charCodeAt gives -1, which matches no character of the prefix.
  for (let i = 0; i < lowerPrefix.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c != lowerPrefix.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * A configuration's `[{name, value}]` header items (set-headers, respond): names lowercased, both checked, problems at
 * `<path>.headers[i].name|value`; an item that is not an object is skipped.
 */
export function readHeaderItems(items: Array<JsonValue>, path: string, problems: Problems): Array<Header> {
  const out = new Array<Header>(0);
  for (let i = 0; i < items.length; i++) {
    const itemPath = indexPath(memberPath(path, "headers"), i);
    const item = unchecked(items[i]);
    if (!item.isObject) {
      problems.add(itemPath, "must be an object");
      continue;
    }
    const name = readString(item, "name", itemPath, problems, true).toLowerCase();
    const value = readString(item, "value", itemPath, problems, true);
    if (!isValidHeaderName(name)) problems.add(memberPath(itemPath, "name"), "is not a valid header name");
    if (!isValidHeaderValue(value)) problems.add(memberPath(itemPath, "value"), "contains a control character");
    out.push(new Header(name, value));
  }
  return out;
}
