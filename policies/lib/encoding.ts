// Hex and base64 / base64url encoders and decoders over ArrayBuffers.

// @ts-ignore: decorator
@lazy const HEX_DIGITS = "0123456789abcdef";
// @ts-ignore: decorator
@lazy const B64_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// @ts-ignore: decorator
@lazy const B64_URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Lowercase hex of `data`. */
export function hexEncode(data: ArrayBuffer): string {
  const length = data.byteLength;
  const out = changetype<string>(__new(<usize>length << 2, idof<string>()));
  const src = changetype<usize>(data);
  const dst = changetype<usize>(out);
  const digits = changetype<usize>(HEX_DIGITS);
  for (let i = 0; i < length; i++) {
    const byte = <usize>load<u8>(src + <usize>i);
    store<u16>(dst + (<usize>i << 2), load<u16>(digits + ((byte >> 4) << 1)));
    store<u16>(dst + (<usize>i << 2) + 2, load<u16>(digits + ((byte & 15) << 1)));
  }
  return out;
}

@inline function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Bytes of a hex string (either case); null when the length is odd or a character is not hex. */
export function hexDecode(text: string): ArrayBuffer | null {
  const length = text.length;
  if (length & 1) return null;
  const out = new ArrayBuffer(length >> 1);
  for (let i = 0; i < length; i += 2) {
    const hi = hexValue(text.charCodeAt(i));
    const lo = hexValue(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return null;
    store<u8>(changetype<usize>(out) + <usize>(i >> 1), <u8>((hi << 4) | lo));
  }
  return out;
}

/** True when `text` is exactly `length` lowercase hex characters. */
export function isLowerHex(text: string, length: i32): bool {
  if (text.length != length) return false;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function encodeBase64With(data: ArrayBuffer, alphabet: string, pad: bool): string {
  const src = Uint8Array.wrap(data);
  const length = src.length;
  const parts = new Array<string>(0);
  let chunk = "";
  let i = 0;
  for (; i + 2 < length; i += 3) {
    const n = (<u32>src[i] << 16) | (<u32>src[i + 1] << 8) | <u32>src[i + 2];
    chunk += alphabet.charAt((n >> 18) & 63) + alphabet.charAt((n >> 12) & 63)
      + alphabet.charAt((n >> 6) & 63) + alphabet.charAt(n & 63);
    if (chunk.length >= 1024) { parts.push(chunk); chunk = ""; }
  }
  const rest = length - i;
  if (rest == 1) {
    const n = <u32>src[i] << 16;
    chunk += alphabet.charAt((n >> 18) & 63) + alphabet.charAt((n >> 12) & 63);
    if (pad) chunk += "==";
  } else if (rest == 2) {
    const n = (<u32>src[i] << 16) | (<u32>src[i + 1] << 8);
    chunk += alphabet.charAt((n >> 18) & 63) + alphabet.charAt((n >> 12) & 63) + alphabet.charAt((n >> 6) & 63);
    if (pad) chunk += "=";
  }
  parts.push(chunk);
  return parts.join("");
}

@inline function base64Value(c: i32, url: bool): i32 {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  if (url) {
    if (c == 45) return 62;
    if (c == 95) return 63;
  } else {
    if (c == 43) return 62;
    if (c == 47) return 63;
  }
  return -1;
}

function decodeBase64With(text: string, url: bool): ArrayBuffer | null {
  let length = text.length;
  // Padding is optional in base64url (RFC 7515 forbids it in JWS; accept and drop it) and required-or-absent in base64.
  while (length > 0 && text.charCodeAt(length - 1) == 61) length--;
  if (text.length - length > 2) return null;
  if ((length & 3) == 1) return null;
  const outLength = (length * 3) >> 2;
  const out = new ArrayBuffer(outLength);
  const dst = changetype<usize>(out);
  let acc: u32 = 0;
  let bits: u32 = 0;
  let o: usize = 0;
  for (let i = 0; i < length; i++) {
    const v = base64Value(text.charCodeAt(i), url);
    if (v < 0) return null;
    acc = (acc << 6) | <u32>v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      store<u8>(dst + o, <u8>((acc >> bits) & 0xff));
      o++;
    }
  }
  // Non-canonical encodings (non-zero leftover bits) are refused so one value has one encoding.
  if (bits > 0 && (acc & ((1 << bits) - 1)) != 0) return null;
  return out;
}

/** Base64url without padding (RFC 4648 §5), as used by JWS/JWK. */
export function base64UrlEncode(data: ArrayBuffer): string { return encodeBase64With(data, B64_URL, false); }

/** Decodes base64url (padding tolerated); null on any invalid character or non-canonical tail. */
export function base64UrlDecode(text: string): ArrayBuffer | null { return decodeBase64With(text, true); }

/** Standard base64 with padding (RFC 4648 §4). */
export function base64Encode(data: ArrayBuffer): string { return encodeBase64With(data, B64_STD, true); }

/** Decodes standard base64; null on any invalid character. */
export function base64Decode(text: string): ArrayBuffer | null { return decodeBase64With(text, false); }

/** UTF-8 bytes of `text`. */
export function utf8(text: string): ArrayBuffer { return String.UTF8.encode(text); }

/** Byte-wise equality in time independent of where the first difference is. */
export function constantTimeEqual(a: ArrayBuffer, b: ArrayBuffer): bool {
  if (a.byteLength != b.byteLength) return false;
  let diff: u32 = 0;
  const pa = changetype<usize>(a);
  const pb = changetype<usize>(b);
  for (let i = 0; i < a.byteLength; i++) {
    diff |= <u32>(load<u8>(pa + <usize>i) ^ load<u8>(pb + <usize>i));
  }
  return diff == 0;
}
