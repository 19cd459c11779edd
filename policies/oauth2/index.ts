// oauth2: authenticates a request by a bearer token checked with RFC 7662 token introspection (proxy_http_call; the
// request waits paused). A route lists its authorization servers (its OAuth2 plans' servers, in plan order): a token
// is introspected with each in turn, one call at a time, until one says active; answers are cached per server by
// the token's SHA-256 until min(exp, now + maxCacheSeconds). The introspected client id selects the subscription and
// plan (docs/plan-selection.md) among the plans of the server that answered: the route's candidate plans in order,
// the first whose selection rule holds among those the client subscribes to; then the plan's scopes. Identity goes
// forward as x-apip-* headers. 401: missing or invalid token (inactive at every server), no plan; 403: subscription
// or scope; 503: no server said active and one was unavailable (fail closed, never cached). Plugin configuration:
// docs/policies.md#oauth2.
import { Action, BufferType, MapType, proxy_continue_stream, proxy_get_buffer_bytes, Status } from "../lib/abi";
import { httpCall } from "../lib/http-call";
import { claimString, claimText, scopesSatisfied } from "../lib/claims";
import { parseConfigObject, Problems } from "../lib/config";
import { sha256HexOfString } from "../lib/crypto/sha256";
import {
  countHeaderOf, getHeader, getRequestHeader, Header, isValidHeaderValue, removeRequestHeader, setRequestHeader,
  startsWithIgnoringCase,
} from "../lib/headers";
import { APPLICATION_ID_HEADER, PLAN_HEADER, SUBSCRIPTION_ID_HEADER } from "../lib/identity";
import { JsonValue, parseJson } from "../lib/json";
import { isLogEnabled, log } from "../lib/log";
import { LogLevel } from "../lib/abi";
import { clearReturn, RETURN_PTR, RETURN_SIZE, takeReturned } from "../lib/memory";
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
  // While the request waits for an introspection answer: the route, the token and its digest, which of the route's
  // servers is being asked, and whether an earlier one failed (then "inactive everywhere" is 503, not 401).
  route: RouteSettings | null = null;
  token: string = "";
  tokenHash: string = "";
  serverIndex: i32 = 0;
  sawFailure: bool = false;
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
    // The header repeated: which token counts would depend on who reads it (Envoy hands a module only the first
    // value), so neither does (docs/gateway.md "Request hygiene").
    if (raw !== null && countHeaderOf(MapType.RequestHeaders, route.headerBytes) > 1) return invalidToken("apip_oauth2_ambiguous");
    let token = "";
    if (raw !== null && startsWithIgnoringCase(raw, "bearer ")) token = raw.substring(7).trim();
    if (token.length == 0) return route.optional ? Action.Continue : missingToken();
    if (token.length > MAX_TOKEN_LENGTH) return invalidToken("apip_oauth2_invalid");

    // A token any of the route's servers said active (and still cached) is decided without a call.
    const hash = sha256HexOfString(token);
    const nowMs = <f64>nowMillis();
    const servers = route.servers;
    for (let i = 0; i < servers.length; i++) {
      const server = unchecked(servers[i]);
      const cached = policy.cache.get(server.id + " " + hash, nowMs);
      if (cached !== null) return this.admit(route, server, cached, nowMs);
    }
    this.route = route;
    this.token = token;
    this.tokenHash = hash;
    this.sawFailure = false;
    return this.introspectFrom(0);
  }

  /**
   * Asks the route's servers from `index` on, one call at a time: Pause while a call is pending, or the local reply
   * when none is left (401 when every server said inactive, 503 when one could not answer).
   */
  introspectFrom(index: i32): u32 {
    const route = this.route!;
    for (let i = index; i < route.servers.length; i++) {
      this.serverIndex = i;
      if (this.introspect(unchecked(route.servers[i]))) return Action.Pause;
      this.sawFailure = true;
    }
    this.route = null;
    this.token = "";
    return this.sawFailure ? unavailable("no authorization server said active") : invalidToken("apip_oauth2_inactive");
  }

  /** Sends the introspection request (RFC 7662 2.1) to `server`; false when it could not be dispatched. */
  introspect(server: Server): bool {
    const token = this.token;
    const headers = new Array<Header>(0);
    headers.push(new Header(":method", "POST"));
    headers.push(new Header(":path", server.path));
    headers.push(new Header(":authority", server.authority));
    headers.push(new Header("content-type", "application/x-www-form-urlencoded"));
    headers.push(new Header("accept", "application/json"));
    headers.push(new Header("authorization", server.authorization));
    const body = String.UTF8.encode("token=" + formEncode(token) + server.hintSuffix);
    const call = httpCall(this, server.cluster, headers, body, server.timeoutMs);
    if (call.status != Status.Ok) {
      if (isLogEnabled(LogLevel.Warn)) log(LogLevel.Warn, "oauth2: dispatch to cluster " + server.cluster + " failed (status " + call.status.toString() + ")");
      return false;
    }
    this.callToken = call.token;
    this.isWaiting = true;
    return true;
  }

  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
    if (!this.isWaiting || token != this.callToken) return;
    this.isWaiting = false;
    const route = this.route!;
    const server = unchecked(route.servers[this.serverIndex]);
    const claims = this.activeClaims(server, numHeaders, bodySize);
    // Inactive (RFC 7662 2.2: revoked, expired, unknown, not for this resource) or no answer: the next server.
    if (claims === null) {
      // Pause: the next server is asked (this handler runs again); otherwise the local reply is already sent.
      this.introspectFrom(this.serverIndex + 1);
      return;
    }
    const key = server.id + " " + this.tokenHash;
    this.route = null;
    this.token = "";
    const nowMs = <f64>nowMillis();
    let expMs: f64 = -1;
    const exp = claims.get("exp");
    if (exp !== null && exp.isNumber) expMs = exp.numberValue * 1000;
    const entry = new Introspection(claims, splitScopes(claims), expMs, 0);
    const maxCacheMs = server.maxCacheMs;
    let until = nowMs + maxCacheMs;
    if (expMs >= 0 && expMs < until) until = expMs;
    entry.cachedUntilMs = until;
    if (maxCacheMs > 0 && until > nowMs) this.policy.cache.put(key, entry);
    if (this.admit(route, server, entry, nowMs) == Action.Continue) proxy_continue_stream(REQUEST_STREAM);
  }

  /** The claims of an answer that says active, or null: inactive, or no usable answer (then `sawFailure`). */
  activeClaims(server: Server, numHeaders: u32, bodySize: u32): JsonValue | null {
    let failure = "";
    let claims: JsonValue | null = null;
    if (numHeaders == 0) failure = "call failed or timed out";
    else {
      const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
      if (status === null) failure = "status none";
      else if (status != "200") failure = "status " + status;
      else if (bodySize > MAX_RESPONSE_BYTES) failure = "response too large";
      else {
        claims = parseJson(readCallBody(bodySize)).value;
        if (claims === null || !claims.isObject) failure = "response is not a JSON object";
        else {
          const active = claims.get("active");
          if (active === null || !active.isBool) failure = "response has no boolean active";
          else if (!active.boolValue) return null;
        }
      }
    }
    if (failure.length > 0) {
      this.sawFailure = true;
      if (isLogEnabled(LogLevel.Warn)) log(LogLevel.Warn, "oauth2: authorization server " + server.id + " unavailable: " + failure);
      return null;
    }
    return claims;
  }

  /**
   * Decides on a token `server` said active: expiry, client -> plan among that server's plans, scopes; sets
   * identity. Continue, or a local reply.
   */
  admit(route: RouteSettings, server: Server, token: Introspection, nowMs: f64): u32 {
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
        // A client id is the server's own name for a client: another server's plans are not this token's.
        const planServer = unchecked(route.plans[p]).server;
        if (planServer.length > 0 && planServer != server.id) continue;
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
