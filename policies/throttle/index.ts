// throttle: request limits per route, per API, per application, per subscription, and plan quotas per
// subscription, counted in sliding windows in proxy shared data (so every worker and every plugin of the same
// VM id shares the counters, and they survive configuration updates). 429 with Retry-After when over; the
// RateLimit-* headers go on every response; stopOnQuotaReach=false lets an over-limit request through marked
// with x-apip-quota-exceeded. A route's limits come in stages (one per attachment, API-level first), counted one
// after the other as the reference gateway runs one rate-limit policy after another: a stage's limits are all
// checked before any is consumed, and a refused stage stops the later ones. Plugin configuration:
// docs/policies.md#throttle.
import { Action, MapType } from "../lib/abi";
import {
  indexPath, memberPath, objectEntries, Problems, readArray, readBool, readInteger, readObject,
  readOptionalString, readString,
} from "../lib/config";
import { getHeaderRaw, Header, setHeaderRaw, setHeaderU32, setRequestHeader } from "../lib/headers";
import {
  APPLICATION_ID_HEADER_BYTES, PLAN_HEADER_BYTES, QUOTA_EXCEEDED_HEADER, SUBSCRIPTION_ID_HEADER_BYTES,
} from "../lib/identity";
import { JsonValue } from "../lib/json";
import { apiIdOfRoute, getPropertyString, nowMillis, propertyPath } from "../lib/properties";
import {
  checkAndConsume, LimitCheck, LimitSpec, RateLimitOutcome, readLimitSpec, setRateLimitHeaders,
} from "../lib/rate-limit";
import { sendJsonError, sendLocalReply } from "../lib/reply";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { ByteBuilder } from "./bytes";

namespace Scope {
  export const Route: i32 = 0;
  export const Api: i32 = 1;
  export const Application: i32 = 2;
  export const Subscription: i32 = 3;
}

/** A request-dependent part of a counter key: a request header's value, or the client address (header null). */
class KeyPart {
  /** The header's name, and the reference's placeholder for requests without it (they share one counter). */
  name: ArrayBuffer;
  missing: ArrayBuffer;
  constructor(public header: string | null) {
    this.name = String.UTF8.encode(header !== null ? header : "");
    this.missing = String.UTF8.encode(header !== null ? "_missing_header_" + header + "_" : "");
  }
}

/** A limit as counted, with its quota's IETF items encoded once (`"name";q=1;w=60` and `"name";r=`). */
class QuotaCheck extends LimitCheck {
  policyItem: ArrayBuffer;
  stateItem: ArrayBuffer;
  constructor(key: ArrayBuffer, spec: LimitSpec, enforce: bool, quota: string) {
    super(key, spec.requests, spec.windowMs, enforce);
    this.quota = quota;
    this.policyItem = String.UTF8.encode("\"" + quota + "\";q=" + spec.requests.toString() + ";w=" + (spec.windowMs / 1000).toString());
    this.stateItem = String.UTF8.encode("\"" + quota + "\";r=");
  }
}

class RouteLimit {
  spec: LimitSpec = new LimitSpec();
  scope: i32 = Scope.Route;
  quota: string = "default";
  /** Counter key prefix, fixed at configure time: "throttle|<scope>|<scope key>|<windowMs>|" (+ quota, constants). */
  keyPrefix: string = "";
  keyBy: Array<KeyPart> = new Array<KeyPart>(0);
  /** keyPrefix, UTF-8 encoded. */
  prefix: ArrayBuffer = new ArrayBuffer(0);
  /** The check, built at configure time; a keyed one gets its key per request. */
  check: QuotaCheck | null = null;
  /** Some key part comes from the request (application, subscription, keyBy). */
  keyed: bool = false;
}

class Reply {
  status: u32 = 429;
  body: string = "";
  contentType: string = "";
}

class Stage {
  limits: Array<RouteLimit> = new Array<RouteLimit>(0);
  reply: Reply | null = null;
  xRateLimit: bool = true;
  ietf: bool = true;
  retryAfter: bool = true;
  /** RateLimit-Limit / -Remaining / -Reset (not sent by advanced-ratelimit stages). */
  legacy: bool = true;
}

class PlanQuota {
  limits: Array<LimitSpec> = new Array<LimitSpec>(0);
  stopOnQuotaReach: bool = true;
  /** One check per limit (keyed per request by the subscription or application), and its key's "|<windowMs>". */
  checks: Array<QuotaCheck> = new Array<QuotaCheck>(0);
  keySuffixes: Array<ArrayBuffer> = new Array<ArrayBuffer>(0);
}

class RouteSettings {
  stages: Array<Stage> = new Array<Stage>(0);
  applyPlanQuota: bool = false;
  stopOnQuotaReach: bool = true;
  /** The last RateLimit-Policy value sent for this route (almost always the next one: reused when equal). */
  lastPolicy: ArrayBuffer | null = null;
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
    for (let l = 0; l < quota.limits.length; l++) {
      const spec = unchecked(quota.limits[l]);
      quota.checks.push(new QuotaCheck(new ArrayBuffer(0), spec, quota.stopOnQuotaReach, "plan"));
      quota.keySuffixes.push(String.UTF8.encode("|" + spec.windowMs.toString()));
    }
    plans.set(entries.name, quota);
  }
  return plans;
}

/** Reads `keyBy` parts: headers and the client address stay per request, constants join the key prefix. */
function readKeyBy(limit: RouteLimit, item: JsonValue, path: string, problems: Problems): void {
  const parts = readArray(item, "keyBy", path, problems, false);
  for (let k = 0; k < parts.length; k++) {
    const partPath = indexPath(memberPath(path, "keyBy"), k);
    const part = unchecked(parts[k]);
    const type = readString(part, "type", partPath, problems, true, "");
    if (type == "header") limit.keyBy.push(new KeyPart(readString(part, "name", partPath, problems, true, "").toLowerCase()));
    else if (type == "ip") limit.keyBy.push(new KeyPart(null));
    else if (type == "constant") limit.keyPrefix += "c:" + readString(part, "value", partPath, problems, true, "") + "|";
    else problems.add(memberPath(partPath, "type"), "must be one of header, ip, constant");
  }
}

function readLimits(name: string, stage: Stage, items: Array<JsonValue>, path: string, stopOnQuotaReach: bool, problems: Problems): void {
  for (let l = 0; l < items.length; l++) {
    const limitPath = indexPath(memberPath(path, "limits"), l);
    const item = unchecked(items[l]);
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
    const quota = readOptionalString(item, "quota", limitPath, problems);
    if (quota !== null) {
      limit.quota = quota;
      limit.keyPrefix += "q:" + quota + "|";
    }
    readKeyBy(limit, item, limitPath, problems);
    limit.keyed = limit.scope == Scope.Application || limit.scope == Scope.Subscription || limit.keyBy.length > 0;
    limit.prefix = String.UTF8.encode(limit.keyPrefix);
    limit.check = new QuotaCheck(limit.prefix, limit.spec, stopOnQuotaReach, limit.quota);
    stage.limits.push(limit);
  }
}

function readStage(name: string, item: JsonValue, path: string, stopOnQuotaReach: bool, problems: Problems): Stage {
  const stage = new Stage();
  readLimits(name, stage, readArray(item, "limits", path, problems, true), path, stopOnQuotaReach, problems);
  const reply = readObject(item, "reply", path, problems, false);
  if (reply !== null) {
    const replyPath = memberPath(path, "reply");
    const r = new Reply();
    r.status = <u32>readInteger(reply, "status", replyPath, problems, true, 429, 200, 599);
    r.body = readString(reply, "body", replyPath, problems, true, "");
    r.contentType = readString(reply, "contentType", replyPath, problems, true, "");
    stage.reply = r;
  }
  const headers = readObject(item, "headers", path, problems, false);
  if (headers !== null) {
    const headersPath = memberPath(path, "headers");
    stage.xRateLimit = readBool(headers, "xRateLimit", headersPath, problems, true);
    stage.ietf = readBool(headers, "ietf", headersPath, problems, true);
    stage.retryAfter = readBool(headers, "retryAfter", headersPath, problems, true);
    stage.legacy = readBool(headers, "legacy", headersPath, problems, true);
  }
  return stage;
}

function readRoute(name: string, route: JsonValue, path: string, problems: Problems): RouteSettings {
  const settings = new RouteSettings();
  settings.applyPlanQuota = readBool(route, "planQuota", path, problems, false);
  settings.stopOnQuotaReach = readBool(route, "stopOnQuotaReach", path, problems, true);
  // `limits`: one stage, as hand-written configurations give it; `stages`: what the translator writes.
  const limits = readArray(route, "limits", path, problems, false);
  if (limits.length > 0) {
    const stage = new Stage();
    readLimits(name, stage, limits, path, settings.stopOnQuotaReach, problems);
    settings.stages.push(stage);
  }
  const stages = readArray(route, "stages", path, problems, false);
  for (let s = 0; s < stages.length; s++) {
    settings.stages.push(readStage(name, unchecked(stages[s]), indexPath(memberPath(path, "stages"), s), settings.stopOnQuotaReach, problems));
  }
  if (settings.stages.length == 0 && !settings.applyPlanQuota) {
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

// @ts-ignore: decorator
@lazy const SOURCE_ADDRESS = propertyPath(["source", "address"]);

/** The client address without its port (`source.address` is `ip:port`; IPv6 as `[ip]:port`). */
function clientAddress(): string {
  const address = getPropertyString(SOURCE_ADDRESS);
  if (address === null) return "unknown";
  const colon = address.lastIndexOf(":");
  if (colon <= 0 || address.indexOf("]") > colon) return address;
  return address.startsWith("[") ? address.substring(1, colon - 1) : address.substring(0, colon);
}

// @ts-ignore: decorator
@lazy const NO_IDENTITY = String.UTF8.encode("-");

/** Adds the identity a per-application / per-subscription counter is keyed by; "-" when the request has none. */
function addIdentity(key: ByteBuilder, header: ArrayBuffer): void {
  const value = getHeaderRaw(MapType.RequestHeaders, header);
  key.bytes(value === null || value.byteLength == 0 ? NO_IDENTITY : value);
}

// Builders reused across requests: counter keys, and the RateLimit-Policy / RateLimit values being built.
// @ts-ignore: decorator
@lazy const keyBuilder = new ByteBuilder();
// @ts-ignore: decorator
@lazy const policyBuilder = new ByteBuilder();
// @ts-ignore: decorator
@lazy const stateBuilder = new ByteBuilder();

/** The counter key of `limit` for this request (scopes and key parts the configuration left to the request);
 *  the previous request's key buffer when it is the same. */
function keyOf(limit: RouteLimit, previous: ArrayBuffer): ArrayBuffer {
  const key = keyBuilder.reset().bytes(limit.prefix);
  if (limit.scope == Scope.Application) addIdentity(key, APPLICATION_ID_HEADER_BYTES);
  else if (limit.scope == Scope.Subscription) addIdentity(key, SUBSCRIPTION_ID_HEADER_BYTES);
  for (let k = 0; k < limit.keyBy.length; k++) {
    const part = unchecked(limit.keyBy[k]);
    key.ascii("|");
    if (part.header === null) {
      key.bytes(String.UTF8.encode(clientAddress()));
      continue;
    }
    const value = getHeaderRaw(MapType.RequestHeaders, part.name);
    key.bytes(value === null || value.byteLength == 0 ? part.missing : value);
  }
  return key.reuseOrCopy(previous);
}

// The checks of the stage being counted and its outcome, reused (callbacks never overlap within a module).
// @ts-ignore: decorator
@lazy const checks = new Array<LimitCheck>(0);
// @ts-ignore: decorator
@lazy const stageOutcome = new RateLimitOutcome();

/**
 * Appends the IETF items (draft-ietf-httpapi-ratelimit-headers) of `stageChecks`, one per quota, to the
 * RateLimit-Policy (`"name";q=1;w=60`) and RateLimit (`"name";r=0;t=60`) values being built.
 */
function addQuotaItems(stageChecks: Array<LimitCheck>, policy: ByteBuilder, state: ByteBuilder): void {
  let i = 0;
  while (i < stageChecks.length) {
    // A quota's limits are consecutive; its most restrictive one speaks for it.
    let best = unchecked(stageChecks[i]);
    let j = i + 1;
    while (j < stageChecks.length && unchecked(stageChecks[j]).quota == best.quota) {
      const next = unchecked(stageChecks[j]);
      if (next.remaining < best.remaining) best = next;
      j++;
    }
    if (policy.length > 0) {
      policy.ascii(", ");
      state.ascii(", ");
    }
    const item = changetype<QuotaCheck>(best);
    policy.bytes(item.policyItem);
    state.bytes(item.stateItem).decimal(best.remaining).ascii(";t=").decimal(best.resetSeconds);
    i = j;
  }
}

/** The text built so far (for the headers of a local reply). */
function textOf(builder: ByteBuilder): string {
  return String.UTF8.decodeUnsafe(changetype<usize>(builder.buffer), <usize>builder.length);
}

// Response header names, encoded once.
// @ts-ignore: decorator
@lazy const X_RATELIMIT_LIMIT = String.UTF8.encode("x-ratelimit-limit");
// @ts-ignore: decorator
@lazy const X_RATELIMIT_REMAINING = String.UTF8.encode("x-ratelimit-remaining");
// @ts-ignore: decorator
@lazy const X_RATELIMIT_RESET = String.UTF8.encode("x-ratelimit-reset");
// @ts-ignore: decorator
@lazy const RATELIMIT_POLICY = String.UTF8.encode("ratelimit-policy");
// @ts-ignore: decorator
@lazy const RATELIMIT = String.UTF8.encode("ratelimit");

class ThrottleStream extends PolicyStream<ThrottleRoot> {
  /** The most restrictive limit's figures over the stages (hasFigures false: none). */
  hasFigures: bool = false;
  limit: u32 = 0;
  remaining: u32 = 0;
  resetSeconds: u32 = 0;
  resetEpochSeconds: u64 = 0;
  xRateLimit: bool = false;
  legacy: bool = false;
  /** RateLimit-Policy and RateLimit values, null when no stage sends the IETF fields. */
  policyField: ArrayBuffer | null = null;
  stateField: ArrayBuffer | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;

    const now = nowMillis();
    const stages = route.stages;
    // Plan quotas are checked with the last stage (or alone).
    const rounds = stages.length == 0 ? 1 : stages.length;
    let exceeded = false;
    let ietf = false;
    // The most restrictive figures so far; the stream keeps them only once every stage let the request through
    // (a refused request's local reply also passes onResponseHeaders, which must not overwrite its figures).
    let hasFigures = false;
    let limit: u32 = 0;
    let remaining: u32 = 0;
    let resetSeconds: u32 = 0;
    let resetEpochSeconds: u64 = 0;
    let xRateLimit = false;
    let legacy = false;
    policyBuilder.reset();
    stateBuilder.reset();
    for (let s = 0; s < rounds; s++) {
      const stage: Stage | null = s < stages.length ? unchecked(stages[s]) : null;
      checks.length = 0;
      if (stage !== null) {
        const limits = stage.limits;
        for (let i = 0; i < limits.length; i++) {
          const routeLimit = unchecked(limits[i]);
          const check = routeLimit.check!;
          if (routeLimit.keyed) check.key = keyOf(routeLimit, check.key);
          checks.push(check);
        }
      }
      if (s == rounds - 1 && route.applyPlanQuota) this.addPlanChecks();

      const outcome = checkAndConsume(checks, now, stageOutcome);
      const withXRateLimit = stage === null || stage.xRateLimit;
      const withIetf = stage === null || stage.ietf;
      if (!outcome.allowed) {
        const action = this.refuse(stage, outcome, withXRateLimit, withIetf);
        checks.length = 0;
        return action;
      }
      exceeded = exceeded || outcome.exceeded;
      if (withIetf && checks.length > 0) {
        ietf = true;
        addQuotaItems(checks, policyBuilder, stateBuilder);
      }
      if (outcome.hasFigures && (!hasFigures || outcome.remaining < remaining)) {
        hasFigures = true;
        limit = outcome.limit;
        remaining = outcome.remaining;
        resetSeconds = outcome.resetSeconds;
        resetEpochSeconds = outcome.resetEpochSeconds;
        xRateLimit = withXRateLimit;
        legacy = stage === null || stage.legacy;
      }
    }
    checks.length = 0;
    this.hasFigures = hasFigures;
    this.limit = limit;
    this.remaining = remaining;
    this.resetSeconds = resetSeconds;
    this.resetEpochSeconds = resetEpochSeconds;
    this.xRateLimit = xRateLimit;
    this.legacy = legacy;
    if (ietf) {
      const policyField = policyBuilder.reuseOrCopy(route.lastPolicy);
      route.lastPolicy = policyField;
      this.policyField = policyField;
      this.stateField = stateBuilder.copy();
    }
    if (exceeded) setRequestHeader(QUOTA_EXCEEDED_HEADER, "true");
    return Action.Continue;
  }

  addPlanChecks(): void {
    const policy = this.policy;
    const planName = getHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES);
    if (planName === null) return;
    const plan = String.UTF8.decode(planName);
    if (!policy.plans.has(plan)) return;
    const quota = policy.plans.get(plan);
    const subscription = getHeaderRaw(MapType.RequestHeaders, SUBSCRIPTION_ID_HEADER_BYTES);
    for (let i = 0; i < quota.checks.length; i++) {
      const check = unchecked(quota.checks[i]);
      const key = keyBuilder.reset().ascii("throttle|plan|");
      if (subscription !== null) key.ascii("subscription|").bytes(subscription);
      else {
        key.ascii("application|");
        addIdentity(key, APPLICATION_ID_HEADER_BYTES);
      }
      check.key = key.bytes(unchecked(quota.keySuffixes[i])).reuseOrCopy(check.key);
      checks.push(check);
    }
  }

  /** The 429 (or the stage's own answer) of a refused stage: its figures, the violated quota named. */
  refuse(stage: Stage | null, outcome: RateLimitOutcome, withXRateLimit: bool, withIetf: bool): u32 {
    const headers = new Array<Header>(0);
    const withRetryAfter = stage === null || stage.retryAfter;
    if (withIetf && (stage === null || stage.legacy)) {
      const legacy = outcome.headers(withRetryAfter);
      for (let i = 0; i < legacy.length; i++) headers.push(unchecked(legacy[i]));
    } else if (withRetryAfter && outcome.hasFigures) {
      headers.push(new Header("retry-after", outcome.retryAfterSeconds.toString()));
    }
    if (outcome.violated >= 0) {
      const violated = unchecked(checks[outcome.violated]);
      if (withXRateLimit) {
        headers.push(new Header("x-ratelimit-limit", violated.requests.toString()));
        headers.push(new Header("x-ratelimit-remaining", "0"));
        headers.push(new Header("x-ratelimit-reset", (((nowMillis() / violated.windowMs) + 1) * violated.windowMs / 1000).toString()));
      }
      if (withIetf) {
        // The refused stage's quotas only.
        addQuotaItems(checks, policyBuilder.reset(), stateBuilder.reset());
        headers.push(new Header("ratelimit-policy", textOf(policyBuilder)));
        headers.push(new Header("ratelimit", textOf(stateBuilder)));
      }
      headers.push(new Header("x-ratelimit-quota", violated.quota));
    }
    if (stage !== null && stage.reply !== null) {
      const reply = stage.reply!;
      headers.unshift(new Header("content-type", reply.contentType));
      return sendLocalReply(reply.status, "apip_throttled", reply.body, headers);
    }
    const message = outcome.contended ? "Rate limit state is contended; retry." : "Rate limit exceeded.";
    return sendJsonError(429, "apip_throttled", message, headers);
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    if (this.hasFigures) {
      if (this.legacy) setRateLimitHeaders(MapType.ResponseHeaders, this.limit, this.remaining, this.resetSeconds);
      if (this.xRateLimit) {
        setHeaderU32(MapType.ResponseHeaders, X_RATELIMIT_LIMIT, this.limit);
        setHeaderU32(MapType.ResponseHeaders, X_RATELIMIT_REMAINING, this.remaining);
        keyBuilder.reset().decimal(this.resetEpochSeconds).setHeader(MapType.ResponseHeaders, X_RATELIMIT_RESET);
      }
    }
    const policyField = this.policyField;
    if (policyField !== null) {
      setHeaderRaw(MapType.ResponseHeaders, RATELIMIT_POLICY, policyField);
      setHeaderRaw(MapType.ResponseHeaders, RATELIMIT, this.stateField!);
    }
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new ThrottleRoot());

export * from "../lib/exports";
