// PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA256 as the PRF, for the basic-auth policy's salted password hashes
// (`pbkdf2-sha256$<iterations>$<salt>$<derived key>`, the format node:crypto's pbkdf2Sync output is stored in).
//
// The first HMAC of each block goes through HmacKey (lib/crypto/hmac.ts: any salt length). The iterations after it
// all hash a 32-byte message, so they run on precomputed states: SHA-256 after the key's inner pad block and after
// its outer pad block are computed once, and each iteration is then exactly two compressions (inner, outer) over a
// fixed, already padded block, without allocation. That halves the work of a plain HMAC per iteration (four
// compressions) and is what makes a useful iteration count affordable on a request path.
import { Hash } from "./hash";
import { HmacKey } from "./hmac";
import { sha256CompressWords, sha256Into, sha256StateAfterBlock } from "./sha256";

// Scratch (single-threaded module; nothing here re-enters).
/** SHA-256 state after the key's inner / outer pad block. */
// @ts-ignore: decorator
@lazy const INNER = new StaticArray<u32>(8);
// @ts-ignore: decorator
@lazy const OUTER = new StaticArray<u32>(8);
/** The message schedule input as words: U (8 words) + padding for a 64 + 32 byte message (fixed). */
// @ts-ignore: decorator
@lazy const BLOCK = new StaticArray<u32>(16);
/** XOR of every U of the current block, as words. */
// @ts-ignore: decorator
@lazy const T = new StaticArray<u32>(8);
// @ts-ignore: decorator
@lazy const PAD = new StaticArray<u8>(64);

/** HMAC-SHA256 of the 32-byte message in BLOCK[0..8] with the precomputed pad states; the tag replaces BLOCK[0..8]. */
function macBlock(): void {
  // Inner hash: state after ipad, one block holding the 32-byte message and the padding of a 96-byte message.
  sha256CompressWords(INNER, BLOCK, BLOCK);
  // Outer hash: state after opad, the inner digest as the message.
  sha256CompressWords(OUTER, BLOCK, BLOCK);
}

/**
 * PBKDF2-HMAC-SHA256 of `password` with `salt`: `keyLength` bytes after `iterations` (>= 1) rounds.
 * Compare the result with the expected key using a constant-time comparison.
 */
export function pbkdf2Sha256(password: ArrayBuffer, salt: ArrayBuffer, iterations: u32, keyLength: i32): ArrayBuffer {
  const passwordBytes = Uint8Array.wrap(password);
  const mac = new HmacKey(Hash.SHA256, passwordBytes);

  // The pad states: the key (hashed first when longer than a block) XOR ipad / opad, one compression each.
  let key = passwordBytes;
  if (key.length > 64) {
    const hashed = new Uint8Array(32);
    sha256Into(key.dataStart, <usize>key.length, hashed.dataStart);
    key = hashed;
  }
  const pad = changetype<usize>(PAD);
  for (let i = 0; i < 64; i++) store<u8>(pad + <usize>i, (i < key.length ? unchecked(key[i]) : <u8>0) ^ 0x36);
  sha256StateAfterBlock(pad, INNER);
  for (let i = 0; i < 64; i++) store<u8>(pad + <usize>i, (i < key.length ? unchecked(key[i]) : <u8>0) ^ 0x5c);
  sha256StateAfterBlock(pad, OUTER);
  memory.fill(pad, 0, 64);

  // The fixed tail of every 32-byte message block: 0x80, zeros, bit length of (64-byte pad + 32 bytes) = 768.
  unchecked(BLOCK[8] = 0x80000000);
  for (let i = 9; i < 15; i++) unchecked(BLOCK[i] = 0);
  unchecked(BLOCK[15] = 768);

  const out = new ArrayBuffer(keyLength);
  const saltLength = salt.byteLength;
  const first = new Uint8Array(saltLength + 4);
  memory.copy(first.dataStart, changetype<usize>(salt), <usize>saltLength);
  const blocks = (keyLength + 31) >> 5;
  for (let block = 1; block <= blocks; block++) {
    // U1 = HMAC(P, S || INT(block)).
    store<u32>(first.dataStart + <usize>saltLength, bswap<u32>(<u32>block));
    const u1 = mac.mac(first);
    for (let i = 0; i < 8; i++) {
      const word = bswap<u32>(load<u32>(u1.dataStart + (<usize>i << 2)));
      unchecked(BLOCK[i] = word);
      unchecked(T[i] = word);
    }
    // U2..Uc, each the HMAC of the previous one.
    for (let round: u32 = 1; round < iterations; round++) {
      macBlock();
      for (let i = 0; i < 8; i++) unchecked(T[i] ^= unchecked(BLOCK[i]));
    }
    const offset = (block - 1) << 5;
    const take = min(32, keyLength - offset);
    for (let i = 0; i < take; i++) {
      const word = unchecked(T[i >> 2]);
      store<u8>(changetype<usize>(out) + <usize>(offset + i), <u8>(word >>> (24 - ((i & 3) << 3))));
    }
  }
  return out;
}
