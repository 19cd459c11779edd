// api-key: authenticates a request by an API key taken from a header or a query parameter. Keys arrive in the
// configuration only as keyed digests (lib/crypto/key-digest.ts, under `digestKey`); the policy digests what the
// client presents and looks the digest up among the key sets allowed on the route. Unknown, revoked and expired keys get the same 401.
// On success it sets the identity headers and removes the credential unless propagation is configured.
// Plans (docs/plan-selection.md): a request another module already admitted (x-apip-plan set) passes untouched;
// a route may restrict the key's plan (`plans`), the plan's selection rule must hold, a suspended subscription
// gets 403, and an `optional` route lets a request without a key through without identity.
// Plugin configuration: docs/policies.md#api-key.
import {
  arrayEntries, indexPath, memberPath, objectEntries, Problems, readArray, readBool, readInteger,
  readObject, readOptionalString, readString,
} from "../lib/config";
import { KeyDigester, parseDigestKey } from "../lib/crypto/key-digest";
import { isLowerHex } from "../lib/encoding";
import { Action, MapType } from "../lib/abi";
import {
  countHeaderOf, getHeaderRaw, getRequestHeader, isValidHeaderName, removeHeaderOf, setHeaderRaw, setRequestHeader,
} from "../lib/headers";
import {
  APPLICATION_ID_HEADER_BYTES, PLAN_HEADER_BYTES, SUBSCRIPTION_ID_HEADER_BYTES,
} from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis } from "../lib/properties";
import { sendJsonError } from "../lib/reply";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { parseRule, Rule, RuleInput } from "../lib/selection-rule";
import { findQueryParam } from "../lib/url";

const MAX_EPOCH_MS: f64 = 253402300799999; // 9999-12-31T23:59:59.999Z

class KeyEntry {
  isActive: bool = false;
  /** status "suspended": the subscription does not admit traffic now (403, not 401). */
  isSuspended: bool = false;
  /** The selection rule of the key's plan, when it has one. */
  rule: Rule | null = null;
  /** Milliseconds since the Unix epoch; 0 = never expires. */
  expiresAt: u64 = 0;
  applicationId: string | null = null;
  subscriptionId: string | null = null;
  plan: string | null = null;
  propagateCredential: bool = false;
  // The identity values UTF-8 encoded, on first use (only keys that are used pay for them).
  applicationIdBytes: ArrayBuffer | null = null;
  subscriptionIdBytes: ArrayBuffer | null = null;
  planBytes: ArrayBuffer | null = null;
}

/** `cached`, or `value` encoded when nothing is cached yet. */
@inline
function encodedOnce(cached: ArrayBuffer | null, value: string): ArrayBuffer {
  return cached !== null ? cached : String.UTF8.encode(value);
}

class RouteSettings {
  /** The configuration's digest key (one object shared by every route). */
  digester: KeyDigester | null = null;
  keySets: Array<Map<string, KeyEntry>> = new Array<Map<string, KeyEntry>>(0);
  name: string = "";
  /** `name` UTF-8 encoded once (header lookups and removal on every request). */
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  inQuery: bool = false;
  /** The key's name in the other place (a query parameter for a header key, a lowercase header for a query key):
   *  present there too, the key is ambiguous. */
  otherName: string = "";
  otherNameBytes: ArrayBuffer = new ArrayBuffer(0);
  valuePrefix: string = "";
  propagateCredential: bool = false;
  /** No key: continue without identity (the API has plans of other security types). */
  optional: bool = false;
  /** The plans a key must belong to on this route; null = any. */
  plans: Array<string> | null = null;
}

/** `plans`: plan id -> selection rule (plans without a rule are left out). */
function readPlans(config: JsonValue, problems: Problems): Map<string, Rule> {
  const rules = new Map<string, Rule>();
  const entries = objectEntries(readObject(config, "plans", "$", problems, false), "$.plans", problems);
  while (entries.next()) {
    const path = entries.path;
    const text = readOptionalString(entries.value, "rule", path, problems);
    if (text === null) continue;
    const rule = parseRule(text, problems, memberPath(path, "rule"));
    if (rule !== null) rules.set(entries.name, rule);
  }
  return rules;
}

function readKeySet(items: Array<JsonValue>, path: string, problems: Problems, rules: Map<string, Rule>): Map<string, KeyEntry> {
  const set = new Map<string, KeyEntry>();
  for (let i = 0; i < items.length; i++) {
    const itemPath = indexPath(path, i);
    const item = unchecked(items[i]);
    if (!item.isObject) {
      problems.add(itemPath, "must be an object");
      continue;
    }
    const digest = readString(item, "sha256", itemPath, problems, true);
    if (!isLowerHex(digest, 64)) problems.add(memberPath(itemPath, "sha256"), "must be 64 lowercase hex characters");
    if (set.has(digest)) problems.add(memberPath(itemPath, "sha256"), "duplicates another key of this set");
    const entry = new KeyEntry();
    const status = readString(item, "status", itemPath, problems, true);
    entry.isActive = status == "active";
    entry.isSuspended = status == "suspended";
    entry.expiresAt = <u64>readInteger(item, "expiresAt", itemPath, problems, false, 0, 0, MAX_EPOCH_MS);
    entry.applicationId = readOptionalString(item, "applicationId", itemPath, problems);
    entry.subscriptionId = readOptionalString(item, "subscriptionId", itemPath, problems);
    const plan = readOptionalString(item, "plan", itemPath, problems);
    entry.plan = plan;
    if (plan !== null && rules.has(plan)) entry.rule = rules.get(plan);
    entry.propagateCredential = readBool(item, "propagateCredential", itemPath, problems, false);
    set.set(digest, entry);
  }
  return set;
}

function readRoute(
  route: JsonValue, path: string, keySets: Map<string, Map<string, KeyEntry>>, digester: KeyDigester | null, problems: Problems,
): RouteSettings {
  const settings = new RouteSettings();
  settings.digester = digester;
  const where = readString(route, "in", path, problems, false, "header");
  if (where != "header" && where != "query") problems.add(memberPath(path, "in"), "must be \"header\" or \"query\"");
  settings.inQuery = where == "query";
  const key = readString(route, "key", path, problems, true);
  settings.name = settings.inQuery ? key : key.toLowerCase();
  settings.nameBytes = String.UTF8.encode(settings.name);
  settings.otherName = settings.inQuery ? key.toLowerCase() : key;
  settings.otherNameBytes = String.UTF8.encode(settings.otherName);
  if (settings.name.length == 0 || (!settings.inQuery && !isValidHeaderName(settings.name))) {
    problems.add(memberPath(path, "key"), "must be a valid header or parameter name");
  }
  settings.valuePrefix = readString(route, "valuePrefix", path, problems, false, "");
  settings.propagateCredential = readBool(route, "propagateCredential", path, problems, false);
  settings.optional = readBool(route, "optional", path, problems, false);
  const routePlans = route.get("plans");
  if (routePlans !== null && !routePlans.isNull) {
    const plans = new Array<string>(0);
    const items = readArray(route, "plans", path, problems, false);
    for (let p = 0; p < items.length; p++) {
      const item = unchecked(items[p]);
      if (item.isString) plans.push(item.stringValue);
      else problems.add(indexPath(memberPath(path, "plans"), p), "must be a plan id");
    }
    settings.plans = plans;
  }
  const sets = readArray(route, "keySets", path, problems, true);
  for (let s = 0; s < sets.length; s++) {
    const setPath = indexPath(memberPath(path, "keySets"), s);
    const ref = unchecked(sets[s]);
    if (!ref.isString || !keySets.has(ref.stringValue)) {
      problems.add(setPath, "must name a key set of $.keySets");
      continue;
    }
    settings.keySets.push(keySets.get(ref.stringValue));
  }
  return settings;
}

class ApiKeyRoot extends PolicyRoot<RouteSettings> {

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("api-key", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteSettings> {
    const routes = new Map<string, RouteSettings>();
    const rules = readPlans(config, problems);
    const digester = parseDigestKey(readString(config, "digestKey", "$", problems, true));
    if (digester === null) problems.add("$.digestKey", "must be 64 hex characters");
    const keySets = new Map<string, Map<string, KeyEntry>>();
    const sets = arrayEntries(readObject(config, "keySets", "$", problems, true), "$.keySets", problems);
    while (sets.next()) keySets.set(sets.name, readKeySet(sets.value.items!, sets.path, problems, rules));
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readRoute(entries.value, entries.path, keySets, digester, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new ApiKeyStream(contextId, this);
  }
}

/** True when every byte of `data` is ASCII. */
function isAscii(data: ArrayBuffer): bool {
  const base = changetype<usize>(data);
  const end = base + <usize>data.byteLength;
  for (let p = base; p < end; p++) {
    if (load<u8>(p) >= 0x80) return false;
  }
  return true;
}

function reject(message: string, details: string): u32 {
  return sendJsonError(401, details, message);
}

/** The key given twice (two query values, the header repeated, or both the header and a query parameter of the
 *  same name, whatever their values): which one counts would depend on who reads it, so neither does
 *  (docs/gateway.md "Request hygiene"). */
function ambiguous(): u32 {
  return reject("Invalid API key.", "apip_api_key_ambiguous");
}

/** No credential: an optional route continues without identity, any other gets 401. */
function missing(route: RouteSettings): u32 {
  return route.optional ? Action.Continue : reject("Missing API key.", "apip_api_key_missing");
}

const PATH_BYTES = String.UTF8.encode(":path");

/** True when a header route's key also appears as a query parameter of the same name. Most paths have no query:
 *  those are told apart on the raw bytes, without decoding the path (this runs on every keyed request). */
function isInQueryToo(route: RouteSettings): bool {
  const raw = getHeaderRaw(MapType.RequestHeaders, PATH_BYTES);
  if (raw === null) return false;
  const start = changetype<usize>(raw);
  const end = start + <usize>raw.byteLength;
  let at = start;
  while (at < end && load<u8>(at) != 0x3f) at++;
  if (at == end) return false;
  return findQueryParam(String.UTF8.decode(raw), route.otherName) !== null;
}

function includes(list: Array<string>, value: string): bool {
  for (let i = 0; i < list.length; i++) if (unchecked(list[i]) == value) return true;
  return false;
}

class ApiKeyStream extends PolicyStream<ApiKeyRoot> {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;
    // Admitted by an earlier module (the route's first module strips client-supplied x-apip-*, so only then can it be set).
    if (!policy.isFirst && getHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES) !== null) return Action.Continue;

    // Read the credential. A plain ASCII header value without a prefix to strip is hashed as received: for ASCII
    // the UTF-8 decode + encode round trip of the general path gives the same bytes.
    let presented: string | null = null;
    let pathWithout: string | null = null;
    let presentedBytes: ArrayBuffer | null = null;
    if (!route.inQuery && route.valuePrefix.length == 0) {
      const raw = getHeaderRaw(MapType.RequestHeaders, route.nameBytes);
      if (raw === null || raw.byteLength == 0) return missing(route);
      if (countHeaderOf(MapType.RequestHeaders, route.nameBytes) > 1 || isInQueryToo(route)) return ambiguous();
      if (isAscii(raw)) presentedBytes = raw;
      else presented = String.UTF8.decode(raw);
    } else if (route.inQuery) {
      const path = getRequestHeader(":path");
      if (path !== null) {
        const param = findQueryParam(path, route.name);
        if (param !== null) {
          if (findQueryParam(param.pathWithout, route.name) !== null) return ambiguous();
          if (getHeaderRaw(MapType.RequestHeaders, route.otherNameBytes) !== null) return ambiguous();
          presented = param.value;
          pathWithout = param.pathWithout;
        }
      }
    } else {
      presented = getRequestHeader(route.name);
      if (presented !== null && (countHeaderOf(MapType.RequestHeaders, route.nameBytes) > 1 || isInQueryToo(route))) return ambiguous();
    }
    if (presentedBytes === null) {
      if (presented === null || presented.length == 0) return missing(route);
      let value = presented;
      if (route.valuePrefix.length > 0) {
        if (!value.startsWith(route.valuePrefix)) return missing(route);
        value = value.substring(route.valuePrefix.length).trim();
        if (value.length == 0) return missing(route);
      }
      presentedBytes = String.UTF8.encode(value);
    }

    // Look the digest up among the route's key sets; check status and expiry against the host clock.
    const digest = route.digester!.digestHex(presentedBytes!);
    let entry: KeyEntry | null = null;
    const sets = route.keySets;
    for (let i = 0; i < sets.length; i++) {
      const set = unchecked(sets[i]);
      if (set.has(digest)) {
        entry = set.get(digest);
        break;
      }
    }
    if (entry === null || !(entry.isActive || entry.isSuspended)) return reject("Invalid API key.", "apip_api_key_invalid");
    if (entry.expiresAt != 0 && nowMillis() >= entry.expiresAt) return reject("Invalid API key.", "apip_api_key_invalid");
    // Plan selection: the key's plan must be offered on the route, and its rule must hold for this request.
    const allowed = route.plans;
    if (allowed !== null) {
      const keyPlan = entry.plan;
      if (keyPlan === null || !includes(allowed, keyPlan)) return reject("Invalid API key.", "apip_api_key_invalid");
    }
    const rule = entry.rule;
    if (rule !== null && !rule.evaluate(new RuleInput())) return reject("No plan matches this request.", "apip_plan_no_match");
    if (entry.isSuspended) return sendJsonError(403, "apip_subscription_inactive", "Subscription is not active.");

    // Identity for later policies and the upstream.
    const applicationId = entry.applicationId;
    if (applicationId !== null) {
      const bytes = encodedOnce(entry.applicationIdBytes, applicationId);
      entry.applicationIdBytes = bytes;
      setHeaderRaw(MapType.RequestHeaders, APPLICATION_ID_HEADER_BYTES, bytes);
    }
    const subscriptionId = entry.subscriptionId;
    if (subscriptionId !== null) {
      const bytes = encodedOnce(entry.subscriptionIdBytes, subscriptionId);
      entry.subscriptionIdBytes = bytes;
      setHeaderRaw(MapType.RequestHeaders, SUBSCRIPTION_ID_HEADER_BYTES, bytes);
    }
    const plan = entry.plan;
    if (plan !== null) {
      const bytes = encodedOnce(entry.planBytes, plan);
      entry.planBytes = bytes;
      setHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES, bytes);
    }

    if (!route.propagateCredential && !entry.propagateCredential) {
      if (route.inQuery) {
        if (pathWithout !== null) setRequestHeader(":path", pathWithout);
      } else {
        removeHeaderOf(MapType.RequestHeaders, route.nameBytes);
      }
    }
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new ApiKeyRoot());

export * from "../lib/exports";
