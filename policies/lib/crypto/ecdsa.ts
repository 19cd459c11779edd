// ECDSA verification (FIPS 186-5 section 6.4.2) on P-256 and P-384 (SP 800-186 section 3.2.1), as JWS uses them
// for ES256 and ES384 (RFC 7518 section 3.4): the signature is the fixed-width concatenation r || s, not DER.
// Field elements live in the Montgomery domain of p; points are Jacobian (X/Z^2, Y/Z^3), Z = 0 is infinity.
import { Montgomery } from './montgomery';
import { addAt, bitLength, cmp, cmpAt, isZeroAt, limbsFromBe, limbsFromBytes, sub, testBit } from './limbs';

// Curve constants as big-endian bytes (one byte each in the data segment, where a hex string costs four).
const P256_P: StaticArray<u8> = [
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];
const P256_N: StaticArray<u8> = [
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6,
  0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
const P256_B: StaticArray<u8> = [
  0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d,
  0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
const P256_GX: StaticArray<u8> = [
  0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03,
  0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const P256_GY: StaticArray<u8> = [
  0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce,
  0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];
const P384_P: StaticArray<u8> = [
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
];
const P384_N: StaticArray<u8> = [
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
  0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];
const P384_B: StaticArray<u8> = [
  0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b, 0xe3, 0xf8, 0x2d, 0x19, 0x18, 0x1d,
  0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12, 0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a, 0xc6, 0x56, 0x39, 0x8d,
  0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef,
];
const P384_GX: StaticArray<u8> = [
  0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74, 0x6e, 0x1d,
  0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38, 0x55, 0x02, 0xf2, 0x5d,
  0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7,
];
const P384_GY: StaticArray<u8> = [
  0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29, 0xf8, 0xf4,
  0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0, 0x0a, 0x60, 0xb1, 0xce,
  0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f,
];

export const enum CurveId {
  P256 = 0,
  P384 = 1,
}

// Layout of a curve's scratch memory, in field elements: 12 temporaries, then G, Q, G + Q and the accumulator
// (3 coordinates each), then r, u1 and u2.
const TEMPS = 12;
const G = TEMPS;
const Q = G + 3;
const GQ = Q + 3;
const ACC = GQ + 3;
const SCALARS = ACC + 3;
const SLOTS = SCALARS + 3;

export class Curve {
  /** Field element and scalar size in bytes. */
  readonly size: i32;
  readonly limbs: i32;
  readonly fp: Montgomery;
  readonly fn: Montgomery;
  private readonly b: StaticArray<u32>;
  private readonly nMinus2: StaticArray<u32>;
  /** Backing store of every point and temporary; the formulas address it through raw pointers. */
  private readonly mem: StaticArray<u32>;
  private readonly base: usize;

  constructor(size: i32, p: StaticArray<u8>, n: StaticArray<u8>, b: StaticArray<u8>, gx: StaticArray<u8>, gy: StaticArray<u8>) {
    const limbs = size >> 2;
    const fp = new Montgomery(limbsFromBe(p, limbs));
    const fn = new Montgomery(limbsFromBe(n, limbs));
    const two = new StaticArray<u32>(limbs);
    unchecked(two[0] = 2);
    const nMinus2 = new StaticArray<u32>(limbs);
    sub(nMinus2, fn.m, two);
    const bm = limbsFromBe(b, limbs);
    fp.toMont(bm, bm);
    const mem = new StaticArray<u32>(SLOTS * limbs);
    this.size = size;
    this.limbs = limbs;
    this.fp = fp;
    this.fn = fn;
    this.nMinus2 = nMinus2;
    this.b = bm;
    this.mem = mem;
    this.base = changetype<usize>(mem);
    const g = this.slot(G);
    fp.toMontAt(g, changetype<usize>(limbsFromBe(gx, limbs)));
    fp.toMontAt(g + this.bytes, changetype<usize>(limbsFromBe(gy, limbs)));
    memory.copy(g + 2 * this.bytes, changetype<usize>(fp.one), this.bytes);
  }

  @inline private get bytes(): usize {
    return <usize>this.limbs << 2;
  }

  @inline private slot(i: i32): usize {
    return this.base + <usize>i * (<usize>this.limbs << 2);
  }

  /**
   * Validates an uncompressed public point (big-endian x and y, `size` bytes each) and returns its affine
   * coordinates in the Montgomery domain as x || y, or null when the point is not on the curve.
   */
  importPublicKey(x: Uint8Array, y: Uint8Array): StaticArray<u32> | null {
    const size = this.size, limbs = this.limbs;
    if (x.length != size || y.length != size) return null;
    const px = new StaticArray<u32>(limbs), py = new StaticArray<u32>(limbs);
    if (!limbsFromBytes(px, x.dataStart, size) || !limbsFromBytes(py, y.dataStart, size)) return null;
    const fp = this.fp;
    if (cmp(px, fp.m) >= 0 || cmp(py, fp.m) >= 0) return null;
    fp.toMont(px, px);
    fp.toMont(py, py);
    // y^2 == x^3 - 3x + b
    const lhs = new StaticArray<u32>(limbs), rhs = new StaticArray<u32>(limbs), t = new StaticArray<u32>(limbs);
    fp.mul(lhs, py, py);
    fp.mul(rhs, px, px);
    fp.mul(rhs, rhs, px);
    fp.add(t, px, px);
    fp.add(t, t, px);
    fp.sub(rhs, rhs, t);
    fp.add(rhs, rhs, this.b);
    if (cmp(lhs, rhs) != 0) return null;
    const out = new StaticArray<u32>(2 * limbs);
    memory.copy(changetype<usize>(out), changetype<usize>(px), <usize>limbs << 2);
    memory.copy(changetype<usize>(out) + (<usize>limbs << 2), changetype<usize>(py), <usize>limbs << 2);
    return out;
  }

  /**
   * out = 2p for a = -3 ("dbl-2001-b", Bernstein and Lange, Explicit-Formulas Database). Points are raw
   * pointers to X, Y, Z; `out` may be `p`.
   */
  private double(out: usize, p: usize): void {
    const fp = this.fp, n = this.limbs, e = this.bytes;
    const px = p, py = p + e, pz = p + 2 * e;
    if (isZeroAt(pz, n)) {
      if (out != p) memory.copy(out, p, 3 * e);
      return;
    }
    const t = this.slot(0);
    const delta = t, gamma = t + e, beta = t + 2 * e, alpha = t + 3 * e, u = t + 4 * e, v = t + 5 * e;
    fp.mulAt(delta, pz, pz);
    fp.mulAt(gamma, py, py);
    fp.mulAt(beta, px, gamma);
    fp.subAt(u, px, delta);
    fp.addAt(v, px, delta);
    fp.mulAt(u, u, v);
    fp.addAt(alpha, u, u);
    fp.addAt(alpha, alpha, u);
    // Z3 = (Y + Z)^2 - gamma - delta, before Y and Z are overwritten
    fp.addAt(u, py, pz);
    fp.mulAt(u, u, u);
    fp.subAt(u, u, gamma);
    fp.subAt(out + 2 * e, u, delta);
    // X3 = alpha^2 - 8 beta
    fp.addAt(beta, beta, beta);
    fp.addAt(beta, beta, beta); // 4 beta
    fp.mulAt(u, alpha, alpha);
    fp.subAt(u, u, beta);
    fp.subAt(out, u, beta);
    // Y3 = alpha (4 beta - X3) - 8 gamma^2
    fp.subAt(beta, beta, out);
    fp.mulAt(beta, beta, alpha);
    fp.mulAt(gamma, gamma, gamma);
    fp.addAt(gamma, gamma, gamma);
    fp.addAt(gamma, gamma, gamma);
    fp.addAt(gamma, gamma, gamma);
    fp.subAt(out + e, beta, gamma);
  }

  /**
   * out = p + q: general Jacobian addition ("add-2007-bl"), or "madd-2007-bl" when q is affine (Z = 1), which
   * saves four multiplications. `out` may be `p` but not `q`.
   */
  private add(out: usize, p: usize, q: usize, qIsAffine: bool): void {
    const fp = this.fp, n = this.limbs, e = this.bytes;
    const px = p, py = p + e, pz = p + 2 * e;
    const qx = q, qy = q + e, qz = q + 2 * e;
    if (isZeroAt(pz, n)) {
      memory.copy(out, q, 3 * e);
      return;
    }
    if (!qIsAffine && isZeroAt(qz, n)) {
      if (out != p) memory.copy(out, p, 3 * e);
      return;
    }
    const t = this.slot(0);
    const z1z1 = t, z2z2 = t + e, u1 = t + 2 * e, u2 = t + 3 * e, s1 = t + 4 * e, s2 = t + 5 * e;
    const h = t + 6 * e, i = t + 7 * e, j = t + 8 * e, r = t + 9 * e, v = t + 10 * e, z3 = t + 11 * e;
    fp.mulAt(z1z1, pz, pz);
    if (qIsAffine) {
      memory.copy(u1, px, e);
      memory.copy(s1, py, e);
    } else {
      fp.mulAt(z2z2, qz, qz);
      fp.mulAt(u1, px, z2z2);
      fp.mulAt(s1, py, qz);
      fp.mulAt(s1, s1, z2z2);
    }
    fp.mulAt(u2, qx, z1z1);
    fp.mulAt(s2, qy, pz);
    fp.mulAt(s2, s2, z1z1);
    fp.subAt(h, u2, u1);
    fp.subAt(r, s2, s1);
    if (isZeroAt(h, n)) {
      if (isZeroAt(r, n)) this.double(out, p);
      else memory.fill(out + 2 * e, 0, e);
      return;
    }
    fp.addAt(r, r, r);
    fp.addAt(i, h, h);
    fp.mulAt(i, i, i);
    fp.mulAt(j, h, i);
    fp.mulAt(v, u1, i);
    // Z3 = ((Z1 + Z2)^2 - Z1Z1 - Z2Z2) H, or 2 Z1 H when Z2 = 1; before out may overwrite p
    if (qIsAffine) {
      fp.mulAt(z3, pz, h);
      fp.addAt(z3, z3, z3);
    } else {
      fp.addAt(z3, pz, qz);
      fp.mulAt(z3, z3, z3);
      fp.subAt(z3, z3, z1z1);
      fp.subAt(z3, z3, z2z2);
      fp.mulAt(z3, z3, h);
    }
    // X3 = r^2 - J - 2V
    fp.mulAt(u2, r, r);
    fp.subAt(u2, u2, j);
    fp.subAt(u2, u2, v);
    fp.subAt(out, u2, v);
    // Y3 = r (V - X3) - 2 S1 J
    fp.subAt(v, v, out);
    fp.mulAt(v, v, r);
    fp.mulAt(s1, s1, j);
    fp.addAt(s1, s1, s1);
    fp.subAt(out + e, v, s1);
    memory.copy(out + 2 * e, z3, e);
  }

  /**
   * Verifies `sig` (r || s, `2 * size` bytes) over a message digest with the public point from
   * importPublicKey.
   */
  verify(publicKey: StaticArray<u32>, mHash: Uint8Array, sigPtr: usize, sigLen: i32): bool {
    const size = this.size, limbs = this.limbs, e = this.bytes;
    if (sigLen != 2 * size) return false;
    if (mHash.length < size) return false;
    const fn = this.fn, fp = this.fp;
    const t = this.slot(0);
    // Scalars live past the point slots, because the point formulas clobber the temporaries.
    const r = this.slot(SCALARS), u1 = r + e, u2 = r + 2 * e;
    const s = t, w = t + e, hash = t + 2 * e, tmp = t + 3 * e;
    if (!readScalar(r, sigPtr, size, fn.m) || !readScalar(s, sigPtr + <usize>size, size, fn.m)) return false;
    // e = the leftmost bits of the digest, as many as the order has (FIPS 186-5 section 6.4.2 step 4).
    bytesToLimbsAt(hash, mHash.dataStart, size);
    // w = s^-1 by Fermat (s^(n-2)); u1 = e w and u2 = r w leave the Montgomery domain by multiplying a plain
    // value by a Montgomery one.
    fn.toMontAt(w, s);
    powAt(fn, w, this.nMinus2, tmp, limbs);
    fn.mulAt(u1, hash, w);
    fn.mulAt(u2, r, w);
    // Shamir's trick: one pass of doublings over the bits of u1 and u2, adding G, Q or G + Q.
    const g = this.slot(G), q = this.slot(Q), gq = this.slot(GQ), acc = this.slot(ACC);
    memory.copy(q, changetype<usize>(publicKey), 2 * e);
    memory.copy(q + 2 * e, changetype<usize>(fp.one), e);
    this.add(gq, g, q, true);
    memory.fill(acc + 2 * e, 0, e);
    const bits = max(bitLengthAt(u1, limbs), bitLengthAt(u2, limbs));
    for (let i = bits - 1; i >= 0; i--) {
      this.double(acc, acc);
      const b1 = testBitAt(u1, i), b2 = testBitAt(u2, i);
      if (b1 && b2) this.add(acc, acc, gq, false);
      else if (b1) this.add(acc, acc, g, true);
      else if (b2) this.add(acc, acc, q, true);
    }
    if (isZeroAt(acc + 2 * e, limbs)) return false;
    // Valid when x(acc) mod n == r, with x(acc) = X / Z^2 < p < 2n: so X == r Z^2, or X == (r + n) Z^2 when
    // r + n < p. Comparing in Jacobian coordinates saves the inversion of Z.
    const z2 = t, c = t + e;
    fp.mulAt(z2, acc + 2 * e, acc + 2 * e);
    fp.toMontAt(c, r);
    fp.mulAt(c, c, z2);
    if (cmpAt(c, acc, limbs) == 0) return true;
    if (addAt(r, r, changetype<usize>(fn.m), limbs) != 0 || cmpAt(r, changetype<usize>(fp.m), limbs) >= 0) return false;
    fp.toMontAt(c, r);
    fp.mulAt(c, c, z2);
    return cmpAt(c, acc, limbs) == 0;
  }
}

/** Big-endian bytes -> limbs at `out`. */
function bytesToLimbsAt(out: usize, ptr: usize, len: i32): void {
  memory.fill(out, 0, <usize>len);
  for (let i = 0; i < len; i++) {
    const at = out + (<usize>(i >> 2) << 2);
    store<u32>(at, load<u32>(at) | (<u32>load<u8>(ptr + <usize>(len - 1 - i)) << ((<u32>i & 3) << 3)));
  }
}

/** A signature half: big-endian, in [1, n - 1]. */
function readScalar(out: usize, ptr: usize, len: i32, n: StaticArray<u32>): bool {
  bytesToLimbsAt(out, ptr, len);
  const limbs = len >> 2;
  return !isZeroAt(out, limbs) && cmpAt(out, changetype<usize>(n), limbs) < 0;
}

function bitLengthAt(a: usize, n: i32): i32 {
  for (let i = n - 1; i >= 0; i--) {
    const x = load<u32>(a + (<usize>i << 2));
    if (x != 0) return (i << 5) + 32 - <i32>clz<u32>(x);
  }
  return 0;
}

@inline function testBitAt(a: usize, bit: i32): bool {
  return ((load<u32>(a + (<usize>(bit >> 5) << 2)) >> (<u32>bit & 31)) & 1) != 0;
}

/** x = x^exp in the Montgomery domain of `m` (square and multiply from the top bit); `tmp` is scratch. */
function powAt(m: Montgomery, x: usize, exp: StaticArray<u32>, tmp: usize, limbs: i32): void {
  const e = <usize>limbs << 2;
  memory.copy(tmp, x, e);
  for (let i = bitLength(exp) - 2; i >= 0; i--) {
    m.sqrAt(tmp, tmp);
    if (testBit(exp, i)) m.mulAt(tmp, tmp, x);
  }
  memory.copy(x, tmp, e);
}

let p256: Curve | null = null;
let p384: Curve | null = null;

/** The curve's constants are built on first use: most configurations never need them. */
export function curve(id: CurveId): Curve {
  if (id == CurveId.P256) {
    let c = p256;
    if (c == null) {
      c = new Curve(
        32,
        P256_P,
        P256_N,
        P256_B,
        P256_GX,
        P256_GY,
      );
      p256 = c;
    }
    return c;
  }
  let c = p384;
  if (c == null) {
    c = new Curve(
      48,
      P384_P,
      P384_N,
      P384_B,
      P384_GX,
      P384_GY,
    );
    p384 = c;
  }
  return c;
}
