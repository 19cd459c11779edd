// HMAC (RFC 2104) over SHA-256/384/512 for HS256/384/512 (RFC 7518 section 3.2).
import { Hash, constantTimeEqual, digest, hashBlockLength, hashLength } from './hash';

/** A MAC key with its inner and outer pads computed once, at configuration time. */
export class HmacKey {
  readonly hash: Hash;
  private readonly ipad: Uint8Array;
  private readonly opad: Uint8Array;

  constructor(hash: Hash, key: Uint8Array) {
    this.hash = hash;
    const block = hashBlockLength(hash);
    const k = key.length > block ? digest(hash, key) : key;
    const ipad = new Uint8Array(block);
    const opad = new Uint8Array(block);
    for (let i = 0; i < block; i++) {
      const b: u8 = i < k.length ? unchecked(k[i]) : 0;
      unchecked(ipad[i] = b ^ 0x36);
      unchecked(opad[i] = b ^ 0x5c);
    }
    this.ipad = ipad;
    this.opad = opad;
  }

  /** HMAC of `len` bytes at `ptr`. */
  macRaw(ptr: usize, len: i32): Uint8Array {
    const block = this.ipad.length;
    const inner = new Uint8Array(block + len);
    memory.copy(inner.dataStart, this.ipad.dataStart, <usize>block);
    memory.copy(inner.dataStart + <usize>block, ptr, <usize>len);
    const innerDigest = digest(this.hash, inner);
    const outer = new Uint8Array(block + innerDigest.length);
    memory.copy(outer.dataStart, this.opad.dataStart, <usize>block);
    memory.copy(outer.dataStart + <usize>block, innerDigest.dataStart, <usize>innerDigest.length);
    return digest(this.hash, outer);
  }

  mac(data: Uint8Array): Uint8Array {
    return this.macRaw(data.dataStart, data.length);
  }

  /** Verifies a full-length tag in constant time (JWS never truncates HMAC tags). */
  verifyRaw(ptr: usize, len: i32, tag: Uint8Array): bool {
    if (tag.length != hashLength(this.hash)) return false;
    return constantTimeEqual(this.macRaw(ptr, len), tag);
  }
}
