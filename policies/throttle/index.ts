// throttle: request limits per route, per API, per application, per subscription, and plan quotas per
// subscription, counted in sliding windows in proxy shared data (so every worker and every plugin of the same
// VM id shares the counters, and they survive configuration updates). 429 with Retry-After when over; the
// RateLimit-* headers go on every response; stopOnQuotaReach=false lets an over-limit request through marked
// with x-apip-quota-exceeded. Plugin configuration: docs/policies.md#throttle.
import { Action, MapType } from "../lib/abi";
import {
  indexPath, memberPath, objectEntries, Problems, readArray, readBool, readObject,
  readOptionalString, readString,
} from "../lib/config";
import { getRequestHeader, setRequestHeader } from "../lib/headers";
import {
  APPLICATION_ID_HEADER, PLAN_HEADER, QUOTA_EXCEEDED_HEADER, SUBSCRIPTION_ID_HEADER,
} from "../lib/identity";
import { JsonValue } from "../lib/json";
import { apiIdOfRoute, nowMillis } from "../lib/properties";
import { checkAndConsume, LimitCheck, LimitSpec, RateLimitOutcome, readLimitSpec } from "../lib/rate-limit";
import { sendJsonError } from "../lib/reply";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

namespace Scope {
  export const Route: i32 = 0;
  export const Api: i32 = 1;
  export const Application: i32 = 2;
  export const Subscription: i32 = 3;
}

class RouteLimit {
  spec: LimitSpec = new LimitSpec();
  scope: i32 = Scope.Route;
  /** Counter key prefix, fixed at configure time: "throttle|<scope>|<scope key>|<windowMs>|". */
  keyPrefix: string = "";
  /** Route and API scopes: the whole check, built once at configure time (the key has no per-request part). */
  fixedCheck: LimitCheck | null = null;
}

class PlanQuota {
  limits: Array<LimitSpec> = new Array<LimitSpec>(0);
  stopOnQuotaReach: bool = true;
}

class RouteSettings {
  limits: Array<RouteLimit> = new Array<RouteLimit>(0);
  applyPlanQuota: bool = false;
  stopOnQuotaReach: bool = true;
}

function scopeOf(name: string): i32 {
  if (name == "route") return Scope.Route;
  if (name == "api") return Scope.Api;
  if (name == "application") return Scope.Application;
  if (name == "subscription") return Scope.Subscription;
  return -1;
}

function readPlans(plansJson: JsonValue | null, problems: Problems): Map<string, PlanQuota> {
  const plans = new Map<string, PlanQuota>();
  const entries = objectEntries(plansJson, "$.plans", problems);
  while (entries.next()) {
    const path = entries.path;
    const plan = entries.value;
    const quota = new PlanQuota();
    const limits = readArray(plan, "limits", path, problems, true);
    for (let l = 0; l < limits.length; l++) {
      const limitPath = indexPath(memberPath(path, "limits"), l);
      const item = unchecked(limits[l]);
      if (!item.isObject) {
        problems.add(limitPath, "must be an object");
        continue;
      }
      quota.limits.push(readLimitSpec(item, limitPath, problems));
    }
    quota.stopOnQuotaReach = readBool(plan, "stopOnQuotaReach", path, problems, true);
    plans.set(entries.name, quota);
  }
  return plans;
}

function readRoute(name: string, route: JsonValue, path: string, problems: Problems): RouteSettings {
  const settings = new RouteSettings();
  const limits = readArray(route, "limits", path, problems, false);
  for (let l = 0; l < limits.length; l++) {
    const limitPath = indexPath(memberPath(path, "limits"), l);
    const item = unchecked(limits[l]);
    if (!item.isObject) {
      problems.add(limitPath, "must be an object");
      continue;
    }
    const limit = new RouteLimit();
    limit.spec = readLimitSpec(item, limitPath, problems);
    const scopeName = readString(item, "scope", limitPath, problems, false, "route");
    limit.scope = scopeOf(scopeName);
    if (limit.scope < 0) {
      problems.add(memberPath(limitPath, "scope"), "must be one of route, api, application, subscription");
      continue;
    }
    const explicitKey = readOptionalString(item, "key", limitPath, problems);
    const scopeKey = explicitKey !== null ? explicitKey : (limit.scope == Scope.Route ? name : apiIdOfRoute(name));
    limit.keyPrefix = "throttle|" + scopeName + "|" + scopeKey + "|" + limit.spec.windowMs.toString() + "|";
    settings.limits.push(limit);
  }
  settings.applyPlanQuota = readBool(route, "planQuota", path, problems, false);
  settings.stopOnQuotaReach = readBool(route, "stopOnQuotaReach", path, problems, true);
  for (let l = 0; l < settings.limits.length; l++) {
    const limit = unchecked(settings.limits[l]);
    if (limit.scope == Scope.Route || limit.scope == Scope.Api) {
      limit.fixedCheck = new LimitCheck(String.UTF8.encode(limit.keyPrefix), limit.spec.requests, limit.spec.windowMs, settings.stopOnQuotaReach);
    }
  }
  if (settings.limits.length == 0 && !settings.applyPlanQuota) {
    problems.add(path, "must have limits or planQuota");
  }
  return settings;
}

class ThrottleRoot extends PolicyRoot<RouteSettings> {
  plans: Map<string, PlanQuota> = new Map<string, PlanQuota>();

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("throttle", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteSettings> {
    const routes = new Map<string, RouteSettings>();
    this.plans = readPlans(readObject(config, "plans", "$", problems, false), problems);
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readRoute(entries.name, entries.value, entries.path, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new ThrottleStream(contextId, this);
  }
}

/** The identity a per-application / per-subscription counter is keyed by; "-" when the request has none. */
function identityOr(header: string): string {
  const value = getRequestHeader(header);
  return value === null || value.length == 0 ? "-" : value;
}

// The checks of the request being handled, reused (callbacks never overlap within a module).
// @ts-ignore: decorator
@lazy const checks = new Array<LimitCheck>(0);

class ThrottleStream extends PolicyStream<ThrottleRoot> {
  outcome: RateLimitOutcome | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;

    checks.length = 0;
    const limits = route.limits;
    for (let i = 0; i < limits.length; i++) {
      const limit = unchecked(limits[i]);
      const fixed = limit.fixedCheck;
      if (fixed !== null) {
        checks.push(fixed);
        continue;
      }
      let key = limit.keyPrefix;
      if (limit.scope == Scope.Application) key += identityOr(APPLICATION_ID_HEADER);
      else if (limit.scope == Scope.Subscription) key += identityOr(SUBSCRIPTION_ID_HEADER);
      checks.push(new LimitCheck(String.UTF8.encode(key), limit.spec.requests, limit.spec.windowMs, route.stopOnQuotaReach));
    }
    if (route.applyPlanQuota) {
      const plan = getRequestHeader(PLAN_HEADER);
      if (plan !== null && policy.plans.has(plan)) {
        const quota = policy.plans.get(plan);
        const subscription = getRequestHeader(SUBSCRIPTION_ID_HEADER);
        const holder = subscription !== null ? "subscription|" + subscription : "application|" + identityOr(APPLICATION_ID_HEADER);
        for (let i = 0; i < quota.limits.length; i++) {
          const spec = unchecked(quota.limits[i]);
          const key = "throttle|plan|" + holder + "|" + spec.windowMs.toString();
          checks.push(new LimitCheck(String.UTF8.encode(key), spec.requests, spec.windowMs, quota.stopOnQuotaReach));
        }
      }
    }

    const outcome = checkAndConsume(checks, nowMillis());
    checks.length = 0;
    this.outcome = outcome;
    if (!outcome.allowed) {
      const message = outcome.contended ? "Rate limit state is contended; retry." : "Rate limit exceeded.";
      return sendJsonError(429, "apip_throttled", message, outcome.headers(true));
    }
    if (outcome.exceeded) setRequestHeader(QUOTA_EXCEEDED_HEADER, "true");
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const outcome = this.outcome;
    if (outcome === null || !outcome.allowed) return Action.Continue;
    outcome.setHeaders(MapType.ResponseHeaders);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new ThrottleRoot());

export * from "../lib/exports";
