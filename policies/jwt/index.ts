// jwt: authenticates a request by a bearer JWT (RFC 7519) signed with one of the route's keys. The control plane
// resolves keys (PEM, JWK, JWKS URL) with jose and ships them here as public JWKs; this module verifies
// signatures itself (lib/crypto), enforces the route's algorithm allow-list (never "none", and an algorithm only
// with its own key type), exp/nbf with leeway, issuer, audience, required claims and scopes, maps the client id
// to a subscription, and passes identity forward as x-apip-* headers.
// 401: missing or invalid token; 403: scope or subscription. Plugin configuration: docs/policies.md#jwt.
import { Action } from "../lib/abi";
import { logRefused, parseConfigObject, Problems } from "../lib/config";
import { getRequestHeader, Header, isValidHeaderValue, removeRequestHeader, setRequestHeader } from "../lib/headers";
import { APPLICATION_ID_HEADER, PLAN_HEADER, stripIdentityHeaders, SUBSCRIPTION_ID_HEADER } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis, RouteCache } from "../lib/properties";
import { sendJsonError, sendMisconfigured } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { TokenCache } from "./cache";
import { Client, JwtSettings, readSettings, RouteSettings } from "./settings";
import { verifyToken, VerifiedToken } from "./token";

/** The identity header carrying the user claim (`sub` unless configured otherwise). */
const USER_ID_HEADER = "x-apip-user-id";
/** Tokens longer than this are refused before any decoding (Envoy's default header limit is 60 KiB in all). */
const MAX_TOKEN_LENGTH = 16384;

// Outcomes of the per-request claim checks.
const OK = 0;
const INVALID = 1;
const EXPIRED = 2;
const NOT_YET_VALID = 3;
const INSUFFICIENT_SCOPE = 4;
const NO_SUBSCRIPTION = 5;

class JwtRoot extends RootContext {
  isConfigured: bool = false;
  settings: JwtSettings = new JwtSettings();
  cache: TokenCache = new TokenCache(0);

  onConfigure(configuration: ArrayBuffer): bool {
    const problems = new Problems();
    const config = parseConfigObject(configuration, problems);
    const settings = config === null ? new JwtSettings() : readSettings(config, problems);
    if (!problems.isEmpty) {
      logRefused("jwt", problems);
      this.isConfigured = false;
      return false;
    }
    this.settings = settings;
    // New keys or rules: nothing verified under the previous configuration is reused.
    this.cache = new TokenCache(settings.cacheSize);
    this.isConfigured = true;
    return true;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new JwtStream(contextId, this);
  }
}

/** True when `text` starts with `lowerPrefix` compared ASCII case-insensitively, without allocating. */
function startsWithIgnoringCase(text: string, lowerPrefix: string): bool {
  for (let i = 0; i < lowerPrefix.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c != lowerPrefix.charCodeAt(i)) return false;
  }
  return true;
}

@inline function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

/** True once the token is past exp by more than the largest leeway of any route: no route accepts it again. */
function isPastEveryLeeway(token: VerifiedToken, settings: JwtSettings, nowSeconds: f64): bool {
  return token.hasExp && nowSeconds >= token.exp + settings.maxLeewaySeconds;
}

function hasString(list: Array<string>, value: string): bool {
  for (let i = 0; i < list.length; i++) if (unchecked(list[i]) == value) return true;
  return false;
}

/** True when the route may use the key that verified a cached token (it may have come from another route). */
function routeHasKey(route: RouteSettings, token: VerifiedToken): bool {
  const keys = route.keys;
  for (let i = 0; i < keys.length; i++) if (unchecked(keys[i]) === token.key) return true;
  return false;
}

function scopesSatisfied(route: RouteSettings, token: VerifiedToken): bool {
  const wanted = route.scopes;
  if (wanted.length == 0) return true;
  for (let i = 0; i < wanted.length; i++) {
    const has = hasString(token.scopes, unchecked(wanted[i]));
    if (route.scopesStrict && !has) return false;
    if (!route.scopesStrict && has) return true;
  }
  return route.scopesStrict;
}

function check(route: RouteSettings, token: VerifiedToken, nowSeconds: f64): i32 {
  const leeway = route.leewaySeconds;
  // RFC 7519 section 4.1.4: valid only before exp; section 4.1.5: not before nbf.
  if (token.hasExp && nowSeconds >= token.exp + leeway) return EXPIRED;
  if (token.hasNbf && nowSeconds < token.nbf - leeway) return NOT_YET_VALID;
  if (route.issuers.length > 0) {
    const iss = token.iss;
    if (iss === null || !hasString(route.issuers, iss)) return INVALID;
  }
  if (route.audiences.length > 0) {
    let matched = false;
    for (let i = 0; i < token.audiences.length && !matched; i++) {
      matched = hasString(route.audiences, unchecked(token.audiences[i]));
    }
    if (!matched) return INVALID;
  }
  const required = route.requiredClaims;
  for (let i = 0; i < required.length; i++) {
    const claim = token.payload.get(unchecked(required[i]));
    if (claim === null || claim.isNull) return INVALID;
  }
  if (!scopesSatisfied(route, token)) return INSUFFICIENT_SCOPE;
  return OK;
}

/** A claim as a header value: strings as they are, numbers and booleans printed, string arrays comma-joined. */
function claimText(value: JsonValue): string | null {
  if (value.isString) return value.stringValue;
  if (value.isBool) return value.boolValue ? "true" : "false";
  if (value.isNumber) {
    const n = value.numberValue;
    return Math.floor(n) == n && Math.abs(n) < 9007199254740992 ? (<i64>n).toString() : n.toString();
  }
  if (value.isArray) {
    const items = value.items!;
    const parts = new Array<string>(0);
    for (let i = 0; i < items.length; i++) {
      const item = unchecked(items[i]);
      if (!item.isString) return null;
      parts.push(item.stringValue);
    }
    return parts.join(",");
  }
  return null;
}

function claimString(token: VerifiedToken, name: string): string | null {
  const value = token.payload.get(name);
  if (value === null || !value.isString) return null;
  return value.stringValue;
}

function unauthorized(details: string, error: string): u32 {
  const headers = new Array<Header>(0);
  // RFC 6750 section 3: a 401 for a bearer token names the scheme, and the error when a token was presented.
  headers.push(new Header("www-authenticate", error.length == 0 ? "Bearer" : "Bearer error=\"" + error + "\""));
  return sendJsonError(401, details, error.length == 0 ? "Missing bearer token." : "Invalid token.", headers);
}

function forbidden(details: string, message: string, bearerError: string): u32 {
  const headers = new Array<Header>(0);
  if (bearerError.length > 0) headers.push(new Header("www-authenticate", "Bearer error=\"" + bearerError + "\""));
  return sendJsonError(403, details, message, headers);
}

// The route lookup of the last request (see RouteCache).
// @ts-ignore: decorator
@lazy const routeCache = new RouteCache<RouteSettings>();

class JwtStream extends HttpContext {
  policy: JwtRoot;

  constructor(contextId: u32, root: JwtRoot) {
    super(contextId, root);
    this.policy = root;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    if (!policy.isConfigured) return sendMisconfigured();
    const settings = policy.settings;
    if (settings.stripIdentity) stripIdentityHeaders();
    const route = routeCache.lookup(settings.routes);
    if (route === null) return Action.Continue;

    // The token: "<scheme> <token>" (scheme compared case-insensitively, RFC 9110 section 11.1) or bare.
    const raw = getRequestHeader(route.header);
    if (raw === null) return unauthorized("apip_jwt_missing", "");
    let token = raw;
    const prefix = route.schemePrefix;
    if (prefix.length > 0) {
      if (raw.length <= prefix.length || !startsWithIgnoringCase(raw, prefix)) {
        return unauthorized("apip_jwt_missing", "");
      }
      token = raw.substring(prefix.length);
    }
    // Trimming copies the token: only when there is whitespace around it.
    if (token.length > 0 && (isSpace(token.charCodeAt(0)) || isSpace(token.charCodeAt(token.length - 1)))) token = token.trim();
    if (token.length == 0) return unauthorized("apip_jwt_missing", "");
    if (token.length > MAX_TOKEN_LENGTH) return unauthorized("apip_jwt_invalid", "invalid_token");

    const nowSeconds = <f64>nowMillis() / 1000;
    const cache = policy.cache;
    let verified = cache.get(token);
    if (verified !== null) {
      if (isPastEveryLeeway(verified, settings, nowSeconds)) {
        // Expired on every route: answer now, and drop it rather than verify it again.
        cache.delete(token);
        return unauthorized("apip_jwt_expired", "invalid_token");
      }
      if ((route.algorithms & (1 << verified.alg)) == 0 || !routeHasKey(route, verified)) {
        // Verified for another route's keys or algorithms: check it again against this route's.
        verified = null;
      }
    }
    if (verified === null) {
      verified = verifyToken(token, route);
      if (verified === null) return unauthorized("apip_jwt_invalid", "invalid_token");
      if (!isPastEveryLeeway(verified, settings, nowSeconds)) cache.put(token, verified);
    }

    const outcome = check(route, verified, nowSeconds);
    if (outcome == EXPIRED) return unauthorized("apip_jwt_expired", "invalid_token");
    if (outcome == NOT_YET_VALID) return unauthorized("apip_jwt_not_yet_valid", "invalid_token");
    if (outcome == INVALID) return unauthorized("apip_jwt_claims_invalid", "invalid_token");
    if (outcome == INSUFFICIENT_SCOPE) return forbidden("apip_jwt_insufficient_scope", "Insufficient scope.", "insufficient_scope");

    // The client -> subscription mapping, when the route has one: an unknown client has no access.
    let client: Client | null = null;
    const clients = route.clients;
    if (clients !== null) {
      const claim = route.clientIdClaim;
      const clientId = claim === null ? verified.clientId : claimString(verified, claim);
      if (clientId === null || !clients.has(clientId)) {
        return forbidden("apip_jwt_no_subscription", "No subscription for this client.", "");
      }
      client = clients.get(clientId);
    }

    // Identity for later policies and the upstream; claims first, so a mapping can never overwrite identity.
    const mappings = route.claimsToHeaders;
    for (let i = 0; i < mappings.length; i++) {
      const mapping = unchecked(mappings[i]);
      const value = verified.payload.get(mapping.claim);
      if (value === null) continue;
      const text = claimText(value);
      if (text !== null && isValidHeaderValue(text)) setRequestHeader(mapping.header, text);
    }
    const userClaim = route.userClaim;
    if (userClaim !== null) {
      const user = claimString(verified, userClaim);
      if (user !== null && isValidHeaderValue(user)) setRequestHeader(USER_ID_HEADER, user);
    }
    if (client !== null) {
      const applicationId = client.applicationId;
      if (applicationId !== null) setRequestHeader(APPLICATION_ID_HEADER, applicationId);
      const subscriptionId = client.subscriptionId;
      if (subscriptionId !== null) setRequestHeader(SUBSCRIPTION_ID_HEADER, subscriptionId);
      const plan = client.plan;
      if (plan !== null) setRequestHeader(PLAN_HEADER, plan);
    }
    if (!route.propagateToken) removeRequestHeader(route.header);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new JwtRoot());

export * from "../lib/exports";
