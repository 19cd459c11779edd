// Keyed digests of API keys and subscription tokens: HMAC-SHA-256 under the platform's digest key of the SHA-256
// of the presented value, as lowercase hex (the control plane's `keyDigest`, server/domain/secrets.ts). Keyed, so a
// copy of the database or of a configuration without the key cannot be used to test guesses offline.
//
// The HMAC message is always one 32-byte digest, so, as in pbkdf2.ts, SHA-256 after the key's inner and outer pad
// blocks is computed once at configuration time and each request costs the value's hash plus exactly two
// compressions over a fixed, already padded block.
import { hexDecode, hexEncode } from "../encoding";
import { sha256CompressWords, sha256Into, sha256StateAfterBlock } from "./sha256";

// Scratch (single-threaded module; nothing here re-enters).
// @ts-ignore: decorator
@lazy const BLOCK = new StaticArray<u32>(16);
// @ts-ignore: decorator
@lazy const PAD = new StaticArray<u8>(64);
// @ts-ignore: decorator
@lazy const HASH = new ArrayBuffer(32);

export class KeyDigester {
  private readonly inner: StaticArray<u32> = new StaticArray<u32>(8);
  private readonly outer: StaticArray<u32> = new StaticArray<u32>(8);

  /** `key`: the 32-byte digest key. */
  constructor(key: ArrayBuffer) {
    const pad = changetype<usize>(PAD);
    const k = changetype<usize>(key);
    const length = <usize>key.byteLength;
    for (let i: usize = 0; i < 64; i++) store<u8>(pad + i, (i < length ? load<u8>(k + i) : <u8>0) ^ 0x36);
    sha256StateAfterBlock(pad, this.inner);
    for (let i: usize = 0; i < 64; i++) store<u8>(pad + i, (i < length ? load<u8>(k + i) : <u8>0) ^ 0x5c);
    sha256StateAfterBlock(pad, this.outer);
    memory.fill(pad, 0, 64);
  }

  /** HMAC-SHA-256(key, SHA-256(value)) as 64 lowercase hex characters. */
  digestHex(value: ArrayBuffer): string {
    const hash = changetype<usize>(HASH);
    sha256Into(changetype<usize>(value), <usize>value.byteLength, hash);
    for (let i = 0; i < 8; i++) unchecked(BLOCK[i] = bswap<u32>(load<u32>(hash + (<usize>i << 2))));
    // The padding of a 64-byte pad block + 32-byte message (768 bits), the same for the inner and outer hash.
    unchecked(BLOCK[8] = 0x80000000);
    for (let i = 9; i < 15; i++) unchecked(BLOCK[i] = 0);
    unchecked(BLOCK[15] = 768);
    sha256CompressWords(this.inner, BLOCK, BLOCK);
    sha256CompressWords(this.outer, BLOCK, BLOCK);
    for (let i = 0; i < 8; i++) store<u32>(hash + (<usize>i << 2), bswap<u32>(unchecked(BLOCK[i])));
    return hexEncode(HASH);
  }
}

/** The digester of a configuration's `digestKey` (64 hex characters), or null when it is not one. */
export function parseDigestKey(text: string): KeyDigester | null {
  if (text.length != 64) return null;
  const key = hexDecode(text);
  return key === null ? null : new KeyDigester(key);
}
