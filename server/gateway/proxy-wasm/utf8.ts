// UTF-8 between host strings and guest bytes, with fast paths for the short ASCII strings proxy-wasm traffic is
// made of (header names and values, property paths, shared-data keys): TextEncoder/TextDecoder's call overhead
// dominates at that size.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

const SHORT = 256;

function isShortAscii(text: string): boolean {
  const length = text.length;
  if (length > SHORT) return false;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

export function encodeUtf8(text: string): Uint8Array {
  if (!isShortAscii(text)) return encoder.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

// Interning of short strings read from guest memory: a direct-mapped table (FNV-1a of the bytes -> the string
// last decoded from them). A hit returns the same string object, so no string is allocated and Map lookups keyed
// by it reuse its cached hash. A collision simply replaces the slot. Strings only, never guest memory, are kept.
/** Strings up to this many bytes are interned. */
export const INTERN_MAX = 64;
const INTERN_SLOTS = 1024;
const internTable: string[] = new Array<string>(INTERN_SLOTS).fill('');

/** Decodes `length` UTF-8 bytes of `bytes` at `start`. */
export function decodeAt(bytes: Buffer, start: number, length: number): string {
  if (length === 0) return '';
  if (length > INTERN_MAX) return decodeLong(bytes, start, length);
  const end = start + length;
  // The hash samples the first and last bytes only (keys of one kind share long prefixes and differ near the
  // end); the comparison below checks every byte, so a sample collision only costs a decode.
  let hash = 0x811c9dc5 ^ length;
  const head = Math.min(end, start + 8);
  for (let i = start; i < head; i++) hash = Math.imul(hash ^ (bytes[i] ?? 0), 0x01000193);
  for (let i = Math.max(head, end - 16); i < end; i++) hash = Math.imul(hash ^ (bytes[i] ?? 0), 0x01000193);
  const slot = (hash >>> 0) & (INTERN_SLOTS - 1);
  const cached = internTable[slot] ?? '';
  if (cached.length === length) {
    // Interned strings are ASCII, so equal char codes mean equal bytes (and the bytes are ASCII).
    let i = 0;
    while (i < length && cached.charCodeAt(i) === bytes[start + i]) i++;
    if (i === length) return cached;
  }
  for (let i = start; i < end; i++) {
    if ((bytes[i] ?? 0) > 0x7f) return decoder.decode(bytes.subarray(start, end));
  }
  const text = bytes.toString('latin1', start, end);
  internTable[slot] = text;
  return text;
}

function decodeLong(bytes: Buffer, start: number, length: number): string {
  const end = start + length;
  if (length > SHORT) return decoder.decode(bytes.subarray(start, end));
  for (let i = start; i < end; i++) {
    if ((bytes[i] ?? 0) > 0x7f) return decoder.decode(bytes.subarray(start, end));
  }
  return bytes.toString('latin1', start, end);
}
