// The JWS algorithms this policy verifies (RFC 7518 section 3.1, RFC 8037 section 3.1), as small integers so a
// route's allow-list is one bit mask. "none" has no id: it can never be allowed.
import { compareImpl } from "util/string";
import { Hash } from "../lib/crypto/hash";

export namespace Alg {
  export const RS256: i32 = 0;
  export const RS384: i32 = 1;
  export const RS512: i32 = 2;
  export const PS256: i32 = 3;
  export const PS384: i32 = 4;
  export const PS512: i32 = 5;
  export const ES256: i32 = 6;
  export const ES384: i32 = 7;
  export const HS256: i32 = 8;
  export const HS384: i32 = 9;
  export const HS512: i32 = 10;
  export const EdDSA: i32 = 11;
  export const COUNT: i32 = 12;
}

/** Key types (JWK `kty`, with the curve folded in for EC). */
export namespace KeyType {
  export const RSA: i32 = 0;
  export const EC_P256: i32 = 1;
  export const EC_P384: i32 = 2;
  export const OCT: i32 = 3;
  export const OKP_ED25519: i32 = 4;
}

/** Every supported algorithm: the default allow-list. */
export const ALL_ALGORITHMS: u32 = (1 << Alg.COUNT) - 1;

// The supported names, 5 characters each, in Alg order (one string: smaller than twelve constants).
const NAMES = "RS256RS384RS512PS256PS384PS512ES256ES384HS256HS384HS512EdDSA";

/** The id of a JWS `alg` name, or -1 (also for "none" and every unsupported name). */
export function algId(name: string): i32 {
  if (name.length != 5) return -1;
  for (let id = 0; id < Alg.COUNT; id++) {
    if (compareImpl(NAMES, id * 5, name, 0, 5) == 0) return id;
  }
  return -1;
}

/** The hash each algorithm signs with (EdDSA hashes internally; SHA-512 is returned for completeness). */
export function algHash(alg: i32): Hash {
  if (alg == Alg.RS256 || alg == Alg.PS256 || alg == Alg.ES256 || alg == Alg.HS256) return Hash.SHA256;
  if (alg == Alg.RS384 || alg == Alg.PS384 || alg == Alg.ES384 || alg == Alg.HS384) return Hash.SHA384;
  return Hash.SHA512;
}

/**
 * The only key type an algorithm may be verified with. Binding the algorithm to the key type is what stops
 * algorithm confusion: an HS256 token is never checked against an RSA key's bytes (RFC 8725 section 3.1).
 */
export function algKeyType(alg: i32): i32 {
  if (alg <= Alg.PS512) return KeyType.RSA;
  if (alg == Alg.ES256) return KeyType.EC_P256;
  if (alg == Alg.ES384) return KeyType.EC_P384;
  if (alg <= Alg.HS512) return KeyType.OCT;
  return KeyType.OKP_ED25519;
}
