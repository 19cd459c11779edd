// A reusable byte buffer for what throttle writes on every request (counter keys, the IETF RateLimit fields):
// pieces encoded once at configure time are copied in and numbers are written as digits, so a request builds no
// strings. One builder per purpose, reused across requests (callbacks never overlap within a module).
import { proxy_replace_header_map_value } from "../lib/abi";

export class ByteBuilder {
  buffer: ArrayBuffer = new ArrayBuffer(256);
  length: i32 = 0;

  reset(): ByteBuilder {
    this.length = 0;
    return this;
  }

  /** Room for `extra` more bytes; the address of the first. */
  private reserve(extra: i32): usize {
    const needed = this.length + extra;
    if (needed > this.buffer.byteLength) {
      let capacity = this.buffer.byteLength * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new ArrayBuffer(capacity);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.buffer), <usize>this.length);
      this.buffer = grown;
    }
    return changetype<usize>(this.buffer) + <usize>this.length;
  }

  bytes(data: ArrayBuffer): ByteBuilder {
    const size = data.byteLength;
    memory.copy(this.reserve(size), changetype<usize>(data), <usize>size);
    this.length += size;
    return this;
  }

  /** ASCII text (separators; anything else is encoded once and added with `bytes`). */
  ascii(text: string): ByteBuilder {
    const at = this.reserve(text.length);
    for (let i = 0; i < text.length; i++) store<u8>(at + <usize>i, <u8>text.charCodeAt(i));
    this.length += text.length;
    return this;
  }

  /** `value` in decimal, exactly as value.toString(). */
  decimal(value: u64): ByteBuilder {
    let digits = 1;
    for (let rest = value / 10; rest != 0; rest /= 10) digits++;
    const at = this.reserve(digits);
    let rest = value;
    for (let i = digits - 1; i >= 0; i--) {
      store<u8>(at + <usize>i, <u8>(48 + <u32>(rest % 10)));
      rest /= 10;
    }
    this.length += digits;
    return this;
  }

  /** True when the built bytes equal `data`. */
  equals(data: ArrayBuffer): bool {
    return data.byteLength == this.length
      && memory.compare(changetype<usize>(data), changetype<usize>(this.buffer), <usize>this.length) == 0;
  }

  /** The built bytes as their own buffer. */
  copy(): ArrayBuffer {
    const out = new ArrayBuffer(this.length);
    memory.copy(changetype<usize>(out), changetype<usize>(this.buffer), <usize>this.length);
    return out;
  }

  /** `previous` when it holds the same bytes (a stable address the host recognises), else a copy. */
  reuseOrCopy(previous: ArrayBuffer | null): ArrayBuffer {
    return previous !== null && this.equals(previous) ? previous : this.copy();
  }

  /** Sets (overwrites) header `name` (UTF-8 encoded) of map `map` to the built bytes. */
  setHeader(map: i32, name: ArrayBuffer): void {
    proxy_replace_header_map_value(map, changetype<usize>(name), <usize>name.byteLength, changetype<usize>(this.buffer), <usize>this.length);
  }
}
