// The jwt policy's plugin configuration (docs/policies.md#jwt), parsed once per proxy_on_configure into
// per-route settings with the keys, allow-list and claim rules ready for the request path.
import {
  entryPath, indexPath, memberPath, Problems, readArray, readBool, readInteger, readObject, readOptionalString,
  readString,
} from "../lib/config";
import { isValidHeaderName } from "../lib/headers";
import { readStripRule, StripRule } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { lowerAscii as asciiLower, parseRule, Rule } from "../lib/selection-rule";
import { ALL_ALGORITHMS, algId } from "./algorithms";
import { parseJwk, VerificationKey } from "./keys";

/** The largest `plans.<id>.maxLifetimeSeconds`: a year (the control plane bounds plans lower). */
const MAX_LIFETIME_SECONDS: f64 = 31536000;

/** Scopes a token must grant (a route's, a plan's). */
export class Scopes {
  scopes: Array<string> = new Array<string>(0);
  /** true: every configured scope is required; false: any one of them. */
  scopesStrict: bool = false;
}

/** `plans.<id>`: what a plan asks of a token beyond the route's own checks. */
export class PlanSettings extends Scopes {
  rule: Rule | null = null;
  /** `keySets`: the key sets whose keys may select this plan; null = any of the route's. */
  keySets: Array<string> | null = null;
  /** `requireExpiration`: a token without `exp` cannot select this plan. */
  requireExpiration: bool = false;
  /** `maxLifetimeSeconds`: the longest exp - iat (exp - now without iat) this plan admits; 0 = no bound. */
  maxLifetimeSeconds: f64 = 0;
}

/** One subscription of a client id. */
export class Client {
  applicationId: string | null = null;
  subscriptionId: string | null = null;
  plan: string | null = null;
  /** false: the subscription does not admit traffic now (403). */
  active: bool = true;
  /** `plans[plan]`, when configured. */
  settings: PlanSettings | null = null;
}

export class ClaimHeader {
  constructor(public claim: string, public header: string) {}
}

/** A claim that must be a string equal to `value`. */
export class ClaimValue {
  constructor(public claim: string, public value: string) {}
}

/**
 * The `keysByKid` entry of a key: its kid, or kid + "\n" + issuer for a key pinned to an issuer, so two issuers
 * may publish the same kid (two key managers on one JWKS) on one route.
 */
export function kidIndex(kid: string, issuer: string | null): string {
  return issuer === null ? kid : kid + "\n" + issuer;
}

export class RouteSettings extends Scopes {
  keys: Array<VerificationKey> = new Array<VerificationKey>(0);
  keysByKid: Map<string, VerificationKey> = new Map<string, VerificationKey>();
  /** Bit (1 << Alg.X) set for each allowed algorithm. */
  algorithms: u32 = ALL_ALGORITHMS;
  /** Lowercase request header carrying the token. */
  header: string = "authorization";
  /** `header` as UTF-8 bytes, to count its entries without decoding the map. */
  headerBytes: ArrayBuffer = new ArrayBuffer(0);
  /** Lowercase scheme followed by a space ("bearer "), or "" when the header holds the bare token. */
  schemePrefix: string = "bearer ";
  issuers: Array<string> = new Array<string>(0);
  audiences: Array<string> = new Array<string>(0);
  leewaySeconds: f64 = 0;
  requiredClaims: Array<string> = new Array<string>(0);
  claimValues: Array<ClaimValue> = new Array<ClaimValue>(0);
  /** The claim holding the client id; null = azp, then aud, then client_id. */
  clientIdClaim: string | null = null;
  /** The claim copied to x-apip-user-id; null = none. */
  userClaim: string | null = "sub";
  /** clientId -> its subscriptions in plan order; null when the route maps no clients (any client is let through). */
  clients: Map<string, Array<Client>> | null = null;
  /** No token: continue without identity (the API has plans of other security types). */
  optional: bool = false;
  /** The plans a client's subscription must be to on this route; null = any. */
  plans: Array<string> | null = null;
  claimsToHeaders: Array<ClaimHeader> = new Array<ClaimHeader>(0);
  propagateToken: bool = false;
}

export class JwtSettings {
  strip: StripRule = new StripRule();
  cacheSize: i32 = 1024;
  /** The largest leeway of any route: a cached token is dropped once past exp by that much. */
  maxLeewaySeconds: f64 = 0;
  routes: Map<string, RouteSettings> = new Map<string, RouteSettings>();
}

function readStrings(obj: JsonValue, key: string, path: string, problems: Problems): Array<string> {
  const out = new Array<string>(0);
  const items = readArray(obj, key, path, problems, false);
  for (let i = 0; i < items.length; i++) {
    const item = unchecked(items[i]);
    if (!item.isString || item.stringValue.length == 0) {
      problems.add(indexPath(memberPath(path, key), i), "must be a non-empty string");
      continue;
    }
    out.push(item.stringValue);
  }
  return out;
}

/** A string or an array of strings (issuer, audience). */
function readStringOrStrings(obj: JsonValue, key: string, path: string, problems: Problems): Array<string> {
  const v = obj.get(key);
  if (v !== null && v.isString) {
    const one = new Array<string>(0);
    one.push(v.stringValue);
    return one;
  }
  return readStrings(obj, key, path, problems);
}

function readKeySets(config: JsonValue, problems: Problems): Map<string, Array<VerificationKey>> {
  const sets = new Map<string, Array<VerificationKey>>();
  const json = readObject(config, "keySets", "$", problems, true);
  if (json === null) return sets;
  const names = json.keys;
  for (let i = 0; names !== null && i < names.length; i++) {
    const name = unchecked(names[i]);
    const path = entryPath("$.keySets", name);
    const set = json.get(name);
    if (set === null || !set.isObject) {
      problems.add(path, "must be a JWK Set");
      continue;
    }
    const items = readArray(set, "keys", path, problems, true);
    const keys = new Array<VerificationKey>(0);
    // A Map of the same type as RouteSettings.keysByKid: one more Set instantiation would cost module size.
    const kids = new Map<string, VerificationKey>();
    for (let k = 0; k < items.length; k++) {
      const keyPath = indexPath(memberPath(path, "keys"), k);
      const key = parseJwk(unchecked(items[k]), keyPath, problems);
      if (key === null) continue;
      key.set = name;
      const kid = key.kid;
      if (kid !== null) {
        if (kids.has(kid)) problems.add(memberPath(keyPath, "kid"), "duplicates another key of this set");
        kids.set(kid, key);
      }
      keys.push(key);
    }
    sets.set(name, keys);
  }
  return sets;
}

function readPlans(config: JsonValue, problems: Problems, keySets: Map<string, Array<VerificationKey>>): Map<string, PlanSettings> {
  const plans = new Map<string, PlanSettings>();
  const json = readObject(config, "plans", "$", problems, false);
  if (json === null) return plans;
  // (Null checks rather than `!`: an object always has its keys and their values; each `!` costs an abort call.)
  const ids = json.keys;
  for (let i = 0; ids !== null && i < ids.length; i++) {
    const id = unchecked(ids[i]);
    const path = entryPath("$.plans", id);
    const plan = json.get(id);
    if (plan === null || !plan.isObject) {
      problems.add(path, "must be an object");
      continue;
    }
    const settings = new PlanSettings();
    const text = readOptionalString(plan, "rule", path, problems);
    if (text !== null) settings.rule = parseRule(text, problems, memberPath(path, "rule"));
    readScopes(plan, path, problems, settings);
    settings.requireExpiration = readBool(plan, "requireExpiration", path, problems, false);
    settings.maxLifetimeSeconds = readInteger(plan, "maxLifetimeSeconds", path, problems, false, 0, 1, MAX_LIFETIME_SECONDS);
    if (plan.get("keySets") !== null) {
      const names = readStrings(plan, "keySets", path, problems);
      for (let s = 0; s < names.length; s++) {
        if (!keySets.has(unchecked(names[s]))) problems.add(memberPath(path, "keySets"), "must name a key set of $.keySets");
      }
      settings.keySets = names;
    }
    plans.set(id, settings);
  }
  return plans;
}

function readScopes(obj: JsonValue, path: string, problems: Problems, into: Scopes): void {
  into.scopes = readStrings(obj, "scopes", path, problems);
  const mode = readString(obj, "scopesMode", path, problems, false, "any");
  if (mode != "any" && mode != "all") problems.add(memberPath(path, "scopesMode"), "must be \"any\" or \"all\"");
  into.scopesStrict = mode == "all";
}

function readClient(json: JsonValue, path: string, problems: Problems, plans: Map<string, PlanSettings>, out: Array<Client>): void {
  if (!json.isObject) {
    problems.add(path, "must be an object");
    return;
  }
  const client = new Client();
  client.applicationId = readOptionalString(json, "applicationId", path, problems);
  client.subscriptionId = readOptionalString(json, "subscriptionId", path, problems);
  const plan = readOptionalString(json, "plan", path, problems);
  client.plan = plan;
  if (plan !== null && plans.has(plan)) client.settings = plans.get(plan);
  client.active = readBool(json, "active", path, problems, true);
  out.push(client);
}

function readClients(config: JsonValue, problems: Problems, plans: Map<string, PlanSettings>): Map<string, Map<string, Array<Client>>> {
  const tables = new Map<string, Map<string, Array<Client>>>();
  const json = readObject(config, "clients", "$", problems, false);
  if (json === null) return tables;
  const names = json.keys;
  for (let i = 0; names !== null && i < names.length; i++) {
    const name = unchecked(names[i]);
    const path = entryPath("$.clients", name);
    const table = json.get(name);
    if (table === null || !table.isObject) {
      problems.add(path, "must be an object");
      continue;
    }
    const clients = new Map<string, Array<Client>>();
    const ids = table.keys;
    for (let c = 0; ids !== null && c < ids.length; c++) {
      const id = unchecked(ids[c]);
      const entryJson = table.get(id);
      if (entryJson === null) continue;
      const clientPath = entryPath(path, id);
      // One subscription as an object, or several (in plan order) as an array of them.
      const entries = new Array<Client>(0);
      const list = entryJson.items;
      const count = list !== null ? list.length : 1;
      for (let e = 0; e < count; e++) {
        const item = list !== null ? unchecked(list[e]) : entryJson;
        readClient(item, list !== null ? indexPath(clientPath, e) : clientPath, problems, plans, entries);
      }
      clients.set(id, entries);
    }
    tables.set(name, clients);
  }
  return tables;
}

function readRoute(
  route: JsonValue, path: string, problems: Problems,
  keySets: Map<string, Array<VerificationKey>>, clientTables: Map<string, Map<string, Array<Client>>>,
): RouteSettings {
  const settings = new RouteSettings();
  const setNames = readArray(route, "keySets", path, problems, true);
  for (let s = 0; s < setNames.length; s++) {
    const setPath = indexPath(memberPath(path, "keySets"), s);
    const ref = unchecked(setNames[s]);
    if (!ref.isString || !keySets.has(ref.stringValue)) {
      problems.add(setPath, "must name a key set of $.keySets");
      continue;
    }
    const keys = keySets.get(ref.stringValue);
    for (let k = 0; k < keys.length; k++) {
      const key = unchecked(keys[k]);
      settings.keys.push(key);
      const kid = key.kid;
      if (kid === null) continue;
      const index = kidIndex(kid, key.issuer);
      if (settings.keysByKid.has(index)) problems.add(setPath, "has kid \"" + kid + "\" that another key set of this route has");
      settings.keysByKid.set(index, key);
    }
  }
  if (settings.keys.length == 0) problems.add(memberPath(path, "keySets"), "must name a key set with keys");
  if (route.get("algorithms") !== null) {
    let mask: u32 = 0;
    const names = readStrings(route, "algorithms", path, problems);
    for (let a = 0; a < names.length; a++) {
      const id = algId(unchecked(names[a]));
      if (id < 0) {
        problems.add(indexPath(memberPath(path, "algorithms"), a), "is not a supported signature algorithm");
        continue;
      }
      mask |= 1 << id;
    }
    if (mask == 0) problems.add(memberPath(path, "algorithms"), "must allow at least one algorithm");
    settings.algorithms = mask;
  }
  const header = asciiLower(readString(route, "header", path, problems, false, "authorization"));
  if (!isValidHeaderName(header)) problems.add(memberPath(path, "header"), "must be a valid header name");
  settings.header = header;
  settings.headerBytes = String.UTF8.encode(header);
  const scheme = readString(route, "scheme", path, problems, false, "Bearer");
  settings.schemePrefix = scheme.length == 0 ? "" : asciiLower(scheme) + " ";
  settings.issuers = readStringOrStrings(route, "issuer", path, problems);
  settings.audiences = readStringOrStrings(route, "audience", path, problems);
  settings.leewaySeconds = readInteger(route, "leewaySeconds", path, problems, false, 0, 0, 86400);
  settings.requiredClaims = readStrings(route, "requiredClaims", path, problems);
  const values = readArray(route, "claimValues", path, problems, false);
  for (let v = 0; v < values.length; v++) {
    const valuePath = indexPath(memberPath(path, "claimValues"), v);
    const entry = unchecked(values[v]);
    if (!entry.isObject) {
      problems.add(valuePath, "must be an object");
      continue;
    }
    settings.claimValues.push(new ClaimValue(readString(entry, "claim", valuePath, problems, true), readString(entry, "value", valuePath, problems, true)));
  }
  readScopes(route, path, problems, settings);
  settings.clientIdClaim = readOptionalString(route, "clientIdClaim", path, problems);
  const userClaim = route.get("userClaim");
  settings.userClaim = userClaim !== null && userClaim.isNull ? null : readString(route, "userClaim", path, problems, false, "sub");
  const table = readOptionalString(route, "clients", path, problems);
  if (table !== null) {
    if (clientTables.has(table)) settings.clients = clientTables.get(table);
    else problems.add(memberPath(path, "clients"), "must name a table of $.clients");
  }
  const mappings = readArray(route, "claimsToHeaders", path, problems, false);
  for (let m = 0; m < mappings.length; m++) {
    const mappingPath = indexPath(memberPath(path, "claimsToHeaders"), m);
    const mapping = unchecked(mappings[m]);
    if (!mapping.isObject) {
      problems.add(mappingPath, "must be an object");
      continue;
    }
    const claim = readString(mapping, "claim", mappingPath, problems, true);
    const name = asciiLower(readString(mapping, "header", mappingPath, problems, true));
    if (!isValidHeaderName(name)) problems.add(memberPath(mappingPath, "header"), "must be a valid header name");
    settings.claimsToHeaders.push(new ClaimHeader(claim, name));
  }
  settings.propagateToken = readBool(route, "propagateToken", path, problems, false);
  settings.optional = readBool(route, "optional", path, problems, false);
  const plans = route.get("plans");
  if (plans !== null && !plans.isNull) settings.plans = readStrings(route, "plans", path, problems);
  return settings;
}

/** Parses the whole configuration; problems are collected in `problems` (the caller refuses when any). */
export function readSettings(config: JsonValue, problems: Problems): JwtSettings {
  const settings = new JwtSettings();
  settings.strip = readStripRule(config, problems);
  settings.cacheSize = <i32>readInteger(config, "cacheSize", "$", problems, false, 1024, 0, 100000);
  const keySets = readKeySets(config, problems);
  const clientTables = readClients(config, problems, readPlans(config, problems, keySets));
  const routes = readObject(config, "routes", "$", problems, true);
  if (routes === null) return settings;
  const names = routes.keys;
  for (let i = 0; names !== null && i < names.length; i++) {
    const name = unchecked(names[i]);
    const path = entryPath("$.routes", name);
    const route = routes.get(name);
    if (route === null || !route.isObject) {
      problems.add(path, "must be an object");
      continue;
    }
    const parsed = readRoute(route, path, problems, keySets, clientTables);
    if (parsed.leewaySeconds > settings.maxLeewaySeconds) settings.maxLeewaySeconds = parsed.leewaySeconds;
    settings.routes.set(name, parsed);
  }
  return settings;
}
