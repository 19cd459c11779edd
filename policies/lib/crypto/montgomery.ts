// Montgomery arithmetic modulo an odd number (Handbook of Applied Cryptography 14.36), with R = 2^(32n):
// multiplication in CIOS form (Koc, Acar and Kaliski 1996), squaring as half the cross products doubled plus the
// diagonal, then a separate reduction. Plain wasm 1.0 integer arithmetic (no SIMD), so the module loads in every
// runtime Envoy can be built with: WAMR builds lack SIMD. Only public values pass through here, so the code branches
// on data.
import { addRaw, bitLength, copyLimbs, geRaw, subRaw, testBit } from './limbs';

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
    this.w = new StaticArray<u32>(2 * n + 2);
    this.one = one;
    this.r2 = x;
  }

  /**
   * out = a^2 / R mod m (`out` may alias `a`): the cross products a[i] a[j] (i < j) once, doubled with a one-bit
   * shift, the squares a[i]^2 added on the diagonal, then one reduction: n(n-1)/2 + n products and n^2 for the
   * reduction, against 2n^2 for a general multiplication. Squarings are 16 of RSA's 17 operations (e = 65537).
   */
  sqrAt(op: usize, ap: usize): void {
    const n = this.n;
    const w = changetype<usize>(this.w);
    memory.fill(w, 0, <usize>(2 * n + 2) << 2);
    for (let i = 0; i < n - 1; i++) {
      const ai = <u64>load<u32>(ap + (<usize>i << 2));
      const row = w + (<usize>(2 * i + 1) << 2);
      const aj = ap + (<usize>(i + 1) << 2);
      const len = n - 1 - i;
      let c: u64 = 0;
      // Two limbs per step through 64-bit loads and stores, as in reduce().
      let k = 0;
      for (; k + 1 < len; k += 2) {
        const off = <usize>k << 2;
        const aa = load<u64>(aj + off);
        const rr = load<u64>(row + off);
        const p0 = ai * (aa & 0xffffffff) + (rr & 0xffffffff) + c;
        const p1 = ai * (aa >> 32) + (rr >> 32) + (p0 >> 32);
        store<u64>(row + off, (p0 & 0xffffffff) | (p1 << 32));
        c = p1 >> 32;
      }
      if (k < len) {
        const off = <usize>k << 2;
        const p = ai * <u64>load<u32>(aj + off) + <u64>load<u32>(row + off) + c;
        store<u32>(row + off, <u32>p);
        c = p >> 32;
      }
      store<u32>(w + (<usize>(n + i) << 2), <u32>c);
    }
    // Double the cross products and add the diagonal, limb pair by limb pair, carrying in 64 bits.
    let shifted: u32 = 0;
    let c: u64 = 0;
    for (let i = 0; i < n; i++) {
      const d = <u64>load<u32>(ap + (<usize>i << 2));
      const sq = d * d;
      const lo = w + (<usize>(2 * i) << 2);
      const x0 = load<u32>(lo), x1 = load<u32>(lo + 4);
      const s0 = <u64>((x0 << 1) | shifted) + (sq & 0xffffffff) + c;
      const s1 = <u64>((x1 << 1) | (x0 >> 31)) + (sq >> 32) + (s0 >> 32);
      shifted = x1 >> 31;
      store<u32>(lo, <u32>s0);
      store<u32>(lo + 4, <u32>s1);
      c = s1 >> 32;
    }
    this.reduce(op, w, <u32>(c + <u64>shifted));
  }

  /** out = a * b / R mod m for a, b < m (`out` may alias either). */
  @inline mulAt(op: usize, ap: usize, bp: usize): void {
    this.mulScalarAt(op, ap, bp);
  }

  /**
   * out = a * b / R mod m in CIOS form (operand scanning, reduction interleaved).
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
