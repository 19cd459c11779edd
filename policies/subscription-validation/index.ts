// subscription-validation: the request must belong to an ACTIVE subscription of the route's API, found (in the
// reference's order) by the token in the route's header (`Subscription-Key` by default), else in its cookie (when
// one is configured), else by the identity an auth policy set earlier in the chain (x-apip-subscription-id, else
// x-apip-application-id); only keyed digests of tokens are configured, never a token. 403 otherwise, with the
// reference's body. A route configured `enabled: false` is let through untouched.
// Then the subscription plan's quota (throttleLimitCount per Min | Hour | Day | Month) is counted in shared
// data; 429 when over, or let through marked x-apip-quota-exceeded when stopOnQuotaReach is false.
// Plugin configuration: docs/policies.md#subscription-validation.
import { Action, MapType } from "../lib/abi";
import {
  indexPath, memberPath, objectEntries, Problems, readArray, readBool, readInteger,
  readObject, readOptionalString, readString,
} from "../lib/config";
import { KeyDigester, parseDigestKey } from "../lib/crypto/key-digest";
import { isLowerHex } from "../lib/encoding";
import {
  getHeaderOf, Header, isValidHeaderName, removeHeaderOf, setHeaderOf, setRequestHeader,
} from "../lib/headers";
import {
  APPLICATION_ID_HEADER_BYTES, PLAN_HEADER_BYTES, QUOTA_EXCEEDED_HEADER,
  SUBSCRIPTION_ID_HEADER_BYTES,
} from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis } from "../lib/properties";
import { checkAndConsume, LimitCheck, RateLimitOutcome } from "../lib/rate-limit";
import { cookieValue, isValidCookieName, withoutCookie } from "../lib/cookies";
import { sendJsonError, sendLocalReply } from "../lib/reply";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const MINUTE_MS: u64 = 60_000;

/** v0.9 throttleLimitUnit -> window length. Month is a 30-day sliding window. */
function unitMs(unit: string): u64 {
  if (unit == "Min") return MINUTE_MS;
  if (unit == "Hour") return 60 * MINUTE_MS;
  if (unit == "Day") return 1440 * MINUTE_MS;
  if (unit == "Month") return 30 * 1440 * MINUTE_MS;
  return 0;
}

class Plan {
  name: string = "";
  /** 0: no quota. */
  requests: u32 = 0;
  windowMs: u64 = 0;
  stopOnQuotaReach: bool = true;
}

class Subscription {
  id: string = "";
  applicationId: string | null = null;
  isActive: bool = false;
  plan: Plan | null = null;
  /** The plan quota's check (its counter key is fixed per subscription), built once at configure time. */
  quotaCheck: LimitCheck | null = null;
}

class ApiSubscriptions {
  byToken: Map<string, Subscription> = new Map<string, Subscription>();
  byId: Map<string, Subscription> = new Map<string, Subscription>();
  byApplication: Map<string, Subscription> = new Map<string, Subscription>();
}

class RouteSettings {
  /** The configuration's digest key (one object shared by every route). */
  digester: KeyDigester | null = null;
  subscriptions: ApiSubscriptions = new ApiSubscriptions();
  header: string = "subscription-key";
  /** `header` UTF-8 encoded once. */
  headerBytes: ArrayBuffer = new ArrayBuffer(0);
  propagateCredential: bool = false;
  /** false: the policy does nothing on this route (the reference's `enabled`). */
  enabled: bool = true;
  /** The lowercase name of the cookie that may carry the token; "" = cookies are not read. */
  cookie: string = "";
}

function readPlans(plansJson: JsonValue | null, problems: Problems): Map<string, Plan> {
  const plans = new Map<string, Plan>();
  const entries = objectEntries(plansJson, "$.plans", problems);
  while (entries.next()) {
    const id = entries.name;
    const path = entries.path;
    const item = entries.value;
    const plan = new Plan();
    plan.name = readString(item, "name", path, problems, false, id);
    plan.requests = <u32>readInteger(item, "throttleLimitCount", path, problems, false, 0, 0, <f64>u32.MAX_VALUE);
    if (plan.requests > 0) {
      const unit = readString(item, "throttleLimitUnit", path, problems, true);
      plan.windowMs = unitMs(unit);
      if (plan.windowMs == 0) problems.add(memberPath(path, "throttleLimitUnit"), "must be one of Min, Hour, Day, Month");
    }
    plan.stopOnQuotaReach = readBool(item, "stopOnQuotaReach", path, problems, true);
    plans.set(id, plan);
  }
  return plans;
}

function readApi(api: JsonValue, path: string, plans: Map<string, Plan>, problems: Problems): ApiSubscriptions {
  const table = new ApiSubscriptions();
  const items = readArray(api, "subscriptions", path, problems, true);
  for (let i = 0; i < items.length; i++) {
    const itemPath = indexPath(memberPath(path, "subscriptions"), i);
    const item = unchecked(items[i]);
    if (!item.isObject) {
      problems.add(itemPath, "must be an object");
      continue;
    }
    const subscription = new Subscription();
    subscription.id = readString(item, "id", itemPath, problems, true);
    if (table.byId.has(subscription.id)) problems.add(memberPath(itemPath, "id"), "duplicates another subscription");
    subscription.applicationId = readOptionalString(item, "applicationId", itemPath, problems);
    subscription.isActive = readString(item, "status", itemPath, problems, true) == "ACTIVE";
    const planId = readOptionalString(item, "plan", itemPath, problems);
    if (planId !== null) {
      if (!plans.has(planId)) problems.add(memberPath(itemPath, "plan"), "must name a plan of $.plans");
      else subscription.plan = plans.get(planId);
    }
    const plan = subscription.plan;
    if (plan !== null && plan.requests > 0) {
      const key = "subscription-quota|" + subscription.id + "|" + plan.windowMs.toString();
      subscription.quotaCheck = new LimitCheck(String.UTF8.encode(key), plan.requests, plan.windowMs, plan.stopOnQuotaReach);
    }
    const token = readOptionalString(item, "tokenSha256", itemPath, problems);
    if (token !== null) {
      if (!isLowerHex(token, 64)) problems.add(memberPath(itemPath, "tokenSha256"), "must be 64 lowercase hex characters");
      else if (table.byToken.has(token)) problems.add(memberPath(itemPath, "tokenSha256"), "duplicates another subscription");
      table.byToken.set(token, subscription);
    }
    table.byId.set(subscription.id, subscription);
    const applicationId = subscription.applicationId;
    // An application has at most one subscription per API; prefer an active one if the table repeats it.
    if (applicationId !== null && (!table.byApplication.has(applicationId) || subscription.isActive)) {
      table.byApplication.set(applicationId, subscription);
    }
  }
  return table;
}

function readRoute(route: JsonValue, path: string, apis: Map<string, ApiSubscriptions>, digester: KeyDigester | null, problems: Problems): RouteSettings {
  const settings = new RouteSettings();
  settings.digester = digester;
  const api = readString(route, "api", path, problems, true);
  if (!apis.has(api)) problems.add(memberPath(path, "api"), "must name an API of $.apis");
  else settings.subscriptions = apis.get(api);
  settings.header = readString(route, "header", path, problems, false, "subscription-key").toLowerCase();
  if (!isValidHeaderName(settings.header)) problems.add(memberPath(path, "header"), "must be a valid header name");
  settings.headerBytes = String.UTF8.encode(settings.header);
  settings.propagateCredential = readBool(route, "propagateCredential", path, problems, false);
  settings.enabled = readBool(route, "enabled", path, problems, true);
  settings.cookie = readString(route, "cookie", path, problems, false, "").toLowerCase();
  if (settings.cookie.length > 0 && !isValidCookieName(settings.cookie)) problems.add(memberPath(path, "cookie"), "must be a valid cookie name");
  return settings;
}

class SubscriptionRoot extends PolicyRoot<RouteSettings> {

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("subscription-validation", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteSettings> {
    const routes = new Map<string, RouteSettings>();
    const plans = readPlans(readObject(config, "plans", "$", problems, false), problems);
    const digester = parseDigestKey(readString(config, "digestKey", "$", problems, true));
    if (digester === null) problems.add("$.digestKey", "must be 64 hex characters");
    const apis = new Map<string, ApiSubscriptions>();
    const apiEntries = objectEntries(readObject(config, "apis", "$", problems, true), "$.apis", problems);
    while (apiEntries.next()) apis.set(apiEntries.name, readApi(apiEntries.value, apiEntries.path, plans, problems));
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readRoute(entries.value, entries.path, apis, digester, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new SubscriptionStream(contextId, this);
  }
}

// @ts-ignore: decorator
@lazy const COOKIE_HEADER_BYTES = String.UTF8.encode("cookie");

/** Where the credential of the request being handled came from (callbacks never overlap within a module). */
const enum Credential { None, Header, Cookie, Identity }

/** The reference's 403 (subscriptionvalidation.go `forbiddenResponse`), its detail only when nothing was presented. */
function sendForbidden(credential: Credential): u32 {
  const message = credential == Credential.None
    ? "Subscription required for this API: no subscription token or application identity provided"
    : "Subscription required for this API";
  const headers = new Array<Header>(0);
  headers.push(new Header("content-type", "application/json"));
  return sendLocalReply(403, "apip_subscription_invalid", '{"error":"forbidden","message":"' + message + '"}', headers);
}

class Found {
  subscription: Subscription | null = null;
  credential: Credential = Credential.None;
}

// @ts-ignore: decorator
@lazy const found = new Found();

/** The token's subscription (or null) and where the credential came from, in the reference's order. */
function findSubscription(route: RouteSettings): Found {
  const table = route.subscriptions;
  found.subscription = null;
  found.credential = Credential.None;
  let token = getHeaderOf(MapType.RequestHeaders, route.headerBytes);
  if (token !== null && token.length > 0) {
    found.credential = Credential.Header;
  } else if (route.cookie.length > 0) {
    const cookies = getHeaderOf(MapType.RequestHeaders, COOKIE_HEADER_BYTES);
    token = cookies === null ? null : cookieValue(cookies, route.cookie);
    if (token !== null) found.credential = Credential.Cookie;
  }
  if (found.credential != Credential.None) {
    const digest = route.digester!.digestHex(String.UTF8.encode(token!));
    if (table.byToken.has(digest)) found.subscription = table.byToken.get(digest);
    return found;
  }
  // Identity headers can be trusted here: the first policy of the chain strips client-supplied ones.
  const subscriptionId = getHeaderOf(MapType.RequestHeaders, SUBSCRIPTION_ID_HEADER_BYTES);
  if (subscriptionId !== null) {
    found.credential = Credential.Identity;
    if (table.byId.has(subscriptionId)) found.subscription = table.byId.get(subscriptionId);
    return found;
  }
  const applicationId = getHeaderOf(MapType.RequestHeaders, APPLICATION_ID_HEADER_BYTES);
  if (applicationId !== null) {
    found.credential = Credential.Identity;
    if (table.byApplication.has(applicationId)) found.subscription = table.byApplication.get(applicationId);
  }
  return found;
}

/** Takes the credential off the request once it did its work, unless the route forwards it. */
function stripCredential(route: RouteSettings, credential: Credential): void {
  if (route.propagateCredential) return;
  if (credential == Credential.Header) {
    removeHeaderOf(MapType.RequestHeaders, route.headerBytes);
  } else if (credential == Credential.Cookie) {
    const cookies = getHeaderOf(MapType.RequestHeaders, COOKIE_HEADER_BYTES);
    if (cookies === null) return;
    const rest = withoutCookie(cookies, route.cookie);
    if (rest.length == 0) removeHeaderOf(MapType.RequestHeaders, COOKIE_HEADER_BYTES);
    else setHeaderOf(MapType.RequestHeaders, COOKIE_HEADER_BYTES, rest);
  }
}

// The one-element check list of the request being handled, reused (callbacks never overlap within a module).
// @ts-ignore: decorator
@lazy const quotaChecks = new Array<LimitCheck>(1);

class SubscriptionStream extends PolicyStream<SubscriptionRoot> {
  outcome: RateLimitOutcome | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;

    if (!route.enabled) return Action.Continue;

    const result = findSubscription(route);
    const credential = result.credential;
    const subscription = result.subscription;
    if (subscription === null || !subscription.isActive) return sendForbidden(credential);
    const plan = subscription.plan;
    const quotaCheck = subscription.quotaCheck;
    if (quotaCheck !== null) {
      const checks = quotaChecks;
      unchecked(checks[0] = quotaCheck);
      const outcome = checkAndConsume(checks, nowMillis());
      this.outcome = outcome;
      if (!outcome.allowed) {
        return sendJsonError(429, "apip_quota_exceeded", "Subscription quota exceeded.", outcome.headers(true));
      }
      if (outcome.exceeded) setRequestHeader(QUOTA_EXCEEDED_HEADER, "true");
    }

    setHeaderOf(MapType.RequestHeaders, SUBSCRIPTION_ID_HEADER_BYTES, subscription.id);
    const applicationId = subscription.applicationId;
    if (applicationId !== null) setHeaderOf(MapType.RequestHeaders, APPLICATION_ID_HEADER_BYTES, applicationId);
    if (plan !== null) setHeaderOf(MapType.RequestHeaders, PLAN_HEADER_BYTES, plan.name);
    stripCredential(route, credential);
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const outcome = this.outcome;
    if (outcome === null || !outcome.allowed) return Action.Continue;
    outcome.setHeaders(MapType.ResponseHeaders);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new SubscriptionRoot());

export * from "../lib/exports";
