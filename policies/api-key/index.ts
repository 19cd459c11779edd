// api-key: authenticates a request by an API key taken from a header or a query parameter. Keys arrive in the
// configuration only as lowercase-hex SHA-256 digests; the policy hashes what the client presents and looks the
// digest up among the key sets allowed on the route. Unknown, revoked and expired keys get the same 401.
// On success it sets the identity headers and removes the credential unless propagation is configured.
// Plugin configuration: docs/policies.md#api-key.
import {
  entryPath, indexPath, memberPath, parseConfigObject, Problems, readArray, readBool, readInteger,
  readObject, readOptionalString, readString,
} from "../lib/config";
import { sha256Hex } from "../lib/crypto/sha256";
import { isLowerHex } from "../lib/encoding";
import { Action, MapType } from "../lib/abi";
import {
  getHeaderRaw, getRequestHeader, isValidHeaderName, removeHeaderOf, setHeaderRaw, setRequestHeader,
} from "../lib/headers";
import {
  APPLICATION_ID_HEADER_BYTES, PLAN_HEADER_BYTES, SUBSCRIPTION_ID_HEADER_BYTES,
} from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis } from "../lib/properties";
import { sendJsonError } from "../lib/reply";
import { PolicyRoot } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { findQueryParam } from "../lib/url";

const MAX_EPOCH_MS: f64 = 253402300799999; // 9999-12-31T23:59:59.999Z

class KeyEntry {
  isActive: bool = false;
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
  keySets: Array<Map<string, KeyEntry>> = new Array<Map<string, KeyEntry>>(0);
  name: string = "";
  /** `name` UTF-8 encoded once (header lookups and removal on every request). */
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  inQuery: bool = false;
  valuePrefix: string = "";
  propagateCredential: bool = false;
}

function readKeySet(items: Array<JsonValue>, path: string, problems: Problems): Map<string, KeyEntry> {
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
    entry.isActive = readString(item, "status", itemPath, problems, true) == "active";
    entry.expiresAt = <u64>readInteger(item, "expiresAt", itemPath, problems, false, 0, 0, MAX_EPOCH_MS);
    entry.applicationId = readOptionalString(item, "applicationId", itemPath, problems);
    entry.subscriptionId = readOptionalString(item, "subscriptionId", itemPath, problems);
    entry.plan = readOptionalString(item, "plan", itemPath, problems);
    entry.propagateCredential = readBool(item, "propagateCredential", itemPath, problems, false);
    set.set(digest, entry);
  }
  return set;
}

class ApiKeyRoot extends PolicyRoot<RouteSettings> {

  onConfigure(configuration: ArrayBuffer): bool {
    const problems = new Problems();
    const config = parseConfigObject(configuration, problems);
    const routes = new Map<string, RouteSettings>();
    let stripIdentity = false;
    if (config !== null) {
      stripIdentity = readBool(config, "stripIdentityHeaders", "$", problems, false);
      const keySets = new Map<string, Map<string, KeyEntry>>();
      const keySetsJson = readObject(config, "keySets", "$", problems, true);
      if (keySetsJson !== null) {
        const names = keySetsJson.keys!;
        for (let i = 0; i < names.length; i++) {
          const name = unchecked(names[i]);
          const path = entryPath("$.keySets", name);
          const items = keySetsJson.get(name)!;
          if (!items.isArray) {
            problems.add(path, "must be an array");
            continue;
          }
          keySets.set(name, readKeySet(items.items!, path, problems));
        }
      }
      const routesJson = readObject(config, "routes", "$", problems, true);
      if (routesJson !== null) {
        const names = routesJson.keys!;
        for (let i = 0; i < names.length; i++) {
          const name = unchecked(names[i]);
          const path = entryPath("$.routes", name);
          const route = routesJson.get(name)!;
          if (!route.isObject) {
            problems.add(path, "must be an object");
            continue;
          }
          const settings = new RouteSettings();
          const where = readString(route, "in", path, problems, false, "header");
          if (where != "header" && where != "query") problems.add(memberPath(path, "in"), "must be \"header\" or \"query\"");
          settings.inQuery = where == "query";
          const key = readString(route, "key", path, problems, true);
          settings.name = settings.inQuery ? key : key.toLowerCase();
          settings.nameBytes = String.UTF8.encode(settings.name);
          if (settings.name.length == 0 || (!settings.inQuery && !isValidHeaderName(settings.name))) {
            problems.add(memberPath(path, "key"), "must be a valid header or parameter name");
          }
          settings.valuePrefix = readString(route, "valuePrefix", path, problems, false, "");
          settings.propagateCredential = readBool(route, "propagateCredential", path, problems, false);
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
          routes.set(name, settings);
        }
      }
    }
    return this.commit("api-key", problems, routes, stripIdentity);
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

class ApiKeyStream extends HttpContext {
  policy: ApiKeyRoot;

  constructor(contextId: u32, root: ApiKeyRoot) {
    super(contextId, root);
    this.policy = root;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;

    // Read the credential. A plain ASCII header value without a prefix to strip is hashed as received: for ASCII
    // the UTF-8 decode + encode round trip of the general path gives the same bytes.
    let presented: string | null = null;
    let pathWithout: string | null = null;
    let presentedBytes: ArrayBuffer | null = null;
    if (!route.inQuery && route.valuePrefix.length == 0) {
      const raw = getHeaderRaw(MapType.RequestHeaders, route.nameBytes);
      if (raw === null || raw.byteLength == 0) return reject("Missing API key.", "apip_api_key_missing");
      if (isAscii(raw)) presentedBytes = raw;
      else presented = String.UTF8.decode(raw);
    } else if (route.inQuery) {
      const path = getRequestHeader(":path");
      if (path !== null) {
        const param = findQueryParam(path, route.name);
        if (param !== null) {
          presented = param.value;
          pathWithout = param.pathWithout;
        }
      }
    } else {
      presented = getRequestHeader(route.name);
    }
    if (presentedBytes === null) {
      if (presented === null || presented.length == 0) return reject("Missing API key.", "apip_api_key_missing");
      let value = presented;
      if (route.valuePrefix.length > 0) {
        if (!value.startsWith(route.valuePrefix)) return reject("Missing API key.", "apip_api_key_missing");
        value = value.substring(route.valuePrefix.length).trim();
        if (value.length == 0) return reject("Missing API key.", "apip_api_key_missing");
      }
      presentedBytes = String.UTF8.encode(value);
    }

    // Look the digest up among the route's key sets; check status and expiry against the host clock.
    const digest = sha256Hex(presentedBytes!);
    let entry: KeyEntry | null = null;
    const sets = route.keySets;
    for (let i = 0; i < sets.length; i++) {
      const set = unchecked(sets[i]);
      if (set.has(digest)) {
        entry = set.get(digest);
        break;
      }
    }
    if (entry === null || !entry.isActive) return reject("Invalid API key.", "apip_api_key_invalid");
    if (entry.expiresAt != 0 && nowMillis() >= entry.expiresAt) return reject("Invalid API key.", "apip_api_key_invalid");

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
