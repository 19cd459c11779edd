// The three SHA-2 hashes JWA uses (RFC 7518 section 3), behind one selector so that HMAC, RSA and ECDSA
// verification are written once for all of them.
import { sha256Into } from './sha256';
import { sha512Raw } from './sha512';

export const enum Hash {
  SHA256 = 0,
  SHA384 = 1,
  SHA512 = 2,
}

/** Digest length in bytes. */
export function hashLength(hash: Hash): i32 {
  return hash == Hash.SHA256 ? 32 : hash == Hash.SHA384 ? 48 : 64;
}

/** Input block length in bytes (HMAC pads keys to it). */
export function hashBlockLength(hash: Hash): i32 {
  return hash == Hash.SHA256 ? 64 : 128;
}

/** Hashes `len` bytes at `ptr` into `hashLength(hash)` bytes at `out`. */
export function digestInto(hash: Hash, ptr: usize, len: i32, out: usize): void {
  if (hash == Hash.SHA256) sha256Into(ptr, <usize>len, out);
  else sha512Raw(ptr, len, out, hash == Hash.SHA384);
}

export function digest(hash: Hash, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(hashLength(hash));
  digestInto(hash, data.dataStart, data.length, out.dataStart);
  return out;
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  let diff: u32 = 0;
  for (let i = 0; i < a.length; i++) diff |= <u32>(unchecked(a[i]) ^ unchecked(b[i]));
  return diff == 0;
}
