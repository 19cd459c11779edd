// RSA signature verification (RFC 8017): RSASSA-PKCS1-v1_5 (section 8.2.2, for RS256/384/512) and RSASSA-PSS
// (section 8.1.2, for PS256/384/512 with MGF1 over the same hash and a salt as long as the hash, as RFC 7518
// section 3.5 requires).
import { Montgomery } from './montgomery';
import { bitLength, cmp, limbsFromBytes, limbsToBytes } from './limbs';
import { Hash, digest, hashLength } from './hash';

/** Smallest and largest modulus accepted: RFC 7518 section 3.3 requires 2048 bits; 4096 bounds the cost. */
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 4096;

// DER DigestInfo prefixes (RFC 8017 section 9.2, note 1), each followed by the digest.
const PREFIX_SHA256: StaticArray<u8> = [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
const PREFIX_SHA384: StaticArray<u8> = [0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30];
const PREFIX_SHA512: StaticArray<u8> = [0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40];

export class RsaPublicKey {
  /** Modulus length in bytes (the signature length). */
  readonly size: i32;
  readonly bits: i32;
  private readonly mont: Montgomery;
  private readonly e: StaticArray<u32>;
  // Scratch limbs, reused by every verification with this key.
  private readonly s: StaticArray<u32>;
  private readonly x: StaticArray<u32>;
  private readonly tmp: StaticArray<u32>;
  private readonly em: Uint8Array;

  private constructor(n: StaticArray<u32>, e: StaticArray<u32>) {
    const bits = bitLength(n);
    const size = (bits + 7) >> 3;
    const limbs = n.length;
    this.bits = bits;
    this.size = size;
    this.mont = new Montgomery(n);
    this.e = e;
    this.s = new StaticArray<u32>(limbs);
    this.x = new StaticArray<u32>(limbs);
    this.tmp = new StaticArray<u32>(limbs);
    this.em = new Uint8Array(size);
  }

  /**
   * Builds a key from the big-endian modulus and exponent (JWK `n` and `e` after base64url decoding).
   * Null unless the modulus is odd and 2048..4096 bits and the exponent odd, > 1 and below 2^64.
   */
  static create(nBytes: Uint8Array, eBytes: Uint8Array): RsaPublicKey | null {
    const n = new StaticArray<u32>(RSA_MAX_BITS >> 5);
    if (!limbsFromBytes(n, nBytes.dataStart, nBytes.length)) return null;
    const bits = bitLength(n);
    if (bits < RSA_MIN_BITS || (unchecked(n[0]) & 1) == 0) return null;
    const trimmed = new StaticArray<u32>((bits + 31) >> 5);
    memory.copy(changetype<usize>(trimmed), changetype<usize>(n), <usize>trimmed.length << 2);
    const e = new StaticArray<u32>(2);
    if (!limbsFromBytes(e, eBytes.dataStart, eBytes.length)) return null;
    if ((unchecked(e[0]) & 1) == 0 || (unchecked(e[1]) == 0 && unchecked(e[0]) < 3)) return null;
    return new RsaPublicKey(trimmed, e);
  }

  /** s^e mod n as `size` big-endian bytes in this.em; false when the signature is not a valid representative. */
  private publicOp(sigPtr: usize, sigLen: i32): bool {
    // RFC 8017 section 8.2.2 step 1: the signature is exactly k bytes; section 5.2.2: s < n.
    if (sigLen != this.size) return false;
    const s = this.s;
    if (!limbsFromBytes(s, sigPtr, sigLen)) return false;
    if (cmp(s, this.mont.m) >= 0) return false;
    const mont = this.mont;
    mont.toMont(this.x, s);
    mont.pow(this.x, this.x, this.e, this.tmp);
    mont.fromMont(s, this.x);
    limbsToBytes(s, this.em.dataStart, this.size);
    return true;
  }

  /** RSASSA-PKCS1-v1_5 over a message whose `hash` digest is `mHash`. */
  verifyPkcs1(hash: Hash, mHash: Uint8Array, sigPtr: usize, sigLen: i32): bool {
    if (mHash.length != hashLength(hash)) return false;
    if (!this.publicOp(sigPtr, sigLen)) return false;
    const prefix = hash == Hash.SHA256 ? PREFIX_SHA256 : hash == Hash.SHA384 ? PREFIX_SHA384 : PREFIX_SHA512;
    const em = this.em.dataStart;
    const k = this.size;
    const tLen = prefix.length + mHash.length;
    // EM = 0x00 || 0x01 || PS (0xff, at least 8 bytes) || 0x00 || DigestInfo || H
    if (k < tLen + 11) return false;
    let diff: u32 = <u32>load<u8>(em) | (<u32>load<u8>(em + 1) ^ 1);
    const psEnd = k - tLen - 1;
    for (let i = 2; i < psEnd; i++) diff |= <u32>load<u8>(em + <usize>i) ^ 0xff;
    diff |= <u32>load<u8>(em + <usize>psEnd);
    const p = changetype<usize>(prefix);
    for (let i = 0; i < prefix.length; i++) diff |= <u32>(load<u8>(em + <usize>(psEnd + 1 + i)) ^ load<u8>(p + <usize>i));
    const h = mHash.dataStart;
    const hStart = k - mHash.length;
    for (let i = 0; i < mHash.length; i++) diff |= <u32>(load<u8>(em + <usize>(hStart + i)) ^ load<u8>(h + <usize>i));
    return diff == 0;
  }

  /** RSASSA-PSS with MGF1(`hash`) and a salt of `hashLength(hash)` bytes (RFC 8017 section 9.1.2). */
  verifyPss(hash: Hash, mHash: Uint8Array, sigPtr: usize, sigLen: i32): bool {
    const hLen = hashLength(hash);
    const sLen = hLen;
    if (mHash.length != hLen) return false;
    if (!this.publicOp(sigPtr, sigLen)) return false;
    const emBits = this.bits - 1;
    const emLen = (emBits + 7) >> 3;
    // When modBits - 1 is a multiple of 8 the k-byte integer has one leading zero byte beyond EM.
    let em = this.em.dataStart;
    if (emLen < this.size) {
      if (load<u8>(em) != 0) return false;
      em += 1;
    }
    if (emLen < hLen + sLen + 2) return false;
    if (load<u8>(em + <usize>(emLen - 1)) != 0xbc) return false;
    const dbLen = emLen - hLen - 1;
    const topBits = 8 * emLen - emBits;
    const topMask = <u8>(<u32>0xff >>> <u32>topBits);
    if ((load<u8>(em) & ~topMask) != 0) return false;
    const hPtr = em + <usize>dbLen;
    // DB = maskedDB xor MGF1(H, dbLen)
    const db = new Uint8Array(dbLen);
    const seed = new Uint8Array(hLen + 4);
    memory.copy(seed.dataStart, hPtr, <usize>hLen);
    let counter: u32 = 0;
    for (let off = 0; off < dbLen; off += hLen) {
      store<u32>(seed.dataStart + <usize>hLen, bswap<u32>(counter++));
      const mask = digest(hash, seed);
      const end = min(off + hLen, dbLen);
      for (let i = off; i < end; i++) unchecked(db[i] = load<u8>(em + <usize>i) ^ unchecked(mask[i - off]));
    }
    unchecked(db[0] = unchecked(db[0]) & topMask);
    const psLen = emLen - hLen - sLen - 2;
    for (let i = 0; i < psLen; i++) if (unchecked(db[i]) != 0) return false;
    if (unchecked(db[psLen]) != 0x01) return false;
    // M' = 0x00 * 8 || mHash || salt; H must equal Hash(M').
    const mPrime = new Uint8Array(8 + hLen + sLen);
    memory.copy(mPrime.dataStart + 8, mHash.dataStart, <usize>hLen);
    memory.copy(mPrime.dataStart + 8 + <usize>hLen, db.dataStart + <usize>(dbLen - sLen), <usize>sLen);
    const h2 = digest(hash, mPrime);
    let diff: u32 = 0;
    for (let i = 0; i < hLen; i++) diff |= <u32>(load<u8>(hPtr + <usize>i) ^ unchecked(h2[i]));
    return diff == 0;
  }
}
