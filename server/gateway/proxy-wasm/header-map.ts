// A mutable, ordered header map with Envoy's semantics for proxy-wasm: lowercase names, get joins repeated
// values with ",", add appends ",value" to an existing inline header (Envoy's HeaderMapImpl::addCopy) and adds an
// entry otherwise (pseudo-headers after the pseudo-headers), replace drops every value then adds one (setCopy with
// http_set_copy_replace_all_headers), remove drops every value.
// Stored as two parallel arrays (no tuple per header); names are lowercased once on the way in.
import { decodeAt, encodeUtf8 } from './utf8.ts';
import type { HeaderList } from './types.ts';

/** `name` lowercased; the same string when it has no ASCII uppercase letter (no allocation, no runtime call). */
export function lowerName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return name.toLowerCase();
  }
  return name;
}

/** Envoy's O(1) "inline" headers (envoy/http/header_map.h INLINE_* request and response lists, as wasmcheck
 *  src/host.cc lists them): adding one that exists appends `,value` to it instead of adding an entry. */
const INLINE_HEADERS: ReadonlySet<string> = new Set([
  ':authority', ':method', ':path', ':protocol', ':scheme', ':status', 'x-client-trace-id',
  'x-envoy-downstream-service-cluster', 'x-envoy-downstream-service-node', 'x-envoy-expected-rq-timeout-ms',
  'x-envoy-external-address', 'x-envoy-force-trace', 'x-envoy-hedge-on-per-try-timeout', 'x-envoy-internal',
  'x-envoy-ip-tags', 'x-envoy-retry-on', 'x-envoy-retry-grpc-on', 'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names', 'x-envoy-is-timeout-retry', 'x-envoy-original-path', 'x-envoy-original-url',
  'x-envoy-upstream-alt-stat-name', 'x-envoy-upstream-rq-timeout-alt-response', 'expect', 'x-forwarded-client-cert',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'grpc-timeout', 'te', 'user-agent',
  'x-envoy-attempt-count', 'x-envoy-max-retries', 'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms', 'x-envoy-upstream-stream-duration-ms', 'connection', 'content-type',
  'x-envoy-decorator-operation', 'keep-alive', 'proxy-connection', 'proxy-status', 'x-request-id',
  'transfer-encoding', 'upgrade', 'via', 'content-length', 'date', 'x-envoy-degraded',
  'x-envoy-immediate-health-check-fail', 'x-envoy-ratelimited', 'x-envoy-upstream-canary',
  'x-envoy-upstream-healthchecked-cluster', 'location', 'server', 'x-envoy-upstream-service-time',
  'x-envoy-overloaded', 'grpc-status', 'grpc-message',
]);

export class HeaderMap {
  private names: string[] = [];
  private values: string[] = [];
  /** Incremented by every change (lets a writer detect a change between measuring and writing). */
  version = 0;

  constructor(entries: HeaderList = []) {
    this.setAll(entries);
  }

  get size(): number {
    return this.names.length;
  }

  get(name: string): string | undefined {
    const key = lowerName(name);
    const names = this.names;
    let found: string | undefined;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === key) {
        const value = this.values[i] ?? '';
        found = found === undefined ? value : `${found},${value}`;
      }
    }
    return found;
  }

  /**
   * The first value of `name`: what Envoy's proxy_get_header_map_value answers for a repeated header (a module
   * that needs every value reads the pairs), so a policy sees the same value behind Envoy and here.
   */
  first(name: string): string | undefined {
    const index = this.names.indexOf(lowerName(name));
    return index < 0 ? undefined : (this.values[index] ?? '');
  }

  /** Envoy's addCopy: `,value` appended to an inline header that exists, else a new entry (a pseudo-header after
   *  the others, as Envoy's header list keeps them first). */
  add(name: string, value: string): void {
    this.version++;
    const key = lowerName(name);
    const { names, values } = this;
    if (INLINE_HEADERS.has(key)) {
      const index = names.indexOf(key);
      if (index >= 0) {
        const current = values[index] ?? '';
        values[index] = current === '' ? value : `${current},${value}`;
        return;
      }
    }
    if (key.charCodeAt(0) === 58 /* ':' */) {
      let at = 0;
      while (at < names.length && (names[at] as string).charCodeAt(0) === 58) at++;
      if (at < names.length) {
        names.splice(at, 0, key);
        values.splice(at, 0, value);
        return;
      }
    }
    names.push(key);
    values.push(value);
  }

  /** Envoy's setCopy (http_set_copy_replace_all_headers): every value removed, then add. */
  replace(name: string, value: string): void {
    // remove + add in one pass (a response policy sets several headers per request): the name is lowered and
    // looked up once, and with every entry of it gone add's inline-header merge cannot apply.
    this.version++;
    const key = lowerName(name);
    const index = this.names.indexOf(key);
    if (index >= 0) this.removeFrom(key, index);
    if (key.charCodeAt(0) === 58 /* ':' */) {
      this.add(key, value);
      return;
    }
    this.names.push(key);
    this.values.push(value);
  }

  /** Envoy's proxy_set_header_map_pairs: the map emptied, then each pair added as `add` does. */
  assignPairs(entries: HeaderList): void {
    this.setAll([]);
    for (const [name, value] of entries) this.add(name, value);
  }

  /** Envoy's HeaderMap::byteSize (what proxy_get_header_map_size answers): the UTF-8 length of every name and value. */
  byteSize(): number {
    const { names, values } = this;
    let size = 0;
    for (let i = 0; i < names.length; i++) size += utf8Length(names[i] ?? '') + utf8Length(values[i] ?? '');
    return size;
  }

  remove(name: string): void {
    this.version++;
    const key = lowerName(name);
    const index = this.names.indexOf(key);
    if (index >= 0) this.removeFrom(key, index);
  }

  /** Drops every entry named `key` at or after `from`, in place (pop() to shrink: assigning `length` is slow). */
  private removeFrom(key: string, from: number): void {
    const { names, values } = this;
    const count = names.length;
    let out = from;
    for (let i = from; i < count; i++) {
      const entryName = names[i] ?? '';
      if (entryName === key) continue;
      if (out !== i) {
        names[out] = entryName;
        values[out] = values[i] ?? '';
      }
      out++;
    }
    for (let i = out; i < count; i++) {
      names.pop();
      values.pop();
    }
  }

  /** Appends the pairs of a flat `[name, value, …]` array whose names are already lowercase (the gateway's
   *  header arrays): no tuple per header, no case check. */
  appendLowercaseFlat(flat: readonly string[]): void {
    this.version++;
    const { names, values } = this;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      names.push(flat[i] as string);
      values.push(flat[i + 1] as string);
    }
  }

  /** The name of entry `index` (0 ≤ index < size), in order. */
  nameAt(index: number): string {
    return this.names[index] ?? '';
  }

  valueAt(index: number): string {
    return this.values[index] ?? '';
  }

  /** The entries as a flat `[name, value, …]` array without pseudo-headers (what node:http's writeHead takes). */
  toFlatWithoutPseudo(): string[] {
    const { names, values } = this;
    const out: string[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      if (name.charCodeAt(0) === 58 /* ':' */) continue;
      out.push(name, values[i] as string);
    }
    return out;
  }

  setAll(entries: HeaderList): void {
    this.version++;
    const count = entries.length;
    const names = new Array<string>(count);
    const values = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const entry = entries[i];
      names[i] = entry === undefined ? '' : lowerName(entry[0]);
      values[i] = entry === undefined ? '' : entry[1];
    }
    this.names = names;
    this.values = values;
  }

  toList(): HeaderList {
    const { names, values } = this;
    const out: HeaderList = new Array<[string, string]>(names.length);
    for (let i = 0; i < names.length; i++) out[i] = [names[i] ?? '', values[i] ?? ''];
    return out;
  }

  /**
   * The size of the serialised map (proxy-wasm map format, UTF-8), recording each name's and value's UTF-8 length
   * in `lengths` (2 per entry; grown as needed and returned) for writePairs.
   */
  measure(lengths: Int32Array): Int32Array {
    const { names, values } = this;
    const count = names.length;
    const out = lengths.length >= count * 2 ? lengths : new Int32Array(Math.max(count * 2, lengths.length * 2));
    let size = 4 + count * 8;
    for (let i = 0; i < count; i++) {
      const nameLength = utf8Length(names[i] ?? '');
      const valueLength = utf8Length(values[i] ?? '');
      out[2 * i] = nameLength;
      out[2 * i + 1] = valueLength;
      size += nameLength + valueLength + 2;
    }
    measuredSize = size;
    return out;
  }

  /** Writes the serialised map at `offset` of `out` (whose DataView is `view`), with the lengths measure() just
   *  recorded; `out` must have room for measuredSize() bytes. */
  writePairs(out: Buffer, view: DataView, offset: number, lengths: Int32Array): void {
    const { names, values } = this;
    const count = names.length;
    view.setUint32(offset, count, true);
    let data = offset + 4 + count * 8;
    for (let i = 0; i < count; i++) {
      const nameLength = lengths[2 * i] ?? 0;
      const valueLength = lengths[2 * i + 1] ?? 0;
      view.setUint32(offset + 4 + i * 8, nameLength, true);
      view.setUint32(offset + 8 + i * 8, valueLength, true);
      writeUtf8(out, names[i] ?? '', data, nameLength);
      data += nameLength;
      out[data++] = 0;
      writeUtf8(out, values[i] ?? '', data, valueLength);
      data += valueLength;
      out[data++] = 0;
    }
  }

  /** The serialised map (proxy-wasm map format). */
  serialize(): Uint8Array {
    scratchLengths = this.measure(scratchLengths);
    const bytes = new Uint8Array(measuredSize);
    this.writePairs(Buffer.from(bytes.buffer), new DataView(bytes.buffer), 0, scratchLengths);
    return bytes;
  }

  /** The size of serialize()'s result. */
  serializedSize(): number {
    scratchLengths = this.measure(scratchLengths);
    return measuredSize;
  }
}

/** The size the last HeaderMap#measure computed (a module-level result: no object per call). */
let measuredSize = 0;
/** Lengths scratch for serialize()/serializedSize(), reused across calls. */
let scratchLengths: Int32Array = new Int32Array(64);

export function measuredPairsSize(): number {
  return measuredSize;
}

/** Strings longer than these are measured / written by Buffer's native code, shorter ones by a JS loop: a native
 *  call costs about as much as a dozen characters measured or two dozen written in JS. */
const NATIVE_MEASURE_FROM = 12;
const NATIVE_WRITE_FROM = 28;

/** Buffer's native latin1 writer (what Buffer#write(..., 'latin1') ends in, without its argument handling); for
 *  ASCII text latin1 bytes are the UTF-8 bytes. Not in @types/node, hence the narrow type. */
type Latin1Writer = (this: Buffer, text: string, offset: number, length: number) => number;
const latin1Write: Latin1Writer | undefined = (Buffer.prototype as unknown as { latin1Write?: Latin1Writer }).latin1Write;

/** UTF-8 length of `text`. */
export function utf8Length(text: string): number {
  const length = text.length;
  if (length > NATIVE_MEASURE_FROM) return Buffer.byteLength(text, 'utf8');
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text, 'utf8');
  }
  return length;
}

/** Writes `text` as UTF-8 at `offset` of `out`; `byteLength` is utf8Length(text). */
export function writeUtf8(out: Buffer, text: string, offset: number, byteLength: number): void {
  const length = text.length;
  if (byteLength !== length) {
    out.write(text, offset, byteLength, 'utf8');
  } else if (length <= NATIVE_WRITE_FROM) {
    for (let i = 0; i < length; i++) out[offset + i] = text.charCodeAt(i);
  } else if (latin1Write !== undefined) {
    latin1Write.call(out, text, offset, length);
  } else {
    out.write(text, offset, length, 'latin1');
  }
}

/** Serialises pairs in the proxy-wasm map format (spec "Serialization"): u32 count, count × (u32 key length,
 *  u32 value length), then each key and value NUL-terminated; integers little-endian. */
export function serializePairs(entries: HeaderList): Uint8Array {
  // Fast path: header names and values are ASCII almost always, so sizes are string lengths and bytes are char
  // codes; no intermediate buffers.
  let size = 4 + entries.length * 8;
  for (const [name, value] of entries) {
    if (!isAsciiText(name) || !isAsciiText(value)) return serializeEncoded(entries);
    size += name.length + value.length + 2;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, entries.length, true);
  let data = 4 + entries.length * 8;
  for (let i = 0; i < entries.length; i++) {
    const [name, value] = entries[i] ?? ['', ''];
    view.setUint32(4 + i * 8, name.length, true);
    view.setUint32(8 + i * 8, value.length, true);
    for (let c = 0; c < name.length; c++) out[data + c] = name.charCodeAt(c);
    data += name.length + 1;
    for (let c = 0; c < value.length; c++) out[data + c] = value.charCodeAt(c);
    data += value.length + 1;
  }
  return out;
}

function isAsciiText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

function serializeEncoded(entries: HeaderList): Uint8Array {
  const encoded = entries.map(([name, value]) => [encodeUtf8(name), encodeUtf8(value)] as const);
  let size = 4 + encoded.length * 8;
  for (const [name, value] of encoded) size += name.length + value.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, encoded.length, true);
  let data = 4 + encoded.length * 8;
  encoded.forEach(([name, value], i) => {
    view.setUint32(4 + i * 8, name.length, true);
    view.setUint32(8 + i * 8, value.length, true);
    out.set(name, data);
    data += name.length + 1;
    out.set(value, data);
    data += value.length + 1;
  });
  return out;
}

/** Parses the proxy-wasm map format; null when the bytes are not a well-formed map. An empty buffer or a single
 *  NUL byte is the empty map (both allowed by the spec). */
export function parsePairs(bytes: Uint8Array): HeaderList | null {
  return parsePairsAt(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length);
}

/**
 * parsePairs of the `size` bytes at `start` of `bytes` (the guest's memory as a Buffer), read in place: integers
 * from the bytes, names and values through decodeAt (short ASCII ones interned, so a module's fixed reply headers
 * allocate no string), no view or subarray per entry. The caller checked [start, start + size) is in `bytes`.
 */
export function parsePairsAt(bytes: Buffer, start: number, size: number): HeaderList | null {
  if (size === 0 || (size === 1 && bytes[start] === 0)) return [];
  if (size < 4) return null;
  const count = readU32(bytes, start);
  if (count > (size - 4) / 8) return null;
  const end = start + size;
  const out: HeaderList = [];
  let data = start + 4 + count * 8;
  for (let entry = start + 4; entry < start + 4 + count * 8; entry += 8) {
    const nameLength = readU32(bytes, entry);
    const valueLength = readU32(bytes, entry + 4);
    if (data + nameLength + valueLength + 2 > end) return null;
    const name = decodeAt(bytes, data, nameLength);
    data += nameLength + 1;
    const value = decodeAt(bytes, data, valueLength);
    data += valueLength + 1;
    out.push([name, value]);
  }
  return out;
}

/** The little-endian u32 at `at` (no DataView per call). */
function readU32(bytes: Buffer, at: number): number {
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
}
