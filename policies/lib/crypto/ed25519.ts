// Ed25519 verification (RFC 8032 section 5.1.7) for the JWS algorithm "EdDSA" with an OKP key on crv
// "Ed25519" (RFC 8037). Field and scalar arithmetic reuse the generic Montgomery code: slower than a dedicated
// 2^255 - 19 field, but one implementation to trust. Points use extended coordinates (X:Y:Z:T), x = X/Z,
// y = Y/Z, xy = T/Z, with the unified formulas of RFC 8032 section 5.1.4.
import { Montgomery } from './montgomery';
import { bitLength, cmp, cmpAt, isZeroAt, limbsFromBe, testBit } from './limbs';
import { sha512Raw } from './sha512';

// Curve constants as big-endian bytes (one byte each in the data segment, where a hex string costs four).
const ED_P: StaticArray<u8> = [
  0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xed,
];
const ED_D: StaticArray<u8> = [
  0x52, 0x03, 0x6c, 0xee, 0x2b, 0x6f, 0xfe, 0x73, 0x8c, 0xc7, 0x40, 0x79, 0x77, 0x79, 0xe8, 0x98, 0x00, 0x70,
  0x0a, 0x4d, 0x41, 0x41, 0xd8, 0xab, 0x75, 0xeb, 0x4d, 0xca, 0x13, 0x59, 0x78, 0xa3,
];
const ED_SQRT_M1: StaticArray<u8> = [
  0x2b, 0x83, 0x24, 0x80, 0x4f, 0xc1, 0xdf, 0x0b, 0x2b, 0x4d, 0x00, 0x99, 0x3d, 0xfb, 0xd7, 0xa7, 0x2f, 0x43,
  0x18, 0x06, 0xad, 0x2f, 0xe4, 0x78, 0xc4, 0xee, 0x1b, 0x27, 0x4a, 0x0e, 0xa0, 0xb0,
];
const ED_BX: StaticArray<u8> = [
  0x21, 0x69, 0x36, 0xd3, 0xcd, 0x6e, 0x53, 0xfe, 0xc0, 0xa4, 0xe2, 0x31, 0xfd, 0xd6, 0xdc, 0x5c, 0x69, 0x2c,
  0xc7, 0x60, 0x95, 0x25, 0xa7, 0xb2, 0xc9, 0x56, 0x2d, 0x60, 0x8f, 0x25, 0xd5, 0x1a,
];
const ED_BY: StaticArray<u8> = [
  0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
  0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x58,
];
const ED_L: StaticArray<u8> = [
  0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0xde,
  0xf9, 0xde, 0xa2, 0xf7, 0x9c, 0xd6, 0x58, 0x12, 0x63, 0x1a, 0x5c, 0xf5, 0xd3, 0xed,
];
const ED_SQRT_EXP: StaticArray<u8> = [
  0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd,
];

// Field elements are 8 limbs (32 bytes); a point is 4 consecutive elements X, Y, Z, T at a raw pointer, so the
// formulas pass plain integers (no shadow-stack traffic for managed references).
const LIMBS = 8;
const E: usize = 32;
const POINT: usize = 4 * E;
// Scratch layout, in field elements: 10 temporaries, then the points B, B - A, R and the accumulator.
const TEMPS = 10;
const BASE = TEMPS;
const BA = BASE + 4;
const RP = BA + 4;
const ACC = RP + 4;
const SLOTS = ACC + 4;

class Ed25519 {
  readonly fp: Montgomery;
  readonly fl: Montgomery;
  /** d, 2d and sqrt(-1) in the Montgomery domain of p. */
  private readonly d: StaticArray<u32>;
  private readonly d2: StaticArray<u32>;
  private readonly sqrtM1: StaticArray<u32>;
  /** (p - 5) / 8, the exponent of the combined square root and inversion. */
  private readonly pSqrtExp: StaticArray<u32>;
  private readonly mem: StaticArray<u32>;
  readonly base: usize;

  constructor() {
    const fp = new Montgomery(limbsFromBe(ED_P, LIMBS));
    // d = -121665 / 121666 and sqrt(-1) = 2^((p - 1) / 4) mod p (RFC 8032 section 5.1), then 2d.
    const d = limbsFromBe(ED_D, LIMBS);
    fp.toMont(d, d);
    const d2 = new StaticArray<u32>(LIMBS);
    fp.add(d2, d, d);
    const sqrtM1 = limbsFromBe(ED_SQRT_M1, LIMBS);
    fp.toMont(sqrtM1, sqrtM1);
    const mem = new StaticArray<u32>(SLOTS * LIMBS);
    this.fp = fp;
    this.fl = new Montgomery(limbsFromBe(ED_L, LIMBS));
    // (p - 5) / 8 = 2^252 - 3
    this.pSqrtExp = limbsFromBe(ED_SQRT_EXP, LIMBS);
    this.d = d;
    this.d2 = d2;
    this.sqrtM1 = sqrtM1;
    this.mem = mem;
    this.base = changetype<usize>(mem);
    // The base point B (RFC 8032 section 5.1: y = 4/5, x even).
    const b = this.slot(BASE);
    fp.toMontAt(b, changetype<usize>(limbsFromBe(ED_BX, LIMBS)));
    fp.toMontAt(b + E, changetype<usize>(limbsFromBe(ED_BY, LIMBS)));
    memory.copy(b + 2 * E, changetype<usize>(fp.one), E);
    fp.mulAt(b + 3 * E, b, b + E);
  }

  @inline slot(i: i32): usize {
    return this.base + <usize>i * E;
  }

  /** RFC 8032 section 5.1.3 into the point at `out` (Z = 1); false when the 32 bytes encode no point. */
  decode(out: usize, ptr: usize): bool {
    const fp = this.fp;
    const x = out, y = out + E;
    memory.copy(y, ptr, E);
    const sign = load<u32>(y + 28) >> 31;
    store<u32>(y + 28, load<u32>(y + 28) & 0x7fffffff);
    if (cmpAt(y, changetype<usize>(fp.m), LIMBS) >= 0) return false;
    fp.toMontAt(y, y);
    const t0 = this.slot(0);
    const u = t0, v = t0 + E, v3 = t0 + 2 * E, t = t0 + 3 * E, tmp = t0 + 4 * E;
    // u = y^2 - 1, v = d y^2 + 1
    const one = changetype<usize>(fp.one);
    fp.mulAt(u, y, y);
    fp.mulAt(v, u, changetype<usize>(this.d));
    fp.subAt(u, u, one);
    fp.addAt(v, v, one);
    // x = u v^3 (u v^7)^((p - 5) / 8)
    fp.mulAt(v3, v, v);
    fp.mulAt(v3, v3, v);
    fp.mulAt(x, v3, v3);
    fp.mulAt(x, x, v);
    fp.mulAt(x, x, u);
    const exp = this.pSqrtExp;
    memory.copy(tmp, x, E);
    for (let i = bitLength(exp) - 2; i >= 0; i--) {
      fp.sqrAt(tmp, tmp);
      if (testBit(exp, i)) fp.mulAt(tmp, tmp, x);
    }
    fp.mulAt(x, tmp, v3);
    fp.mulAt(x, x, u);
    // v x^2 == u: x is a root; == -u: x sqrt(-1) is; otherwise no root.
    fp.mulAt(t, x, x);
    fp.mulAt(t, t, v);
    if (cmpAt(t, u, LIMBS) != 0) {
      fp.addAt(t, t, u);
      if (!isZeroAt(t, LIMBS)) return false;
      fp.mulAt(x, x, changetype<usize>(this.sqrtM1));
    }
    fp.fromMontAt(tmp, x);
    if (isZeroAt(tmp, LIMBS) && sign == 1) return false;
    if ((load<u32>(tmp) & 1) != sign) {
      memory.fill(t, 0, E);
      fp.subAt(x, t, x);
    }
    memory.copy(out + 2 * E, one, E);
    fp.mulAt(out + 3 * E, x, y);
    return true;
  }

  /** out = p + q; complete formulas (RFC 8032 section 5.1.4), so they also double. `out` may be `p`. */
  add(out: usize, p: usize, q: usize): void {
    const fp = this.fp, s = this.slot(0);
    const a = s, b = s + E, c = s + 2 * E, d = s + 3 * E, e = s + 4 * E, f = s + 5 * E, g = s + 6 * E, h = s + 7 * E;
    fp.subAt(a, p + E, p);
    fp.subAt(e, q + E, q);
    fp.mulAt(a, a, e);
    fp.addAt(b, p + E, p);
    fp.addAt(e, q + E, q);
    fp.mulAt(b, b, e);
    fp.mulAt(c, p + 3 * E, changetype<usize>(this.d2));
    fp.mulAt(c, c, q + 3 * E);
    fp.mulAt(d, p + 2 * E, q + 2 * E);
    fp.addAt(d, d, d);
    fp.subAt(e, b, a);
    fp.subAt(f, d, c);
    fp.addAt(g, d, c);
    fp.addAt(h, b, a);
    fp.mulAt(out, e, f);
    fp.mulAt(out + E, g, h);
    fp.mulAt(out + 3 * E, e, h);
    fp.mulAt(out + 2 * E, f, g);
  }

  /** out = 2p (RFC 8032 section 5.1.4, doubling). */
  double(out: usize, p: usize): void {
    const fp = this.fp, s = this.slot(0);
    const a = s, b = s + E, c = s + 2 * E, h = s + 3 * E, e = s + 4 * E, g = s + 5 * E, f = s + 6 * E;
    fp.mulAt(a, p, p);
    fp.mulAt(b, p + E, p + E);
    fp.mulAt(c, p + 2 * E, p + 2 * E);
    fp.addAt(c, c, c);
    fp.addAt(h, a, b);
    fp.addAt(e, p, p + E);
    fp.mulAt(e, e, e);
    fp.subAt(e, h, e);
    fp.subAt(g, a, b);
    fp.addAt(f, c, g);
    fp.mulAt(out, e, f);
    fp.mulAt(out + E, g, h);
    fp.mulAt(out + 3 * E, e, h);
    fp.mulAt(out + 2 * E, f, g);
  }
}

let instance: Ed25519 | null = null;

function ed25519(): Ed25519 {
  let e = instance;
  if (e == null) {
    e = new Ed25519();
    instance = e;
  }
  return e;
}

/** A decoded Ed25519 public key: -A (negated once, as the verification equation uses it) and its encoding. */
export class Ed25519PublicKey {
  constructor(public readonly bytes: Uint8Array, public readonly negA: StaticArray<u32>) {}
}

/** Decodes a 32-byte public key once (at configuration), or null when it encodes no point. */
export function ed25519PublicKey(bytes: Uint8Array): Ed25519PublicKey | null {
  if (bytes.length != 32) return null;
  const ed = ed25519();
  const fp = ed.fp;
  const point = new StaticArray<u32>(4 * LIMBS);
  const p = changetype<usize>(point);
  if (!ed.decode(p, bytes.dataStart)) return null;
  const zero = ed.slot(0);
  memory.fill(zero, 0, E);
  fp.subAt(p, zero, p);
  fp.subAt(p + 3 * E, zero, p + 3 * E);
  return new Ed25519PublicKey(bytes, point);
}

/**
 * RFC 8032 section 5.1.7, cofactorless: [S]B - [k]A must be R. R is decoded (which refuses non-canonical
 * encodings) and compared in projective coordinates: X == x_R Z and Y == y_R Z, with no inversion.
 */
export function ed25519Verify(key: Ed25519PublicKey, msgPtr: usize, msgLen: i32, sig: Uint8Array): bool {
  if (sig.length != 64) return false;
  const ed = ed25519();
  const fp = ed.fp, fl = ed.fl;
  // S < L
  const sc = new StaticArray<u32>(LIMBS);
  memory.copy(changetype<usize>(sc), sig.dataStart + 32, E);
  if (cmp(sc, fl.m) >= 0) return false;
  const r = ed.slot(RP);
  if (!ed.decode(r, sig.dataStart)) return false;
  // k = SHA-512(R || A || M) mod L, the digest read as a little-endian 512-bit integer.
  const buf = new Uint8Array(64 + msgLen);
  memory.copy(buf.dataStart, sig.dataStart, 32);
  memory.copy(buf.dataStart + 32, key.bytes.dataStart, 32);
  memory.copy(buf.dataStart + 64, msgPtr, <usize>msgLen);
  const h = new StaticArray<u32>(16);
  const hp = changetype<usize>(h);
  sha512Raw(buf.dataStart, buf.length, hp, false);
  // hi * 2^256 mod L = mont(hi, R^2); lo mod L = mont(mont(lo, R^2), 1)
  const k = new StaticArray<u32>(LIMBS);
  const kp = changetype<usize>(k);
  fl.mulAt(hp + E, hp + E, changetype<usize>(fl.r2));
  fl.toMontAt(hp, hp);
  fl.fromMontAt(hp, hp);
  fl.addAt(kp, hp, hp + E);
  // P = [S]B + [k](-A), by Shamir's trick over B, -A and B - A.
  const a = changetype<usize>(key.negA);
  const b = ed.slot(BASE), ba = ed.slot(BA), acc = ed.slot(ACC);
  ed.add(ba, b, a);
  memory.fill(acc, 0, POINT);
  memory.copy(acc + E, changetype<usize>(fp.one), E);
  memory.copy(acc + 2 * E, changetype<usize>(fp.one), E);
  const bits = max(bitLength(sc), bitLength(k));
  for (let i = bits - 1; i >= 0; i--) {
    ed.double(acc, acc);
    const b1 = testBit(sc, i), b2 = testBit(k, i);
    if (b1 && b2) ed.add(acc, acc, ba);
    else if (b1) ed.add(acc, acc, b);
    else if (b2) ed.add(acc, acc, a);
  }
  const c = ed.slot(0);
  fp.mulAt(c, r, acc + 2 * E);
  if (cmpAt(c, acc, LIMBS) != 0) return false;
  fp.mulAt(c, r + E, acc + 2 * E);
  return cmpAt(c, acc + E, LIMBS) == 0;
}
