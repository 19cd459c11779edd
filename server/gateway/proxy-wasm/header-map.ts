// A mutable, ordered header map with Envoy's semantics for proxy-wasm: lowercase names, get joins repeated
// values with ",", replace drops every value then adds one, remove drops every value.
import { decodeUtf8, encodeUtf8 } from './guest-memory.ts';
import type { HeaderList } from './types.ts';

export class HeaderMap {
  private entries: HeaderList;

  constructor(entries: HeaderList = []) {
    this.entries = entries.map(([name, value]) => [name.toLowerCase(), value]);
  }

  get size(): number {
    return this.entries.length;
  }

  get(name: string): string | undefined {
    const key = name.toLowerCase();
    let found: string | undefined;
    for (const [entryName, value] of this.entries) {
      if (entryName === key) found = found === undefined ? value : `${found},${value}`;
    }
    return found;
  }

  add(name: string, value: string): void {
    this.entries.push([name.toLowerCase(), value]);
  }

  replace(name: string, value: string): void {
    const key = name.toLowerCase();
    const index = this.entries.findIndex(([entryName]) => entryName === key);
    if (index < 0) {
      this.entries.push([key, value]);
      return;
    }
    this.entries[index] = [key, value];
    this.entries = this.entries.filter(([entryName], i) => i <= index || entryName !== key);
  }

  remove(name: string): void {
    const key = name.toLowerCase();
    if (this.entries.some(([entryName]) => entryName === key)) {
      this.entries = this.entries.filter(([entryName]) => entryName !== key);
    }
  }

  setAll(entries: HeaderList): void {
    this.entries = entries.map(([name, value]) => [name.toLowerCase(), value]);
  }

  toList(): HeaderList {
    return this.entries.map(([name, value]) => [name, value]);
  }
}

/** Serialises pairs in the proxy-wasm map format (spec "Serialization"): u32 count, count × (u32 key length,
 *  u32 value length), then each key and value NUL-terminated; integers little-endian. */
export function serializePairs(entries: HeaderList): Uint8Array {
  // Fast path: header names and values are ASCII almost always, so sizes are string lengths and bytes are char
  // codes; no intermediate buffers (this runs for every proxy_get_header_map_pairs).
  let size = 4 + entries.length * 8;
  let isAscii = true;
  for (const [name, value] of entries) {
    size += name.length + value.length + 2;
    if (isAscii && (!isAsciiText(name) || !isAsciiText(value))) isAscii = false;
  }
  if (!isAscii) return serializeEncoded(entries);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, entries.length, true);
  let data = 4 + entries.length * 8;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (entry === undefined) continue;
    const [name, value] = entry;
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
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return [];
  if (bytes.length < 4) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (count > (bytes.length - 4) / 8) return null;
  const out: HeaderList = [];
  let data = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const nameLength = view.getUint32(4 + i * 8, true);
    const valueLength = view.getUint32(8 + i * 8, true);
    if (data + nameLength + valueLength + 2 > bytes.length) return null;
    const name = decodeUtf8(bytes.subarray(data, data + nameLength));
    data += nameLength + 1;
    const value = decodeUtf8(bytes.subarray(data, data + valueLength));
    data += valueLength + 1;
    out.push([name, value]);
  }
  return out;
}
