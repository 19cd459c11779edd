// Public JWKs (RFC 7517, RFC 7518 section 6, RFC 8037 section 2) parsed once per configuration into ready-to-use
// verification keys, and the signature check of one algorithm with one key.
import { memberPath, Problems, readOptionalString, readString } from "../lib/config";
import { curve, CurveId } from "../lib/crypto/ecdsa";
import { Ed25519PublicKey, ed25519PublicKey, ed25519Verify } from "../lib/crypto/ed25519";
import { digestInto, hashLength } from "../lib/crypto/hash";
import { HmacKey } from "../lib/crypto/hmac";
import { RsaPublicKey } from "../lib/crypto/rsa";
import { base64UrlDecode } from "../lib/encoding";
import { JsonValue } from "../lib/json";
import { Alg, algHash, algId, algKeyType, KeyType } from "./algorithms";

/** RFC 7518 section 3.2: an HMAC key at least as long as the hash output; the shortest allowed is HS256's. */
const MIN_HMAC_KEY_BYTES = 32;

export class VerificationKey {
  kid: string | null = null;
  /** The issuer this key vouches for (the JWK's non-standard `iss` member, GATEWAY_KEYS), or null for any. */
  issuer: string | null = null;
  /** The name of the key set (`$.keySets.<name>`) this key was read from: plans trust key sets by name. */
  set: string = "";
  keyType: i32 = -1;
  /** The algorithm the JWK pins with its `alg` member, or -1. */
  alg: i32 = -1;
  rsa: RsaPublicKey | null = null;
  /** EC public point (Montgomery form, x || y), from Curve.importPublicKey. */
  ecPoint: StaticArray<u32> | null = null;
  /** The HMAC secret. */
  bytes: Uint8Array | null = null;
  ed25519: Ed25519PublicKey | null = null;
  /** HMAC pads per hash, built on first use. */
  hmac: StaticArray<HmacKey | null> = new StaticArray<HmacKey | null>(3);

  /** True when this key may verify `alg`: the key type matches and the JWK pins no other algorithm. */
  accepts(alg: i32): bool {
    if (algKeyType(alg) != this.keyType) return false;
    return this.alg < 0 || this.alg == alg;
  }
}

function decodeMember(jwk: JsonValue, name: string, path: string, problems: Problems): Uint8Array | null {
  const text = readString(jwk, name, path, problems, true);
  if (text.length == 0) return null;
  const bytes = base64UrlDecode(text);
  if (bytes === null) {
    problems.add(memberPath(path, name), "must be base64url");
    return null;
  }
  return Uint8Array.wrap(bytes!);
}

/** Parses one public JWK; records problems and returns null when it cannot be used. */
export function parseJwk(jwk: JsonValue, path: string, problems: Problems): VerificationKey | null {
  if (!jwk.isObject) {
    problems.add(path, "must be a JWK object");
    return null;
  }
  const key = new VerificationKey();
  key.kid = readOptionalString(jwk, "kid", path, problems);
  key.issuer = readOptionalString(jwk, "iss", path, problems);
  const use = readOptionalString(jwk, "use", path, problems);
  if (use !== null && use != "sig") problems.add(memberPath(path, "use"), "must be \"sig\" when present");
  const alg = readOptionalString(jwk, "alg", path, problems);
  if (alg !== null) {
    key.alg = algId(alg);
    if (key.alg < 0) problems.add(memberPath(path, "alg"), "is not a supported signature algorithm");
  }
  const kty = readString(jwk, "kty", path, problems, true);
  if (kty != "oct" && jwk.get("d") !== null) {
    // A private key must never be shipped to a data plane.
    problems.add(memberPath(path, "d"), "must be absent: only public keys are accepted");
    return null;
  }
  if (kty == "RSA") {
    key.keyType = KeyType.RSA;
    const n = decodeMember(jwk, "n", path, problems);
    const e = decodeMember(jwk, "e", path, problems);
    if (n === null || e === null) return null;
    key.rsa = RsaPublicKey.create(n, e);
    if (key.rsa === null) {
      problems.add(path, "must be an RSA public key of 2048 to 4096 bits");
      return null;
    }
  } else if (kty == "EC") {
    const crv = readString(jwk, "crv", path, problems, true);
    let id: CurveId;
    if (crv == "P-256") {
      key.keyType = KeyType.EC_P256;
      id = CurveId.P256;
    } else if (crv == "P-384") {
      key.keyType = KeyType.EC_P384;
      id = CurveId.P384;
    } else {
      problems.add(memberPath(path, "crv"), "must be \"P-256\" or \"P-384\"");
      return null;
    }
    const x = decodeMember(jwk, "x", path, problems);
    const y = decodeMember(jwk, "y", path, problems);
    if (x === null || y === null) return null;
    key.ecPoint = curve(id).importPublicKey(x, y);
    if (key.ecPoint === null) {
      problems.add(path, "must be a point on " + crv);
      return null;
    }
  } else if (kty == "oct") {
    key.keyType = KeyType.OCT;
    const k = decodeMember(jwk, "k", path, problems);
    if (k === null) return null;
    if (k.length < MIN_HMAC_KEY_BYTES) {
      problems.add(memberPath(path, "k"), "must be at least 32 bytes");
      return null;
    }
    key.bytes = k;
  } else if (kty == "OKP") {
    const crv = readString(jwk, "crv", path, problems, true);
    if (crv != "Ed25519") {
      problems.add(memberPath(path, "crv"), "must be \"Ed25519\"");
      return null;
    }
    key.keyType = KeyType.OKP_ED25519;
    const x = decodeMember(jwk, "x", path, problems);
    if (x === null) return null;
    key.ed25519 = ed25519PublicKey(x);
    if (key.ed25519 === null) {
      problems.add(memberPath(path, "x"), "must be an Ed25519 public key");
      return null;
    }
  } else {
    problems.add(memberPath(path, "kty"), "must be \"RSA\", \"EC\", \"oct\" or \"OKP\"");
    return null;
  }
  if (key.alg >= 0 && algKeyType(key.alg) != key.keyType) {
    problems.add(memberPath(path, "alg"), "does not match the key type");
    return null;
  }
  return key;
}

// Digest scratch, large enough for SHA-512.
const DIGEST = new Uint8Array(64);

/**
 * Checks the JWS signature `sig` over the signing input (`inputLen` bytes at `input`) with `key` and `alg`.
 * The caller has checked key.accepts(alg).
 */
export function verifySignature(key: VerificationKey, alg: i32, input: usize, inputLen: i32, sig: Uint8Array): bool {
  if (alg == Alg.EdDSA) return ed25519Verify(key.ed25519!, input, inputLen, sig);
  const hash = algHash(alg);
  if (alg >= Alg.HS256) {
    const secret = key.bytes!;
    if (secret.length < hashLength(hash)) return false;
    let mac = unchecked(key.hmac[<i32>hash]);
    if (mac === null) {
      mac = new HmacKey(hash, secret);
      unchecked(key.hmac[<i32>hash] = mac);
    }
    return mac.verifyRaw(input, inputLen, sig);
  }
  const length = hashLength(hash);
  const mHash = Uint8Array.wrap(DIGEST.buffer, 0, length);
  digestInto(hash, input, inputLen, mHash.dataStart);
  if (alg <= Alg.RS512) return key.rsa!.verifyPkcs1(hash, mHash, sig.dataStart, sig.length);
  if (alg <= Alg.PS512) return key.rsa!.verifyPss(hash, mHash, sig.dataStart, sig.length);
  const id = alg == Alg.ES256 ? CurveId.P256 : CurveId.P384;
  return curve(id).verify(key.ecPoint!, mHash, sig.dataStart, sig.length);
}
