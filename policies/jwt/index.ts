// jwt: authenticates a request by a bearer JWT (RFC 7519) signed with one of the route's keys. The control plane
// resolves keys (PEM, JWK, JWKS URL) with jose and ships them here as public JWKs; this module verifies
// signatures itself (lib/crypto), enforces the route's algorithm allow-list (never "none", and an algorithm only
// with its own key type), exp/nbf with leeway, issuer, audience, required claims and scopes, maps the client id
// to a subscription, and passes identity forward as x-apip-* headers.
// Plans (docs/plan-selection.md): a request another module already admitted (x-apip-plan set) passes untouched;
// an `optional` route lets a request without a token through without identity; a client's subscriptions are
// filtered to the route's plans and to the plans that trust the key set that verified the token, the first whose
// plan's selection rule holds for the token's claims wins.
// 401: missing or invalid token, or no plan matches; 403: scope or subscription. Config: docs/policies.md#jwt.
import { Action, MapType } from "../lib/abi";
import { logRefused, parseConfigObject, Problems } from "../lib/config";
import { claimString, claimText, hasString, scopesSatisfied } from "../lib/claims";
import { countHeaderOf, getRequestHeader, Header, isValidHeaderValue, removeRequestHeader, setRequestHeader, startsWithIgnoringCase } from "../lib/headers";
import { GATE_DENY, sendUndecided } from "../lib/conditions";
import { APPLICATION_ID_HEADER, enterRoute, PLAN_HEADER, SUBSCRIPTION_ID_HEADER } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis, RouteCache } from "../lib/properties";
import { sendJsonError, sendMisconfigured } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { RuleInput } from "../lib/selection-rule";
import { TokenCache } from "./cache";
import { Client, JwtSettings, PlanSettings, readSettings, RouteSettings } from "./settings";
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

@inline function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

/** True once the token is past exp by more than the largest leeway of any route: no route accepts it again. */
function isPastEveryLeeway(token: VerifiedToken, settings: JwtSettings, nowSeconds: f64): bool {
  return token.hasExp && nowSeconds >= token.exp + settings.maxLeewaySeconds;
}

/** True when the route may use the key that verified a cached token (it may have come from another route). */
function routeHasKey(route: RouteSettings, token: VerifiedToken): bool {
  const keys = route.keys;
  for (let i = 0; i < keys.length; i++) if (unchecked(keys[i]) === token.key) return true;
  return false;
}

// Why a token cannot select a plan of its client (plans' lifetime rules), worst last: the reply names it.
const LIFETIME_OK = 0;
const EXP_REQUIRED = 1;
const LIFETIME_EXCEEDED = 2;

/**
 * The plan's lifetime rules for `token`: `exp` present when required or bounded, and exp - iat within the maximum.
 * Without iat, or with an iat ahead of the clock, exp - now counts: an issuer cannot lengthen what a plan admits.
 */
function lifetimeOutcome(plan: PlanSettings, token: VerifiedToken, nowSeconds: f64, leeway: f64): i32 {
  const max = plan.maxLifetimeSeconds;
  if (!token.hasExp) return plan.requireExpiration || max > 0 ? EXP_REQUIRED : LIFETIME_OK;
  if (max == 0) return LIFETIME_OK;
  const from = token.hasIat && token.iat < nowSeconds ? token.iat : nowSeconds;
  return token.exp - from > max + leeway ? LIFETIME_EXCEEDED : LIFETIME_OK;
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
  const values = route.claimValues;
  for (let i = 0; i < values.length; i++) {
    const expected = unchecked(values[i]);
    const actual = claimString(token.payload, expected.claim);
    if (actual === null || actual != expected.value) return INVALID;
  }
  if (!scopesSatisfied(route.scopes, route.scopesStrict, token.scopes)) return INSUFFICIENT_SCOPE;
  return OK;
}

/** A JSON error reply with a `WWW-Authenticate` challenge when `challenge` is not empty. */
function reply(status: u32, details: string, message: string, challenge: string): u32 {
  const headers = new Array<Header>(0);
  if (challenge.length > 0) headers.push(new Header("www-authenticate", challenge));
  return sendJsonError(status, details, message, headers);
}

const INVALID_TOKEN_CHALLENGE = "Bearer error=\"invalid_token\"";

/** 401 for a presented token (RFC 6750 section 3: the challenge names the error when a token was presented). */
function invalid(details: string): u32 {
  return reply(401, details, "Invalid token.", INVALID_TOKEN_CHALLENGE);
}

function insufficientScope(): u32 {
  return reply(403, "apip_jwt_insufficient_scope", "Insufficient scope.", "Bearer error=\"insufficient_scope\"");
}

/** No token: an optional route continues without identity, any other gets 401 naming the scheme. */
function missing(route: RouteSettings): u32 {
  return route.optional ? Action.Continue : reply(401, "apip_jwt_missing", "Missing bearer token.", "Bearer");
}

function noSubscription(): u32 {
  return reply(403, "apip_jwt_no_subscription", "No subscription for this client.", "");
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
    const route = enterRoute(routeCache, settings.routes, settings.strip);
    if (route === null) return routeCache.gate == GATE_DENY ? sendUndecided() : Action.Continue;
    // Admitted by an earlier module (the route's first module strips client-supplied x-apip-*, so only then can it be set).
    if (!settings.strip.all && !routeCache.isFirst && getRequestHeader(PLAN_HEADER) !== null) return Action.Continue;

    // The token: "<scheme> <token>" (scheme compared case-insensitively, RFC 9110 section 11.1) or bare.
    // No token (in this scheme): an optional route continues without identity.
    const raw = getRequestHeader(route.header);
    if (raw === null) return missing(route);
    // The header repeated: which token counts would depend on who reads it (Envoy hands a module only the first
    // value), so neither does (docs/gateway.md "Request hygiene").
    if (countHeaderOf(MapType.RequestHeaders, route.headerBytes) > 1) return invalid("apip_jwt_ambiguous");
    let token = raw;
    const prefix = route.schemePrefix;
    if (prefix.length > 0) {
      if (raw.length <= prefix.length || !startsWithIgnoringCase(raw, prefix)) return missing(route);
      token = raw.substring(prefix.length);
    }
    // Trimming copies the token: only when there is whitespace around it.
    if (token.length > 0 && (isSpace(token.charCodeAt(0)) || isSpace(token.charCodeAt(token.length - 1)))) token = token.trim();
    if (token.length == 0) return missing(route);
    if (token.length > MAX_TOKEN_LENGTH) return invalid("apip_jwt_invalid");

    const nowSeconds = <f64>nowMillis() / 1000;
    const cache = policy.cache;
    let verified = cache.get(token);
    if (verified !== null) {
      if (isPastEveryLeeway(verified, settings, nowSeconds)) {
        // Expired on every route: answer now, and drop it rather than verify it again.
        cache.delete(token);
        return invalid("apip_jwt_expired");
      }
      if ((route.algorithms & (1 << verified.alg)) == 0 || !routeHasKey(route, verified)) {
        // Verified for another route's keys or algorithms: check it again against this route's.
        verified = null;
      }
    }
    if (verified === null) {
      verified = verifyToken(token, route);
      if (verified === null) return invalid("apip_jwt_invalid");
      if (!isPastEveryLeeway(verified, settings, nowSeconds)) cache.put(token, verified);
    }

    const outcome = check(route, verified, nowSeconds);
    if (outcome == EXPIRED) return invalid("apip_jwt_expired");
    if (outcome == NOT_YET_VALID) return invalid("apip_jwt_not_yet_valid");
    if (outcome == INVALID) return invalid("apip_jwt_claims_invalid");
    if (outcome == INSUFFICIENT_SCOPE) return insufficientScope();

    // The client -> subscription mapping, when the route has one: an unknown client has no access. Its
    // subscriptions to the route's plans whose plan trusts the verifying key's set are tried in order; the first
    // whose plan's rule holds wins.
    let client: Client | null = null;
    const clients = route.clients;
    if (clients !== null) {
      const claim = route.clientIdClaim;
      const clientId = claim === null ? verified.clientId : claimString(verified.payload, claim);
      if (clientId === null || !clients.has(clientId)) return noSubscription();
      const entries = clients.get(clientId);
      const allowed = route.plans;
      let candidates = 0;
      let lifetime = LIFETIME_OK;
      let input: RuleInput | null = null;
      for (let i = 0; i < entries.length && client === null; i++) {
        const entry = unchecked(entries[i]);
        const plan = entry.plan;
        if (allowed !== null && (plan === null || !hasString(allowed, plan))) continue;
        // A plan is selected only by a token its own key sets verified (plans may trust different issuers).
        const planSettings = entry.settings;
        const trusted = planSettings !== null ? planSettings.keySets : null;
        if (trusted !== null && !hasString(trusted, verified.key.set)) continue;
        if (planSettings !== null) {
          const outcome = lifetimeOutcome(planSettings, verified, nowSeconds, route.leewaySeconds);
          if (outcome != LIFETIME_OK) {
            if (outcome > lifetime) lifetime = outcome;
            continue;
          }
        }
        candidates++;
        const rule = planSettings !== null ? planSettings.rule : null;
        if (rule !== null) {
          if (input === null) {
            input = new RuleInput();
            input.claims = verified.payload;
          }
          if (!rule.evaluate(input)) continue;
        }
        client = entry;
      }
      if (client === null) {
        // A plan of the client refused the token's lifetime: say so rather than "no plan" (the client can fix it).
        if (lifetime == EXP_REQUIRED) return reply(401, "apip_jwt_exp_required", "Token has no expiration (exp).", INVALID_TOKEN_CHALLENGE);
        if (lifetime == LIFETIME_EXCEEDED) return reply(401, "apip_jwt_lifetime_exceeded", "Token lifetime exceeds the plan maximum.", INVALID_TOKEN_CHALLENGE);
        return candidates == 0 ? noSubscription() : reply(401, "apip_plan_no_match", "No plan matches this request.", "Bearer");
      }
      if (!client.active) return reply(403, "apip_subscription_inactive", "Subscription is not active.", "");
      const planSettings = client.settings;
      if (planSettings !== null && !scopesSatisfied(planSettings.scopes, planSettings.scopesStrict, verified.scopes)) {
        return insufficientScope();
      }
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
      const user = claimString(verified.payload, userClaim);
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
