// Fixed-width unsigned integers as little-endian u32 limbs, in a StaticArray<u32> or at a raw pointer.
// 32-bit limbs because wasm has a 64-bit product of two 32-bit values but no 128-bit product.
// Only public values pass through here (signature verification), so the code branches on data freely.

@inline function limb(a: StaticArray<u32>, i: i32): u32 {
  return load<u32>(changetype<usize>(a) + (<usize>i << 2));
}

/** Big-endian bytes -> `n` limbs; false when the value needs more than `n` limbs. */
export function limbsFromBytes(out: StaticArray<u32>, ptr: usize, len: i32): bool {
  const n = out.length;
  memory.fill(changetype<usize>(out), 0, <usize>n << 2);
  let start = 0;
  while (start < len && load<u8>(ptr + <usize>start) == 0) start++;
  if (len - start > n * 4) return false;
  const o = changetype<usize>(out);
  for (let i = 0; i < len - start; i++) {
    const byte = <u32>load<u8>(ptr + <usize>(len - 1 - i));
    const at = o + (<usize>(i >> 2) << 2);
    store<u32>(at, load<u32>(at) | (byte << ((<u32>i & 3) << 3)));
  }
  return true;
}

/** Limbs -> exactly `len` big-endian bytes at `ptr` (the value must fit). */
export function limbsToBytes(a: StaticArray<u32>, ptr: usize, len: i32): void {
  const n = a.length;
  for (let i = 0; i < len; i++) {
    const li = i >> 2;
    const byte = li < n ? <u8>(limb(a, li) >> ((<u32>i & 3) << 3)) : <u8>0;
    store<u8>(ptr + <usize>(len - 1 - i), byte);
  }
}

/** A constant given as big-endian bytes -> a new array of `n` limbs. */
export function limbsFromBe(bytes: StaticArray<u8>, n: i32): StaticArray<u32> {
  const out = new StaticArray<u32>(n);
  limbsFromBytes(out, changetype<usize>(bytes), bytes.length);
  return out;
}

export function cmp(a: StaticArray<u32>, b: StaticArray<u32>): i32 {
  for (let i = a.length - 1; i >= 0; i--) {
    const x = limb(a, i), y = limb(b, i);
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

export function isZeroAt(a: usize, n: i32): bool {
  for (let i = 0; i < n; i++) if (load<u32>(a + (<usize>i << 2)) != 0) return false;
  return true;
}

export function cmpAt(a: usize, b: usize, n: i32): i32 {
  for (let i = n - 1; i >= 0; i--) {
    const x = load<u32>(a + (<usize>i << 2)), y = load<u32>(b + (<usize>i << 2));
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

export function isZero(a: StaticArray<u32>): bool {
  for (let i = 0; i < a.length; i++) if (limb(a, i) != 0) return false;
  return true;
}

export function copyLimbs(out: StaticArray<u32>, a: StaticArray<u32>): void {
  memory.copy(changetype<usize>(out), changetype<usize>(a), <usize>a.length << 2);
}

export function setSmall(out: StaticArray<u32>, v: u32): void {
  memory.fill(changetype<usize>(out), 0, <usize>out.length << 2);
  unchecked(out[0] = v);
}

/** Number of significant bits. */
export function bitLength(a: StaticArray<u32>): i32 {
  for (let i = a.length - 1; i >= 0; i--) {
    const x = limb(a, i);
    if (x != 0) return (i << 5) + 32 - <i32>clz<u32>(x);
  }
  return 0;
}

@inline export function testBit(a: StaticArray<u32>, bit: i32): bool {
  return ((limb(a, bit >> 5) >> (<u32>bit & 31)) & 1) != 0;
}

/** out = a - b over n limbs at raw pointers; returns the borrow. */
export function subRaw(out: usize, a: usize, b: usize, n: i32): u32 {
  let borrow: i64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const d = <i64>load<u32>(a + off) - <i64>load<u32>(b + off) + borrow;
    store<u32>(out + off, <u32>d);
    borrow = d >> 32;
  }
  return <u32>(borrow & 1);
}

export function addRaw(out: usize, a: usize, b: usize, n: i32): u32 {
  let carry: u64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const s = <u64>load<u32>(a + off) + <u64>load<u32>(b + off) + carry;
    store<u32>(out + off, <u32>s);
    carry = s >> 32;
  }
  return <u32>carry;
}

export function geRaw(a: usize, b: usize, n: i32): bool {
  for (let i = n - 1; i >= 0; i--) {
    const off = <usize>i << 2;
    const x = load<u32>(a + off), y = load<u32>(b + off);
    if (x != y) return x > y;
  }
  return true;
}

/** out = a + b over n limbs at raw pointers; returns the carry. */
export function addAt(out: usize, a: usize, b: usize, n: i32): u32 {
  return addRaw(out, a, b, n);
}

/** out = a - b (a >= b), all of the same width. */
export function sub(out: StaticArray<u32>, a: StaticArray<u32>, b: StaticArray<u32>): u32 {
  return subRaw(changetype<usize>(out), changetype<usize>(a), changetype<usize>(b), a.length);
}
