// A compact JWS (RFC 7515 section 7.1) taken apart, its signature checked against the route's keys, and the
// claims the policy needs read once (RFC 7519 section 4.1), so that a cached token is re-checked per request
// without touching JSON again.
import { base64UrlDecode } from "../lib/encoding";
import { JsonValue, parseJson } from "../lib/json";
import { algId } from "./algorithms";
import { VerificationKey, verifySignature } from "./keys";
import { kidIndex, RouteSettings } from "./settings";

export class VerifiedToken {
  key: VerificationKey;
  alg: i32;
  payload: JsonValue;
  hasExp: bool = false;
  /** Seconds since the epoch. */
  exp: f64 = 0;
  hasNbf: bool = false;
  nbf: f64 = 0;
  /** `iat` when it is a number (RFC 7519 section 4.1.6); read for plans bounding a token's lifetime. */
  hasIat: bool = false;
  iat: f64 = 0;
  iss: string | null = null;
  audiences: Array<string> = new Array<string>(0);
  scopes: Array<string> = new Array<string>(0);
  /** azp, else a single aud, else client_id (the default client id claims, in that order). */
  clientId: string | null = null;

  constructor(key: VerificationKey, alg: i32, payload: JsonValue) {
    this.key = key;
    this.alg = alg;
    this.payload = payload;
  }
}

function decodeJsonObject(segment: string): JsonValue | null {
  const bytes = base64UrlDecode(segment);
  if (bytes === null) return null;
  const parsed = parseJson(bytes!);
  const value = parsed.value;
  if (value === null || !value.isObject) return null;
  return value;
}

function splitScopes(text: string, out: Array<string>): void {
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i == text.length || text.charCodeAt(i) == 0x20) {
      if (i > start) out.push(text.substring(start, i));
      start = i + 1;
    }
  }
}

/** Reads the registered claims; false when one of them has the wrong type (the token is then invalid). */
function readClaims(token: VerifiedToken): bool {
  const payload = token.payload;
  const exp = payload.get("exp");
  if (exp !== null) {
    if (!exp.isNumber) return false;
    token.hasExp = true;
    token.exp = exp.numberValue;
  }
  const nbf = payload.get("nbf");
  if (nbf !== null) {
    if (!nbf.isNumber) return false;
    token.hasNbf = true;
    token.nbf = nbf.numberValue;
  }
  // Not refused when malformed (it never was): a plan bounding lifetimes then counts from now instead.
  const iat = payload.get("iat");
  if (iat !== null && iat.isNumber) {
    token.hasIat = true;
    token.iat = iat.numberValue;
  }
  const iss = payload.get("iss");
  if (iss !== null) {
    if (!iss.isString) return false;
    token.iss = iss.stringValue;
  }
  const aud = payload.get("aud");
  if (aud !== null) {
    if (aud.isString) {
      token.audiences.push(aud.stringValue);
    } else if (aud.isArray) {
      const items = aud.items;
      for (let i = 0; items !== null && i < items.length; i++) {
        const item = unchecked(items[i]);
        if (!item.isString) return false;
        token.audiences.push(item.stringValue);
      }
    } else {
      return false;
    }
  }
  // OAuth scopes: RFC 8693 section 4.2 `scope` (space-separated), or the `scp` array some issuers use.
  const scope = payload.get("scope");
  if (scope !== null && scope.isString) splitScopes(scope.stringValue, token.scopes);
  const scp = payload.get("scp");
  if (scp !== null) {
    if (scp.isString) {
      splitScopes(scp.stringValue, token.scopes);
    } else if (scp.isArray) {
      const items = scp.items;
      for (let i = 0; items !== null && i < items.length; i++) {
        const item = unchecked(items[i]);
        if (item.isString) token.scopes.push(item.stringValue);
      }
    }
  }
  const azp = payload.get("azp");
  if (azp !== null && azp.isString) {
    token.clientId = azp.stringValue;
  } else if (token.audiences.length == 1) {
    token.clientId = unchecked(token.audiences[0]);
  } else {
    const clientId = payload.get("client_id");
    if (clientId !== null && clientId.isString) token.clientId = clientId.stringValue;
  }
  return true;
}

function issuerMatches(key: VerificationKey, iss: string | null): bool {
  const issuer = key.issuer;
  return issuer === null || (iss !== null && iss == issuer);
}

/**
 * Parses `token`, selects the key by `kid` among the route's keys (every key that accepts the algorithm when
 * the token names none, unless every key carries a kid: then it is refused), and verifies the signature. Null
 * when anything is wrong: malformed, an algorithm the route does not allow (never "none"), an unknown kid, no kid
 * where every key has one, a key pinned to another issuer, a key of another type, a bad signature.
 */
export function verifyToken(token: string, route: RouteSettings): VerifiedToken | null {
  const dot1 = token.indexOf(".");
  if (dot1 <= 0) return null;
  const dot2 = token.indexOf(".", dot1 + 1);
  if (dot2 <= dot1 + 1 || dot2 == token.length - 1) return null;
  if (token.indexOf(".", dot2 + 1) >= 0) return null;

  const header = decodeJsonObject(token.substring(0, dot1));
  if (header === null) return null;
  const algValue = header.get("alg");
  if (algValue === null || !algValue.isString) return null;
  const alg = algId(algValue.stringValue);
  if (alg < 0 || (route.algorithms & (1 << alg)) == 0) return null;
  // No JWS extension is understood here, so any critical one must be refused (RFC 7515 section 4.1.11).
  if (header.get("crit") !== null) return null;
  const kidValue = header.get("kid");
  if (kidValue !== null && !kidValue.isString) return null;

  const sigBytes = base64UrlDecode(token.substring(dot2 + 1));
  if (sigBytes === null) return null;
  const sig = Uint8Array.wrap(sigBytes!);
  const input = String.UTF8.encode(token.substring(0, dot2));
  const inputPtr = changetype<usize>(input);
  const inputLen = input.byteLength;

  // Key choice: a token naming a kid is checked against the key with that kid; keys without a kid (a PEM given
  // to a plan, say) are candidates for every token, kid or not. When every key of the route carries a kid, a token
  // without one is refused (stricter than Envoy's jwt_verify_lib, which tries them all): no key is guessed.
  // A key pinned to an issuer (GATEWAY_KEYS) is a candidate only for tokens whose `iss` names that issuer.
  const payload = decodeJsonObject(token.substring(dot1 + 1, dot2));
  if (payload === null) return null;
  const issValue = payload.get("iss");
  const iss = issValue !== null && issValue.isString ? issValue.stringValue : null;
  let key: VerificationKey | null = null;
  const kid = kidValue !== null ? kidValue.stringValue : null;
  const allKeysNamed = route.keysByKid.size == route.keys.length;
  // A key pinned to the token's issuer first (its entry is kid + "\n" + issuer), then one pinned to none.
  const byKid = route.keysByKid;
  let indexed = kid;
  if (kid !== null && iss !== null) {
    const pinned = kidIndex(kid, iss);
    if (byKid.has(pinned)) indexed = pinned;
  }
  if (indexed !== null && byKid.has(indexed)) {
    const candidate = byKid.get(indexed);
    if (!issuerMatches(candidate, iss)) return null;
    if (!candidate.accepts(alg) || !verifySignature(candidate, alg, inputPtr, inputLen, sig)) return null;
    key = candidate;
  } else {
    const keys = route.keys;
    for (let i = 0; i < keys.length; i++) {
      const candidate = unchecked(keys[i]);
      // A token naming an unknown kid may still match a key that has none, never another kid's key; a token
      // naming no kid is tried against kid-carrying keys only when some key of the route has no kid.
      if (candidate.kid !== null && (kid !== null || allKeysNamed)) continue;
      if (!issuerMatches(candidate, iss)) continue;
      if (candidate.accepts(alg) && verifySignature(candidate, alg, inputPtr, inputLen, sig)) {
        key = candidate;
        break;
      }
    }
    if (key === null) return null;
  }

  const verified = new VerifiedToken(key!, alg, payload);
  if (!readClaims(verified)) return null;
  return verified;
}
