// Bounds-checked access to a module's linear memory. Every guest pointer and length goes through here; a bad one
// throws GuestMemoryError, which the import wrappers turn into INVALID_MEMORY_ACCESS (or WASI FAULT).

export class GuestMemoryError extends Error {
  constructor(ptr: number, length: number) {
    super(`guest memory access out of bounds: ${ptr}+${length}`);
    this.name = 'GuestMemoryError';
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

export class GuestMemory {
  private bytes: Uint8Array;
  private view: DataView;

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** The module's allocator (proxy_on_memory_allocate or malloc); returns a guest pointer or 0. */
    private readonly allocate: (size: number) => number,
  ) {
    this.bytes = new Uint8Array(memory.buffer);
    this.view = new DataView(memory.buffer);
  }

  get size(): number {
    this.sync();
    return this.bytes.byteLength;
  }

  /** Refreshes the views when the guest grew its memory: growth detaches the old ArrayBuffer, whose views then
   *  have length 0 (cheaper to test than reading memory.buffer on every access). */
  private sync(): void {
    if (this.bytes.byteLength === 0) {
      this.bytes = new Uint8Array(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
    }
  }

  /** Normalises an i32 from the guest to an unsigned offset and checks [ptr, ptr+length) is in memory. */
  check(ptr: number, length: number): number {
    const start = ptr >>> 0;
    const size = length >>> 0;
    this.sync();
    if (start + size > this.bytes.byteLength) throw new GuestMemoryError(start, size);
    return start;
  }

  /** A transient view (valid until the guest runs again). */
  bytesAt(ptr: number, length: number): Uint8Array {
    const start = this.check(ptr, length);
    return this.bytes.subarray(start, start + (length >>> 0));
  }

  /** A copy the host may keep. */
  copy(ptr: number, length: number): Uint8Array {
    return this.bytesAt(ptr, length).slice();
  }

  readString(ptr: number, length: number): string {
    return decodeUtf8(this.bytesAt(ptr, length));
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
    this.view.setBigUint64(start, BigInt.asUintN(64, value), true);
  }

  writeBytes(ptr: number, data: Uint8Array): void {
    const start = this.check(ptr, data.length);
    this.bytes.set(data, start);
  }

  /**
   * Returns `data` to the guest the proxy-wasm way: allocate with the module's allocator, copy, and write the
   * address and size to the two return slots. Both slots are checked before the guest allocates anything.
   */
  returnBytes(data: Uint8Array, ptrSlot: number, sizeSlot: number): void {
    this.check(ptrSlot, 4);
    this.check(sizeSlot, 4);
    let address = 0;
    if (data.length > 0) {
      address = this.allocate(data.length) >>> 0;
      if (address === 0) throw new GuestMemoryError(0, data.length);
      this.writeBytes(address, data);
    }
    this.writeU32(ptrSlot, address);
    this.writeU32(sizeSlot, data.length);
  }

  returnString(text: string, ptrSlot: number, sizeSlot: number): void {
    if (!isShortAscii(text)) {
      this.returnBytes(encoder.encode(text), ptrSlot, sizeSlot);
      return;
    }
    // Hot path (header values, property strings): write ASCII straight into guest memory, no intermediate buffer.
    this.check(ptrSlot, 4);
    this.check(sizeSlot, 4);
    const length = text.length;
    let address = 0;
    if (length > 0) {
      address = this.allocate(length) >>> 0;
      if (address === 0) throw new GuestMemoryError(0, length);
      const start = this.check(address, length);
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) bytes[start + i] = text.charCodeAt(i);
    }
    this.writeU32(ptrSlot, address);
    this.writeU32(sizeSlot, length);
  }
}

const SHORT = 256;

function isShortAscii(text: string): boolean {
  if (text.length > SHORT) return false;
  for (let i = 0; i < text.length; i++) {
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

/** UTF-8 decoding with a fast path for short ASCII (TextDecoder's call overhead dominates for header-sized input). */
export function decodeUtf8(bytes: Uint8Array): string {
  const length = bytes.length;
  if (length > SHORT) return decoder.decode(bytes);
  for (let i = 0; i < length; i++) {
    if ((bytes[i] ?? 0) > 0x7f) return decoder.decode(bytes);
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}
