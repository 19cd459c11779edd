// oauth2: authenticates a request by a bearer token checked with the authorization server's RFC 7662 token
// introspection endpoint (proxy_http_call; the request waits paused), answers cached by the token's SHA-256 until
// min(exp, now + maxCacheSeconds). The introspected client id selects the subscription and plan
// (docs/plan-selection.md): the route's candidate plans in order, the first whose selection rule holds among those
// the client subscribes to; then the plan's scopes. Identity goes forward as x-apip-* headers.
// 401: missing or invalid token, no plan; 403: subscription or scope; 503: authorization server unavailable
// (fail closed, never cached). Plugin configuration: docs/policies.md#oauth2.
import { Action, BufferType, MapType, proxy_continue_stream, proxy_get_buffer_bytes, proxy_http_call, Status } from "../lib/abi";
import { claimString, claimText, scopesSatisfied } from "../lib/claims";
import { parseConfigObject, Problems } from "../lib/config";
import { sha256HexOfString } from "../lib/crypto/sha256";
import {
  getHeader, getRequestHeader, Header, isValidHeaderValue, removeRequestHeader, serializePairs, setRequestHeader,
  startsWithIgnoringCase,
} from "../lib/headers";
import { APPLICATION_ID_HEADER, PLAN_HEADER, SUBSCRIPTION_ID_HEADER } from "../lib/identity";
import { JsonValue, parseJson } from "../lib/json";
import { isLogEnabled, log } from "../lib/log";
import { LogLevel } from "../lib/abi";
import { clearReturn, RETURN_PTR, RETURN_SIZE, RETURN_U32, takeReturned } from "../lib/memory";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { nowMillis } from "../lib/properties";
import { sendJsonError } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { RuleInput } from "../lib/selection-rule";
import { formEncode } from "./settings";
import { Introspection, IntrospectionCache } from "./cache";
import { ClientEntry, OAuth2Settings, readSettings, RouteSettings, Server } from "./settings";

const USER_ID_HEADER = "x-apip-user-id";
/** Tokens longer than this are refused before anything else (Envoy's default header limit is 60 KiB in all). */
const MAX_TOKEN_LENGTH = 16384;
/** Introspection responses larger than this are treated as a server failure. */
const MAX_RESPONSE_BYTES: u32 = 65536;
/** proxy_stream_type_t HttpRequest. */
const REQUEST_STREAM: i32 = 0;

class OAuth2Root extends PolicyRoot<RouteSettings> {
  cache: IntrospectionCache = new IntrospectionCache(0);

  onConfigure(configuration: ArrayBuffer): bool {
    const problems = new Problems();
    const config = parseConfigObject(configuration, problems);
    const settings = config === null ? new OAuth2Settings() : readSettings(config, problems);
    if (!this.commit("oauth2", problems, settings.routes, settings.strip)) return false;
    // Servers or credentials may have changed: nothing introspected under the previous configuration is reused.
    this.cache = new IntrospectionCache(settings.cacheSize);
    return true;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new OAuth2Stream(contextId, this);
  }
}

function splitScopes(claims: JsonValue): Array<string> {
  const out = new Array<string>(0);
  const scope = claimString(claims, "scope");
  if (scope === null) return out;
  const parts = scope.split(" ");
  for (let i = 0; i < parts.length; i++) {
    const part = unchecked(parts[i]);
    if (part.length > 0) out.push(part);
  }
  return out;
}

function missingToken(): u32 {
  const headers = new Array<Header>(0);
  // RFC 6750 section 3: a 401 names the scheme; with an error code only when a token was presented.
  headers.push(new Header("www-authenticate", "Bearer"));
  return sendJsonError(401, "apip_oauth2_missing", "Missing bearer token.", headers);
}

function invalidToken(details: string): u32 {
  const headers = new Array<Header>(0);
  headers.push(new Header("www-authenticate", "Bearer error=\"invalid_token\""));
  return sendJsonError(401, details, "Invalid token.", headers);
}

function unavailable(reason: string): u32 {
  if (isLogEnabled(LogLevel.Warn)) log(LogLevel.Warn, "oauth2: authorization server unavailable: " + reason);
  return sendJsonError(503, "apip_oauth2_unavailable", "Authorization server unavailable.");
}

function readCallBody(size: u32): ArrayBuffer {
  if (size == 0) return new ArrayBuffer(0);
  clearReturn();
  if (proxy_get_buffer_bytes(BufferType.HttpCallResponseBody, 0, size, RETURN_PTR, RETURN_SIZE) != Status.Ok) return new ArrayBuffer(0);
  return takeReturned();
}

class OAuth2Stream extends PolicyStream<OAuth2Root> {
  // While the request waits for the introspection answer:
  route: RouteSettings | null = null;
  cacheKey: string = "";
  callToken: u32 = 0;
  isWaiting: bool = false;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;
    // An earlier authentication module already admitted the request (docs/plan-selection.md).
    if (getRequestHeader(PLAN_HEADER) !== null) return Action.Continue;

    // The token: "Bearer <token>" (scheme compared case-insensitively, RFC 9110 section 11.1). Anything else is
    // no bearer credential: with other security types on the route (optional), another module's business.
    const raw = getRequestHeader(route.header);
    let token = "";
    if (raw !== null && startsWithIgnoringCase(raw, "bearer ")) token = raw.substring(7).trim();
    if (token.length == 0) return route.optional ? Action.Continue : missingToken();
    if (token.length > MAX_TOKEN_LENGTH) return invalidToken("apip_oauth2_invalid");

    const server = route.server;
    const key = server.id + " " + sha256HexOfString(token);
    const nowMs = <f64>nowMillis();
    const cached = policy.cache.get(key, nowMs);
    if (cached !== null) return this.admit(route, cached, nowMs);
    return this.introspect(route, server, key, token);
  }

  /** Sends the introspection request (RFC 7662 2.1) and pauses the request until the answer. */
  introspect(route: RouteSettings, server: Server, key: string, token: string): u32 {
    const headers = new Array<Header>(0);
    headers.push(new Header(":method", "POST"));
    headers.push(new Header(":path", server.path));
    headers.push(new Header(":authority", server.authority));
    headers.push(new Header("content-type", "application/x-www-form-urlencoded"));
    headers.push(new Header("accept", "application/json"));
    headers.push(new Header("authorization", server.authorization));
    const pairs = serializePairs(headers);
    const trailers = serializePairs(new Array<Header>(0));
    const body = String.UTF8.encode("token=" + formEncode(token) + server.hintSuffix);
    const cluster = String.UTF8.encode(server.cluster);
    store<u32>(RETURN_U32, 0);
    const status = proxy_http_call(
      changetype<usize>(cluster), <usize>cluster.byteLength, changetype<usize>(pairs), <usize>pairs.byteLength,
      changetype<usize>(body), <usize>body.byteLength, changetype<usize>(trailers), <usize>trailers.byteLength,
      server.timeoutMs, RETURN_U32,
    );
    if (status != Status.Ok) return unavailable("dispatch to cluster " + server.cluster + " failed (status " + status.toString() + ")");
    this.route = route;
    this.cacheKey = key;
    this.callToken = load<u32>(RETURN_U32);
    this.isWaiting = true;
    return Action.Pause;
  }

  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
    if (!this.isWaiting || token != this.callToken) return;
    this.isWaiting = false;
    const route = this.route!;
    this.route = null;
    if (numHeaders == 0) {
      unavailable("call failed or timed out");
      return;
    }
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (status === null || status != "200") {
      unavailable("status " + (status === null ? "none" : status));
      return;
    }
    if (bodySize > MAX_RESPONSE_BYTES) {
      unavailable("response too large");
      return;
    }
    const parsed = parseJson(readCallBody(bodySize));
    const claims = parsed.value;
    if (claims === null || !claims.isObject) {
      unavailable("response is not a JSON object");
      return;
    }
    const active = claims.get("active");
    if (active === null || !active.isBool) {
      unavailable("response has no boolean active");
      return;
    }
    // RFC 7662 2.2: inactive covers revoked, expired, unknown and not-for-this-resource tokens alike.
    if (!active.boolValue) {
      invalidToken("apip_oauth2_inactive");
      return;
    }
    const nowMs = <f64>nowMillis();
    let expMs: f64 = -1;
    const exp = claims.get("exp");
    if (exp !== null && exp.isNumber) expMs = exp.numberValue * 1000;
    const entry = new Introspection(claims, splitScopes(claims), expMs, 0);
    const maxCacheMs = route.server.maxCacheMs;
    let until = nowMs + maxCacheMs;
    if (expMs >= 0 && expMs < until) until = expMs;
    entry.cachedUntilMs = until;
    if (maxCacheMs > 0 && until > nowMs) this.policy.cache.put(this.cacheKey, entry);
    if (this.admit(route, entry, nowMs) == Action.Continue) proxy_continue_stream(REQUEST_STREAM);
  }

  /** Decides on an active token: expiry, client -> plan, scopes; sets identity. Continue, or a local reply. */
  admit(route: RouteSettings, token: Introspection, nowMs: f64): u32 {
    // A server that says active past exp (clock skew, or a cached answer at its end) is not trusted.
    if (token.expMs >= 0 && nowMs >= token.expMs) return invalidToken("apip_oauth2_expired");
    if (!scopesSatisfied(route.scopes, route.scopesStrict, token.scopes)) return insufficientScope();

    let chosen: ClientEntry | null = null;
    const clients = route.clients;
    if (clients !== null) {
      const clientId = claimString(token.claims, route.clientIdClaim);
      if (clientId === null || !clients.has(clientId)) return noSubscription();
      const entries = clients.get(clientId);
      const planIds = route.planIds;
      let candidates = 0;
      let input: RuleInput | null = null;
      if (planIds.length == 0) {
        // No plan list (a policy attachment): the client's first entry.
        if (entries.length > 0) chosen = unchecked(entries[0]);
        candidates = entries.length;
      }
      for (let p = 0; p < planIds.length && chosen === null; p++) {
        const planId = unchecked(planIds[p]);
        let entry: ClientEntry | null = null;
        for (let e = 0; e < entries.length; e++) {
          if (unchecked(entries[e]).plan == planId) { entry = unchecked(entries[e]); break; }
        }
        if (entry === null) continue;
        candidates++;
        const rule = unchecked(route.plans[p]).rule;
        if (rule !== null) {
          if (input === null) {
            input = new RuleInput();
            input.claims = token.claims;
          }
          if (!rule.evaluate(input)) continue;
        }
        chosen = entry;
      }
      if (candidates == 0) return noSubscription();
      if (chosen === null) {
        return sendJsonError(401, "apip_oauth2_no_plan", "No plan matches this request.");
      }
      if (!chosen.active) return sendJsonError(403, "apip_oauth2_subscription_inactive", "Subscription is not active.");
      const planIndex = route.planIds.indexOf(chosen.plan);
      if (planIndex >= 0) {
        const plan = unchecked(route.plans[planIndex]);
        if (!scopesSatisfied(plan.scopes, plan.scopesStrict, token.scopes)) return insufficientScope();
      }
    }

    // Identity for later policies and the upstream; claims first, so a mapping can never overwrite identity.
    const claims = token.claims;
    const mappings = route.claimsToHeaders;
    for (let i = 0; i < mappings.length; i++) {
      const mapping = unchecked(mappings[i]);
      const value = claims.get(mapping.claim);
      if (value === null) continue;
      const text = claimText(value);
      if (text !== null && isValidHeaderValue(text)) setRequestHeader(mapping.header, text);
    }
    let user = claimString(claims, "sub");
    if (user === null) user = claimString(claims, "username");
    if (user !== null && isValidHeaderValue(user)) setRequestHeader(USER_ID_HEADER, user);
    if (chosen !== null) {
      const applicationId = chosen.applicationId;
      if (applicationId !== null) setRequestHeader(APPLICATION_ID_HEADER, applicationId);
      const subscriptionId = chosen.subscriptionId;
      if (subscriptionId !== null) setRequestHeader(SUBSCRIPTION_ID_HEADER, subscriptionId);
      setRequestHeader(PLAN_HEADER, chosen.plan);
    }
    if (!route.propagateToken) removeRequestHeader(route.header);
    return Action.Continue;
  }
}

function insufficientScope(): u32 {
  const headers = new Array<Header>(0);
  headers.push(new Header("www-authenticate", "Bearer error=\"insufficient_scope\""));
  return sendJsonError(403, "apip_oauth2_insufficient_scope", "Insufficient scope.", headers);
}

function noSubscription(): u32 {
  return sendJsonError(403, "apip_oauth2_no_subscription", "No subscription for this client.");
}

registerRootContext((contextId: u32): RootContext => new OAuth2Root());

export * from "../lib/exports";
