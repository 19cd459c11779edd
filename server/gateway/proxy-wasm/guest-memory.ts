// Bounds-checked access to a module's linear memory. Every guest pointer and length goes through here; a bad one
// throws GuestMemoryError, which the import wrappers turn into INVALID_MEMORY_ACCESS (or WASI FAULT).
//
// Hot paths avoid intermediate buffers: ASCII strings are written into guest memory char by char, short strings
// read from the guest are interned (the same header names, property paths and shared-data keys arrive on every
// request), and header maps are serialised straight into the guest's allocation.
import { type HeaderMap, measuredPairsSize, parsePairsAt, utf8Length, writeUtf8 } from './header-map.ts';
import type { HeaderList } from './types.ts';
import { decodeAt } from './utf8.ts';

export class GuestMemoryError extends Error {
  constructor(ptr: number, length: number) {
    super(`guest memory access out of bounds: ${ptr}+${length}`);
    this.name = 'GuestMemoryError';
  }
}

export class GuestMemory {
  private bytes: Uint8Array;
  /** The same memory as a Buffer, for its native latin1 decoding only (Buffer#slice does not copy: never hand
   *  out Buffer views). */
  private text: Buffer;
  private view: DataView;
  /** Per-entry UTF-8 lengths of the header map being returned (reused; see HeaderMap#measure). */
  private lengths: Int32Array = new Int32Array(64);
  private isReturningPairs = false;
  /** readString's cache by guest address (see there). */
  private readonly addressKeys = new Int32Array(ADDRESS_SLOTS).fill(-1);
  private readonly addressStrings: string[] = new Array<string>(ADDRESS_SLOTS).fill('');

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** The module's allocator (proxy_on_memory_allocate or malloc); returns a guest pointer or 0. */
    private readonly allocate: (size: number) => number,
  ) {
    this.bytes = new Uint8Array(memory.buffer);
    this.text = Buffer.from(memory.buffer);
    this.view = new DataView(memory.buffer);
  }

  get size(): number {
    this.sync();
    return this.bytes.length;
  }

  /** Refreshes the views when the guest grew its memory: growth detaches the old ArrayBuffer, whose views then
   *  have length 0. (A typed array's `length` is a plain field read; `byteLength` and memory.buffer cost ten times
   *  more, and this runs for every guest pointer.) */
  private sync(): void {
    if (this.bytes.length === 0) {
      this.bytes = new Uint8Array(this.memory.buffer);
      this.text = Buffer.from(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
    }
  }

  /** Normalises an i32 from the guest to an unsigned offset and checks [ptr, ptr+length) is in memory. */
  check(ptr: number, length: number): number {
    const start = ptr >>> 0;
    const size = length >>> 0;
    this.sync();
    if (start + size > this.bytes.length) throw new GuestMemoryError(start, size);
    return start;
  }

  /** A transient view (valid until the guest runs again). */
  bytesAt(ptr: number, length: number): Uint8Array {
    const start = this.check(ptr, length);
    return this.bytes.subarray(start, start + (length >>> 0));
  }

  /** A copy the host may keep. */
  copy(ptr: number, length: number): Uint8Array {
    const start = this.check(ptr, length);
    return this.bytes.slice(start, start + (length >>> 0));
  }

  readString(ptr: number, length: number): string {
    const start = this.check(ptr, length);
    const size = length >>> 0;
    if (size === 0 || size > ADDRESS_MAX) return decodeAt(this.text, start, size);
    // Modules pass names (header names, property paths, shared-data keys) from buffers they encoded once, so the
    // same address brings the same string: a cache by address skips the intern table's hash. The bytes are
    // compared in full, so a reused address with new contents is simply a miss. It covers strings longer than
    // the intern table's (counter keys of keyed limits run past 64 bytes): a hit also spares the shared-data
    // map hashing a new string.
    const slot = ((start >>> 3) ^ size) & (ADDRESS_SLOTS - 1);
    if (this.addressKeys[slot] === start) {
      const cached = this.addressStrings[slot] as string;
      if (cached.length === size && equalsAscii(cached, this.text, start)) return cached;
    }
    const text = decodeAt(this.text, start, size);
    this.addressKeys[slot] = start;
    this.addressStrings[slot] = text;
    return text;
  }

  /** The proxy-wasm map (pairs) at [ptr, ptr+length), decoded in place; null when malformed (see parsePairs). */
  readPairs(ptr: number, length: number): HeaderList | null {
    const start = this.check(ptr, length);
    return parsePairsAt(this.text, start, length >>> 0);
  }

  readU32(ptr: number): number {
    const start = this.check(ptr, 4);
    return this.view.getUint32(start, true);
  }

  writeU32(ptr: number, value: number): void {
    const start = this.check(ptr, 4);
    this.view.setUint32(start, value >>> 0, true);
  }

  writeU64(ptr: number, value: bigint): void {
    const start = this.check(ptr, 8);
    // setBigUint64 converts with ToBigUint64 (modulo 2^64): negative values wrap like BigInt.asUintN(64, ...).
    this.view.setBigUint64(start, value, true);
  }

  writeBytes(ptr: number, data: Uint8Array): void {
    const start = this.check(ptr, data.length);
    this.bytes.set(data, start);
  }

  /**
   * Allocates `size` bytes with the module's allocator for a returned value; both return slots are checked before
   * the guest allocates anything. Returns the checked address (0 when size is 0). The allocator runs guest code,
   * which may grow memory: callers write through this object's methods afterwards, never through old views.
   */
  private allocateReturn(size: number, ptrSlot: number, sizeSlot: number): number {
    this.check(ptrSlot, 4);
    this.check(sizeSlot, 4);
    if (size === 0) return 0;
    const address = this.allocate(size) >>> 0;
    if (address === 0) throw new GuestMemoryError(0, size);
    return this.check(address, size);
  }

  private finishReturn(address: number, size: number, ptrSlot: number, sizeSlot: number): void {
    const view = this.view;
    view.setUint32(ptrSlot >>> 0, address, true);
    view.setUint32(sizeSlot >>> 0, size, true);
  }

  /**
   * Returns `data` to the guest the proxy-wasm way: allocate with the module's allocator, copy, and write the
   * address and size to the two return slots. Both slots are checked before the guest allocates anything.
   */
  returnBytes(data: Uint8Array, ptrSlot: number, sizeSlot: number): void {
    const length = data.length;
    const address = this.allocateReturn(length, ptrSlot, sizeSlot);
    if (length > 0) this.bytes.set(data, address);
    this.finishReturn(address, length, ptrSlot, sizeSlot);
  }

  returnString(text: string, ptrSlot: number, sizeSlot: number): void {
    // Hot path (header values, property strings): UTF-8 straight into guest memory, no intermediate buffer.
    const length = utf8Length(text);
    const address = this.allocateReturn(length, ptrSlot, sizeSlot);
    writeUtf8(this.text, text, address, length);
    this.finishReturn(address, length, ptrSlot, sizeSlot);
  }

  /** Returns the serialised pairs of `map` (proxy-wasm map format), written straight into the allocation. */
  returnPairs(map: HeaderMap, ptrSlot: number, sizeSlot: number): void {
    if (this.isReturningPairs) {
      // The allocator called back into the host (only a hostile module would): no shared scratch then.
      this.returnBytes(map.serialize(), ptrSlot, sizeSlot);
      return;
    }
    this.isReturningPairs = true;
    try {
      const lengths = (this.lengths = map.measure(this.lengths));
      const size = measuredPairsSize();
      const version = map.version;
      const address = this.allocateReturn(size, ptrSlot, sizeSlot);
      if (map.version !== version) throw new Error('header map changed while the module allocated its copy');
      map.writePairs(this.text, this.view, address, lengths);
      this.finishReturn(address, size, ptrSlot, sizeSlot);
    } finally {
      this.isReturningPairs = false;
    }
  }
}

const ADDRESS_SLOTS = 256;
/** Strings up to this many bytes are cached by address. */
const ADDRESS_MAX = 256;

/** True when `text` has exactly the bytes at `start` of `bytes` as char codes (then both are ASCII: a decoded
 *  string never holds a char equal to a non-ASCII byte it was decoded from). The caller checked the length. */
function equalsAscii(text: string, bytes: Buffer, start: number): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== bytes[start + i]) return false;
  }
  return true;
}
