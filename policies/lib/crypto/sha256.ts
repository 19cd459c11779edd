// SHA-256 (FIPS 180-4). API keys travel to policies only as lowercase-hex SHA-256 digests, so the api-key
// policy hashes what it receives; jwt and hmac code build on `sha256` too. Code that keeps intermediate states
// (PBKDF2's precomputed HMAC pad states, pbkdf2.ts) compresses through `sha256StateAfterBlock` and
// `sha256CompressWords`, which run the same rounds as the hot path.
import { hexEncode } from "../encoding";

// @ts-ignore: decorator
@lazy const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

// Scratch space reused by every call: the module is single-threaded and the hash never re-enters.
// @ts-ignore: decorator
@lazy const W = new StaticArray<u32>(64);
// @ts-ignore: decorator
@lazy const H = new StaticArray<u32>(8);
// @ts-ignore: decorator
@lazy const TAIL = new StaticArray<u8>(128);

@inline function rotr(x: u32, n: u32): u32 { return (x >>> n) | (x << (32 - n)); }
@inline function bigSigma0(x: u32): u32 { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
@inline function bigSigma1(x: u32): u32 { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
@inline function choose(x: u32, y: u32, z: u32): u32 { return z ^ (x & (y ^ z)); }
@inline function majority(x: u32, y: u32, z: u32): u32 { return (x & y) ^ (x & z) ^ (y & z); }

/** One compression of the block in W[0..16] into H. Inlined in each caller: the hot path stays one function. */
// @ts-ignore: decorator
@inline function compressSchedule(): void {
  for (let i = 16; i < 64; i++) {
    const w15 = unchecked(W[i - 15]);
    const w2 = unchecked(W[i - 2]);
    const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
    unchecked(W[i] = unchecked(W[i - 16]) + s0 + unchecked(W[i - 7]) + s1);
  }
  let a = unchecked(H[0]), b = unchecked(H[1]), c = unchecked(H[2]), d = unchecked(H[3]);
  let e = unchecked(H[4]), f = unchecked(H[5]), g = unchecked(H[6]), h = unchecked(H[7]);
  let t1: u32 = 0;
  // Eight rounds per iteration with the working variables renamed instead of shifted (a round's new `a` is the
  // next round's `b`, ...): after eight rounds the names line up again.
  for (let i = 0; i < 64; i += 8) {
    t1 = h + bigSigma1(e) + choose(e, f, g) + unchecked(K[i + 0]) + unchecked(W[i + 0]);
    d += t1;
    h = t1 + bigSigma0(a) + majority(a, b, c);
    t1 = g + bigSigma1(d) + choose(d, e, f) + unchecked(K[i + 1]) + unchecked(W[i + 1]);
    c += t1;
    g = t1 + bigSigma0(h) + majority(h, a, b);
    t1 = f + bigSigma1(c) + choose(c, d, e) + unchecked(K[i + 2]) + unchecked(W[i + 2]);
    b += t1;
    f = t1 + bigSigma0(g) + majority(g, h, a);
    t1 = e + bigSigma1(b) + choose(b, c, d) + unchecked(K[i + 3]) + unchecked(W[i + 3]);
    a += t1;
    e = t1 + bigSigma0(f) + majority(f, g, h);
    t1 = d + bigSigma1(a) + choose(a, b, c) + unchecked(K[i + 4]) + unchecked(W[i + 4]);
    h += t1;
    d = t1 + bigSigma0(e) + majority(e, f, g);
    t1 = c + bigSigma1(h) + choose(h, a, b) + unchecked(K[i + 5]) + unchecked(W[i + 5]);
    g += t1;
    c = t1 + bigSigma0(d) + majority(d, e, f);
    t1 = b + bigSigma1(g) + choose(g, h, a) + unchecked(K[i + 6]) + unchecked(W[i + 6]);
    f += t1;
    b = t1 + bigSigma0(c) + majority(c, d, e);
    t1 = a + bigSigma1(f) + choose(f, g, h) + unchecked(K[i + 7]) + unchecked(W[i + 7]);
    e += t1;
    a = t1 + bigSigma0(b) + majority(b, c, d);
  }
  unchecked(H[0] += a); unchecked(H[1] += b); unchecked(H[2] += c); unchecked(H[3] += d);
  unchecked(H[4] += e); unchecked(H[5] += f); unchecked(H[6] += g); unchecked(H[7] += h);
}

/** One compression of the 64-byte block at `block` into H. */
function compress(block: usize): void {
  for (let i = 0; i < 16; i++) {
    unchecked(W[i] = bswap<u32>(load<u32>(block + (<usize>i << 2))));
  }
  compressSchedule();
}

/** H = the initial hash value. */
// @ts-ignore: decorator
@inline function initState(): void {
  unchecked(H[0] = 0x6a09e667); unchecked(H[1] = 0xbb67ae85); unchecked(H[2] = 0x3c6ef372);
  unchecked(H[3] = 0xa54ff53a); unchecked(H[4] = 0x510e527f); unchecked(H[5] = 0x9b05688c);
  unchecked(H[6] = 0x1f83d9ab); unchecked(H[7] = 0x5be0cd19);
}

/** `out` (8 words) = the SHA-256 state after compressing the one 64-byte block at `block` from the initial value. */
export function sha256StateAfterBlock(block: usize, out: StaticArray<u32>): void {
  initState();
  compress(block);
  for (let i = 0; i < 8; i++) unchecked(out[i] = unchecked(H[i]));
}

/**
 * One SHA-256 compression of the block given as 16 big-endian words `words[0..16]` into the state `from`; the new
 * state goes to `to` (8 words). `to` may be `from`, or `words` (the block is read before the state is written).
 */
export function sha256CompressWords(from: StaticArray<u32>, words: StaticArray<u32>, to: StaticArray<u32>): void {
  for (let i = 0; i < 8; i++) unchecked(H[i] = unchecked(from[i]));
  for (let i = 0; i < 16; i++) unchecked(W[i] = unchecked(words[i]));
  compressSchedule();
  for (let i = 0; i < 8; i++) unchecked(to[i] = unchecked(H[i]));
}

/** SHA-256 of `length` bytes at `ptr`, written as 32 bytes to `out`. */
export function sha256Into(ptr: usize, length: usize, out: usize): void {
  initState();
  let offset: usize = 0;
  while (length - offset >= 64) {
    compress(ptr + offset);
    offset += 64;
  }
  const rest = length - offset;
  const tail = changetype<usize>(TAIL);
  memory.fill(tail, 0, 128);
  memory.copy(tail, ptr + offset, rest);
  store<u8>(tail + rest, 0x80);
  const tailLength: usize = rest < 56 ? 64 : 128;
  const bits = <u64>length << 3;
  store<u64>(tail + tailLength - 8, bswap<u64>(bits));
  compress(tail);
  if (tailLength == 128) compress(tail + 64);
  for (let i = 0; i < 8; i++) {
    store<u32>(out + (<usize>i << 2), bswap<u32>(unchecked(H[i])));
  }
}

/** SHA-256 digest (32 bytes) of `data`. */
export function sha256(data: ArrayBuffer): ArrayBuffer {
  const out = new ArrayBuffer(32);
  sha256Into(changetype<usize>(data), <usize>data.byteLength, changetype<usize>(out));
  return out;
}

// @ts-ignore: decorator
@lazy const DIGEST = new ArrayBuffer(32);

/** SHA-256 digest of `data` as 64 lowercase hex characters (the binary digest goes through a static scratch). */
export function sha256Hex(data: ArrayBuffer): string {
  sha256Into(changetype<usize>(data), <usize>data.byteLength, changetype<usize>(DIGEST));
  return hexEncode(DIGEST);
}

/** SHA-256 digest of the UTF-8 bytes of `text` as 64 lowercase hex characters. */
export function sha256HexOfString(text: string): string {
  return sha256Hex(String.UTF8.encode(text));
}
