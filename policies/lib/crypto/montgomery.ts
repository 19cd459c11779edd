// Montgomery arithmetic modulo an odd number (Handbook of Applied Cryptography 14.36), with R = 2^(32n):
// product scanning plus wasm SIMD for RSA-sized moduli, the CIOS form (Koc, Acar and Kaliski 1996) for the
// small fields of the elliptic curves. Only public values pass through here, so the code branches on data.
import { addRaw, bitLength, copyLimbs, geRaw, subRaw, testBit } from './limbs';

/** Below this many limbs (RSA-512 and up use SIMD) the scalar multiplication is faster. */
const SIMD_MIN_LIMBS = 16;

/** Montgomery arithmetic modulo an odd `m` of `n` limbs, with R = 2^(32n). */
export class Montgomery {
  readonly n: i32;
  readonly m: StaticArray<u32>;
  /** -m^-1 mod 2^32 */
  readonly m0inv: u32;
  /** R^2 mod m, to enter the Montgomery domain with one multiplication. */
  readonly r2: StaticArray<u32>;
  /** R mod m: one in the Montgomery domain. */
  readonly one: StaticArray<u32>;
  private readonly t: StaticArray<u32>;
  /** The reduction digits of the current multiplication. */
  private readonly u: StaticArray<u32>;
  /** The second factor reversed, and the modulus reversed: column sums become forward dot products. */
  private readonly br: StaticArray<u32>;
  private readonly mr: StaticArray<u32>;
  /** Double-width scratch for squaring and reduction. */
  private readonly w: StaticArray<u32>;

  constructor(m: StaticArray<u32>) {
    const n = m.length;
    // Newton iteration for the inverse of an odd number modulo 2^32: each step doubles the correct bits.
    const m0 = unchecked(m[0]);
    let inv: u32 = m0;
    for (let i = 0; i < 5; i++) inv *= 2 - m0 * inv;
    // R mod m and R^2 mod m by doubling 1 with a conditional subtraction: 64n doublings, done once per key.
    const x = new StaticArray<u32>(n);
    unchecked(x[0] = 1);
    const one = new StaticArray<u32>(n);
    const xp = changetype<usize>(x), mp = changetype<usize>(m);
    for (let i = 0; i < 64 * n; i++) {
      const carry = addRaw(xp, xp, xp, n);
      if (carry != 0 || geRaw(xp, mp, n)) subRaw(xp, xp, mp, n);
      if (i == 32 * n - 1) copyLimbs(one, x);
    }
    this.n = n;
    this.m = m;
    this.m0inv = 0 - inv;
    this.t = new StaticArray<u32>(n + 2);
    this.u = new StaticArray<u32>(n);
    this.br = new StaticArray<u32>(n);
    const mr = new StaticArray<u32>(n);
    for (let k = 0; k < n; k++) unchecked(mr[k] = m[n - 1 - k]);
    this.mr = mr;
    this.w = new StaticArray<u32>(2 * n + 2);
    this.one = one;
    this.r2 = x;
  }

  /**
   * out = a^2 / R mod m with wasm SIMD: as mul, but each cross product a[j] a[i-j] (j < i-j) is summed
   * once and doubled, so a column costs half the products of the square part.
   */
  sqrAt(op: usize, ap: usize): void {
    const n = this.n;
    if (n < SIMD_MIN_LIMBS) {
      this.mulScalarAt(op, ap, ap);
      return;
    }
    const t = changetype<usize>(this.t);
    const u = changetype<usize>(this.u);
    const mp = changetype<usize>(this.m);
    const br = changetype<usize>(this.br), mr = changetype<usize>(this.mr);
    for (let k = 0; k < n; k++) store<u32>(br + (<usize>k << 2), load<u32>(ap + (<usize>(n - 1 - k) << 2)));
    const m0inv = this.m0inv;
    const mask = i64x2.splat(0xffffffff);
    let carry: u64 = 0;
    for (let i = 0; i < 2 * n - 1; i++) {
      const j0 = i < n ? 0 : i - n + 1;
      const j1 = i < n ? i : n - 1;
      if (i < n) store<u32>(u + (<usize>i << 2), 0);
      const len = j1 - j0 + 1;
      const yo = <usize>(n - 1 - i + j0) << 2;
      // Cross products: j in [j0, (i - 1) / 2].
      const half = ((i - 1) >> 1) - j0 + 1;
      const xa = ap + (<usize>j0 << 2), yb = br + yo;
      let accLo = i64x2.splat(0);
      let accHi = i64x2.splat(0);
      let k = 0;
      for (; k + 3 < half; k += 4) {
        const off = <usize>k << 2;
        const va = v128.load(xa + off), vb = v128.load(yb + off);
        const p0 = i64x2.extmul_low_i32x4_u(va, vb);
        const p1 = i64x2.extmul_high_i32x4_u(va, vb);
        accLo = i64x2.add(accLo, i64x2.add(v128.and(p0, mask), v128.and(p1, mask)));
        accHi = i64x2.add(accHi, i64x2.add(i64x2.shr_u(p0, 32), i64x2.shr_u(p1, 32)));
      }
      let cLo = <u64>i64x2.extract_lane(accLo, 0) + <u64>i64x2.extract_lane(accLo, 1);
      let cHi = <u64>i64x2.extract_lane(accHi, 0) + <u64>i64x2.extract_lane(accHi, 1);
      for (; k < half; k++) {
        const off = <usize>k << 2;
        const p = <u64>load<u32>(xa + off) * <u64>load<u32>(yb + off);
        cLo += p & 0xffffffff;
        cHi += p >> 32;
      }
      let lo = carry + (cLo << 1);
      let hi = cHi << 1;
      if ((i & 1) == 0) {
        const d = <u64>load<u32>(ap + (<usize>(i >> 1) << 2));
        const sq = d * d;
        lo += sq & 0xffffffff;
        hi += sq >> 32;
      }
      // Reduction products u[j] m[i-j] over the whole column.
      const xu = u + (<usize>j0 << 2), ym = mr + yo;
      accLo = i64x2.splat(0);
      accHi = i64x2.splat(0);
      k = 0;
      for (; k + 3 < len; k += 4) {
        const off = <usize>k << 2;
        const vu = v128.load(xu + off), vm = v128.load(ym + off);
        const p0 = i64x2.extmul_low_i32x4_u(vu, vm);
        const p1 = i64x2.extmul_high_i32x4_u(vu, vm);
        accLo = i64x2.add(accLo, i64x2.add(v128.and(p0, mask), v128.and(p1, mask)));
        accHi = i64x2.add(accHi, i64x2.add(i64x2.shr_u(p0, 32), i64x2.shr_u(p1, 32)));
      }
      lo += <u64>i64x2.extract_lane(accLo, 0) + <u64>i64x2.extract_lane(accLo, 1);
      hi += <u64>i64x2.extract_lane(accHi, 0) + <u64>i64x2.extract_lane(accHi, 1);
      for (; k < len; k++) {
        const off = <usize>k << 2;
        const p = <u64>load<u32>(xu + off) * <u64>load<u32>(ym + off);
        lo += p & 0xffffffff;
        hi += p >> 32;
      }
      if (i < n) {
        const q32: u32 = <u32>lo * m0inv;
        store<u32>(u + (<usize>i << 2), q32);
        const r = <u64>q32 * <u64>load<u32>(mp);
        lo += r & 0xffffffff;
        hi += r >> 32;
      } else {
        store<u32>(t + (<usize>(i - n) << 2), <u32>lo);
      }
      carry = (lo >> 32) + hi;
    }
    store<u32>(t + (<usize>(n - 1) << 2), <u32>carry);
    const top = carry >> 32;
    if (top != 0 || geRaw(t, mp, n)) subRaw(op, t, mp, n);
    else memory.copy(op, t, <usize>n << 2);
  }

  /**
   * out = a * b / R mod m for a, b < m (`out` may alias either), in product-scanning form with the reduction
   * interleaved (the "FIPS" method of Koc, Acar and Kaliski) and wasm SIMD: each output column is the dot product of a with b reversed plus
   * that of the reduction digits u with m reversed, four 32x32->64 products per pair of extmul instructions.
   */
  mulAt(op: usize, ap: usize, bp: usize): void {
    const n = this.n;
    if (n < SIMD_MIN_LIMBS) {
      this.mulScalarAt(op, ap, bp);
      return;
    }
    const t = changetype<usize>(this.t);
    const u = changetype<usize>(this.u);
    const mp = changetype<usize>(this.m);
    const br = changetype<usize>(this.br), mr = changetype<usize>(this.mr);
    for (let k = 0; k < n; k++) store<u32>(br + (<usize>k << 2), load<u32>(bp + (<usize>(n - 1 - k) << 2)));
    const m0inv = this.m0inv;
    const mask = i64x2.splat(0xffffffff);
    let carry: u64 = 0;
    for (let i = 0; i < 2 * n - 1; i++) {
      // j runs over [j0, j1]; a[j] pairs with br[n - 1 - i + j], u[j] with mr[n - 1 - i + j].
      const j0 = i < n ? 0 : i - n + 1;
      const j1 = i < n ? i : n - 1;
      if (i < n) store<u32>(u + (<usize>i << 2), 0);
      const len = j1 - j0 + 1;
      const xa = ap + (<usize>j0 << 2);
      const xu = u + (<usize>j0 << 2);
      const yo = <usize>(n - 1 - i + j0) << 2;
      const yb = br + yo, ym = mr + yo;
      let accLo = i64x2.splat(0);
      let accHi = i64x2.splat(0);
      let k = 0;
      for (; k + 3 < len; k += 4) {
        const off = <usize>k << 2;
        const va = v128.load(xa + off), vb = v128.load(yb + off);
        const vu = v128.load(xu + off), vm = v128.load(ym + off);
        const p0 = i64x2.extmul_low_i32x4_u(va, vb);
        const p1 = i64x2.extmul_high_i32x4_u(va, vb);
        const p2 = i64x2.extmul_low_i32x4_u(vu, vm);
        const p3 = i64x2.extmul_high_i32x4_u(vu, vm);
        accLo = i64x2.add(accLo, i64x2.add(i64x2.add(v128.and(p0, mask), v128.and(p1, mask)), i64x2.add(v128.and(p2, mask), v128.and(p3, mask))));
        accHi = i64x2.add(accHi, i64x2.add(i64x2.add(i64x2.shr_u(p0, 32), i64x2.shr_u(p1, 32)), i64x2.add(i64x2.shr_u(p2, 32), i64x2.shr_u(p3, 32))));
      }
      let lo = carry + <u64>i64x2.extract_lane(accLo, 0) + <u64>i64x2.extract_lane(accLo, 1);
      let hi = <u64>i64x2.extract_lane(accHi, 0) + <u64>i64x2.extract_lane(accHi, 1);
      for (; k < len; k++) {
        const off = <usize>k << 2;
        const p1 = <u64>load<u32>(xa + off) * <u64>load<u32>(yb + off);
        const p2 = <u64>load<u32>(xu + off) * <u64>load<u32>(ym + off);
        lo += (p1 & 0xffffffff) + (p2 & 0xffffffff);
        hi += (p1 >> 32) + (p2 >> 32);
      }
      if (i < n) {
        // The reduction digit that zeroes this column's low limb, and its product with m[0].
        const q32: u32 = <u32>lo * m0inv;
        store<u32>(u + (<usize>i << 2), q32);
        const r = <u64>q32 * <u64>load<u32>(mp);
        lo += r & 0xffffffff;
        hi += r >> 32;
      } else {
        store<u32>(t + (<usize>(i - n) << 2), <u32>lo);
      }
      carry = (lo >> 32) + hi;
    }
    store<u32>(t + (<usize>(n - 1) << 2), <u32>carry);
    const top = carry >> 32;
    if (top != 0 || geRaw(t, mp, n)) subRaw(op, t, mp, n);
    else memory.copy(op, t, <usize>n << 2);
  }

  /**
   * out = a * b / R mod m in CIOS form (operand scanning, reduction interleaved), for the 8- and 12-limb
   * fields of the elliptic curves, where SIMD's per-column setup costs more than it saves.
   */
  private mulScalarAt(op: usize, ap: usize, bp: usize): void {
    const n = this.n;
    const t = changetype<usize>(this.t);
    const mp = changetype<usize>(this.m);
    const m0inv = this.m0inv;
    memory.fill(t, 0, <usize>(n + 1) << 2);
    const a0 = <u64>load<u32>(ap);
    const m0 = <u64>load<u32>(mp);
    for (let i = 0; i < n; i++) {
      const bi = <u64>load<u32>(bp + (<usize>i << 2));
      // j = 0 fixes the reduction digit q so that the low limb cancels.
      let p = a0 * bi + <u64>load<u32>(t);
      let c1 = p >> 32;
      // A u32 local: inside a <u64>(...) cast asc would widen the product and skip the wrap mod 2^32.
      const q32: u32 = <u32>p * m0inv;
      const q = <u64>q32;
      let r = q * m0 + (p & 0xffffffff);
      let c2 = r >> 32;
      for (let j = 1; j < n; j++) {
        const off = <usize>j << 2;
        p = <u64>load<u32>(ap + off) * bi + <u64>load<u32>(t + off) + c1;
        c1 = p >> 32;
        r = q * <u64>load<u32>(mp + off) + (p & 0xffffffff) + c2;
        c2 = r >> 32;
        store<u32>(t + off - 4, <u32>r);
      }
      const s = <u64>load<u32>(t + (<usize>n << 2)) + c1 + c2;
      store<u32>(t + (<usize>(n - 1) << 2), <u32>s);
      store<u32>(t + (<usize>n << 2), <u32>(s >> 32));
    }
    if (load<u32>(t + (<usize>n << 2)) != 0 || geRaw(t, mp, n)) subRaw(op, t, mp, n);
    else memory.copy(op, t, <usize>n << 2);
  }

  /**
   * Montgomery reduction of the 2n-limb value at `w` (plus `extra` * 2^(64n), 0 or 1): out = w / R mod m.
   * Clobbers `w`.
   */
  private reduce(op: usize, w: usize, extra: u32): void {
    const n = this.n;
    const mp = changetype<usize>(this.m);
    const m0inv = this.m0inv;
    let top: u64 = 0;
    for (let i = 0; i < n; i++) {
      const row = w + (<usize>i << 2);
      // Kept as a u32 local: inside a <u64>(...) cast asc would widen the product and skip the wrap mod 2^32.
      const q32: u32 = load<u32>(row) * m0inv;
      const q = <u64>q32;
      let c: u64 = 0;
      // Two limbs per step through 64-bit loads and stores: half the memory operations and loop overhead.
      let j = 0;
      for (; j + 1 < n; j += 2) {
        const off = <usize>j << 2;
        const mm = load<u64>(mp + off);
        const rr = load<u64>(row + off);
        const p0 = q * (mm & 0xffffffff) + (rr & 0xffffffff) + c;
        const p1 = q * (mm >> 32) + (rr >> 32) + (p0 >> 32);
        store<u64>(row + off, (p0 & 0xffffffff) | (p1 << 32));
        c = p1 >> 32;
      }
      if (j < n) {
        const off = <usize>j << 2;
        const p = q * <u64>load<u32>(mp + off) + <u64>load<u32>(row + off) + c;
        store<u32>(row + off, <u32>p);
        c = p >> 32;
      }
      const at = row + (<usize>n << 2);
      const s = <u64>load<u32>(at) + c + top;
      store<u32>(at, <u32>s);
      top = s >> 32;
    }
    const hi = w + (<usize>n << 2);
    if (top + <u64>extra != 0 || geRaw(hi, mp, n)) subRaw(op, hi, mp, n);
    else memory.copy(op, hi, <usize>n << 2);
  }

  /** a in [0, m) -> a * R mod m */
  toMontAt(op: usize, ap: usize): void {
    this.mulAt(op, ap, changetype<usize>(this.r2));
  }

  /** a * R mod m -> a */
  fromMontAt(op: usize, ap: usize): void {
    const w = changetype<usize>(this.w);
    const n = this.n;
    memory.copy(w, ap, <usize>n << 2);
    memory.fill(w + (<usize>n << 2), 0, <usize>(n + 1) << 2);
    this.reduce(op, w, 0);
  }

  /** out = a + b mod m (a, b < m) */
  addAt(op: usize, ap: usize, bp: usize): void {
    const mp = changetype<usize>(this.m);
    const carry = addRaw(op, ap, bp, this.n);
    if (carry != 0 || geRaw(op, mp, this.n)) subRaw(op, op, mp, this.n);
  }

  /** out = a - b mod m (a, b < m) */
  subAt(op: usize, ap: usize, bp: usize): void {
    if (subRaw(op, ap, bp, this.n) != 0) addRaw(op, op, changetype<usize>(this.m), this.n);
  }

  // The same operations on whole arrays (the *At forms take raw pointers, which keep references to managed
  // objects off AssemblyScript's shadow stack in the point formulas).

  @inline mul(out: StaticArray<u32>, a: StaticArray<u32>, b: StaticArray<u32>): void {
    this.mulAt(changetype<usize>(out), changetype<usize>(a), changetype<usize>(b));
  }

  @inline sqr(out: StaticArray<u32>, a: StaticArray<u32>): void {
    this.sqrAt(changetype<usize>(out), changetype<usize>(a));
  }

  @inline toMont(out: StaticArray<u32>, a: StaticArray<u32>): void {
    this.toMontAt(changetype<usize>(out), changetype<usize>(a));
  }

  @inline fromMont(out: StaticArray<u32>, a: StaticArray<u32>): void {
    this.fromMontAt(changetype<usize>(out), changetype<usize>(a));
  }

  @inline add(out: StaticArray<u32>, a: StaticArray<u32>, b: StaticArray<u32>): void {
    this.addAt(changetype<usize>(out), changetype<usize>(a), changetype<usize>(b));
  }

  @inline sub(out: StaticArray<u32>, a: StaticArray<u32>, b: StaticArray<u32>): void {
    this.subAt(changetype<usize>(out), changetype<usize>(a), changetype<usize>(b));
  }

  /**
   * out = base^exp mod m for exp >= 1, base and out in the Montgomery domain; left-to-right square and
   * multiply, starting from the top bit so that e = 65537 costs 16 squarings and one multiplication.
   * `tmp` must not alias `base`.
   */
  pow(out: StaticArray<u32>, base: StaticArray<u32>, exp: StaticArray<u32>, tmp: StaticArray<u32>): void {
    const bits = bitLength(exp);
    copyLimbs(tmp, base);
    for (let i = bits - 2; i >= 0; i--) {
      this.sqr(tmp, tmp);
      if (testBit(exp, i)) this.mul(tmp, tmp, base);
    }
    copyLimbs(out, tmp);
  }
}
