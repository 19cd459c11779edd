// The oauth2 policy's plugin configuration (docs/policies.md#oauth2), parsed once per proxy_on_configure into
// servers (with the introspection request's fixed parts prepared), client tables, plans (selection rules parsed)
// and per-route settings.
import {
  arrayEntries, indexPath, memberPath, objectEntries, Problems, readArray, readBool, readInteger, readObject,
  readOptionalString, readString,
} from "../lib/config";
import { base64Encode } from "../lib/encoding";
import { isValidHeaderName, isValidHeaderValue } from "../lib/headers";
import { readStripRule, StripRule } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { parseRule, Rule } from "../lib/selection-rule";

export class Server {
  id: string = "";
  /** Envoy cluster the introspection request goes to. */
  cluster: string = "";
  authority: string = "";
  path: string = "";
  /** `Basic base64(clientId:clientSecret)`, built once. */
  authorization: string = "";
  /** `&token_type_hint=<hint>` (form-encoded) or "". */
  hintSuffix: string = "";
  timeoutMs: u32 = 2000;
  maxCacheMs: f64 = 300000;
}

/** One subscription of a client id to a plan (`active: false`: the subscription admits no traffic now). */
export class ClientEntry {
  applicationId: string | null = null;
  subscriptionId: string | null = null;
  plan: string = "";
  active: bool = true;
}

export class Plan {
  /** The authorization server whose tokens may select this plan ("": any of the route's). */
  server: string = "";
  rule: Rule | null = null;
  scopes: Array<string> = new Array<string>(0);
  scopesStrict: bool = false;
}

export class ClaimHeader {
  constructor(public claim: string, public header: string) {}
}

export class RouteSettings {
  /** Introspected in this order (the API's OAuth2 plans' servers in plan order) until one says active. */
  servers: Array<Server> = new Array<Server>(0);
  /** Candidate plans in the API's plan order, with their settings (same order as planIds). */
  planIds: Array<string> = new Array<string>(0);
  plans: Array<Plan> = new Array<Plan>(0);
  clients: Map<string, Array<ClientEntry>> | null = null;
  optional: bool = false;
  /** Lowercase request header carrying `Bearer <token>`. */
  header: string = "authorization";
  /** `header` UTF-8 encoded once (counting its entries on every request). */
  headerBytes: ArrayBuffer = new ArrayBuffer(0);
  propagateToken: bool = false;
  /** Introspection member with the client id. */
  clientIdClaim: string = "client_id";
  /** Route-level scopes (an `oauth2` policy attachment), checked besides the plan's. */
  scopes: Array<string> = new Array<string>(0);
  scopesStrict: bool = false;
  claimsToHeaders: Array<ClaimHeader> = new Array<ClaimHeader>(0);
}

export class OAuth2Settings {
  strip: StripRule = new StripRule();
  cacheSize: i32 = 1024;
  routes: Map<string, RouteSettings> = new Map<string, RouteSettings>();
}

function asciiLower(text: string): string {
  let upper = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) { upper = true; break; }
  }
  return upper ? text.toLowerCase() : text;
}

// @ts-ignore: decorator
@lazy const HEX = "0123456789ABCDEF";

/** application/x-www-form-urlencoded value: unreserved characters as they are, every other byte %XX. */
export function formEncode(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    if (!isUnreserved(text.charCodeAt(i))) { plain = false; break; }
  }
  if (plain) return text;
  const bytes = Uint8Array.wrap(String.UTF8.encode(text));
  const parts = new Array<string>(0);
  for (let i = 0; i < bytes.length; i++) {
    const b = <i32>bytes[i];
    if (isUnreserved(b)) parts.push(String.fromCharCode(b));
    else parts.push("%" + HEX.charAt(b >> 4) + HEX.charAt(b & 15));
  }
  return parts.join("");
}

@inline function isUnreserved(c: i32): bool {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45 || c == 46 || c == 95 || c == 126;
}

function readStrings(obj: JsonValue, key: string, path: string, problems: Problems): Array<string> {
  const out = new Array<string>(0);
  const v = obj.get(key);
  if (v === null || v.isNull) return out;
  if (!v.isArray) {
    problems.add(memberPath(path, key), "must be an array of strings or null");
    return out;
  }
  const items = v.items!;
  for (let i = 0; i < items.length; i++) {
    const item = unchecked(items[i]);
    if (!item.isString) problems.add(indexPath(memberPath(path, key), i), "must be a string");
    else out.push(item.stringValue);
  }
  return out;
}

function readScopesMode(obj: JsonValue, path: string, problems: Problems): bool {
  const mode = readString(obj, "scopesMode", path, problems, false, "any");
  if (mode != "any" && mode != "all") problems.add(memberPath(path, "scopesMode"), "must be \"any\" or \"all\"");
  return mode == "all";
}

function readServers(config: JsonValue, problems: Problems): Map<string, Server> {
  const servers = new Map<string, Server>();
  const entries = objectEntries(readObject(config, "servers", "$", problems, true), "$.servers", problems);
  while (entries.next()) {
    const id = entries.name;
    const path = entries.path;
    const entry = entries.value;
    const server = new Server();
    server.id = id;
    server.cluster = readString(entry, "cluster", path, problems, true);
    if (server.cluster.length == 0) problems.add(memberPath(path, "cluster"), "must not be empty");
    server.authority = readString(entry, "authority", path, problems, true);
    if (server.authority.length == 0 || !isValidHeaderValue(server.authority)) problems.add(memberPath(path, "authority"), "must be a host name");
    server.path = readString(entry, "path", path, problems, false, "/");
    if (!server.path.startsWith("/") || !isValidHeaderValue(server.path)) problems.add(memberPath(path, "path"), "must start with /");
    const clientId = readString(entry, "clientId", path, problems, true);
    const clientSecret = readString(entry, "clientSecret", path, problems, true);
    server.authorization = "Basic " + base64Encode(String.UTF8.encode(clientId + ":" + clientSecret));
    const hint = readOptionalString(entry, "tokenTypeHint", path, problems);
    server.hintSuffix = hint === null || hint.length == 0 ? "" : "&token_type_hint=" + formEncode(hint);
    server.timeoutMs = <u32>readInteger(entry, "timeoutMs", path, problems, false, 2000, 100, 30000);
    server.maxCacheMs = readInteger(entry, "maxCacheSeconds", path, problems, false, 300, 0, 3600) * 1000;
    servers.set(id, server);
  }
  return servers;
}

function readClients(config: JsonValue, problems: Problems): Map<string, Map<string, Array<ClientEntry>>> {
  const tables = new Map<string, Map<string, Array<ClientEntry>>>();
  const tableEntries = objectEntries(
    readObject(config, "clients", "$", problems, false), "$.clients", problems, "must be an object of clientId -> subscriptions",
  );
  while (tableEntries.next()) {
    const clients = new Map<string, Array<ClientEntry>>();
    const clientEntries = arrayEntries(
      tableEntries.value, tableEntries.path, problems, "must be an array of {applicationId, subscriptionId, plan, active}",
    );
    while (clientEntries.next()) {
      const clientPath = clientEntries.path;
      const entries = new Array<ClientEntry>(0);
      const list = clientEntries.value.items!;
      for (let e = 0; e < list.length; e++) {
        const entryJson = unchecked(list[e]);
        const entryAt = indexPath(clientPath, e);
        if (!entryJson.isObject) {
          problems.add(entryAt, "must be an object");
          continue;
        }
        const entry = new ClientEntry();
        entry.applicationId = readOptionalString(entryJson, "applicationId", entryAt, problems);
        entry.subscriptionId = readOptionalString(entryJson, "subscriptionId", entryAt, problems);
        entry.plan = readString(entryJson, "plan", entryAt, problems, true);
        entry.active = readBool(entryJson, "active", entryAt, problems, true);
        entries.push(entry);
      }
      clients.set(clientEntries.name, entries);
    }
    tables.set(tableEntries.name, clients);
  }
  return tables;
}

function readPlans(config: JsonValue, problems: Problems): Map<string, Plan> {
  const plans = new Map<string, Plan>();
  const entries = objectEntries(readObject(config, "plans", "$", problems, false), "$.plans", problems);
  while (entries.next()) {
    const path = entries.path;
    const entry = entries.value;
    const plan = new Plan();
    plan.server = readString(entry, "server", path, problems, false, "");
    const rule = readOptionalString(entry, "rule", path, problems);
    if (rule !== null) plan.rule = parseRule(rule, problems, memberPath(path, "rule"));
    plan.scopes = readStrings(entry, "scopes", path, problems);
    plan.scopesStrict = readScopesMode(entry, path, problems);
    plans.set(entries.name, plan);
  }
  return plans;
}

function readRoute(
  route: JsonValue, path: string, problems: Problems, servers: Map<string, Server>,
  tables: Map<string, Map<string, Array<ClientEntry>>>, plans: Map<string, Plan>,
): RouteSettings {
  const settings = new RouteSettings();
  const serverIds = readStrings(route, "servers", path, problems);
  if (serverIds.length == 0) problems.add(memberPath(path, "servers"), "must list at least one server");
  for (let i = 0; i < serverIds.length; i++) {
    const id = unchecked(serverIds[i]);
    if (servers.has(id)) settings.servers.push(servers.get(id));
    else problems.add(indexPath(memberPath(path, "servers"), i), "must name a server of $.servers");
  }
  const planIds = readStrings(route, "plans", path, problems);
  for (let p = 0; p < planIds.length; p++) {
    const id = unchecked(planIds[p]);
    if (!plans.has(id)) {
      problems.add(indexPath(memberPath(path, "plans"), p), "must name a plan of $.plans");
      continue;
    }
    settings.planIds.push(id);
    settings.plans.push(plans.get(id));
  }
  const table = readOptionalString(route, "clients", path, problems);
  if (table !== null) {
    if (tables.has(table)) settings.clients = tables.get(table);
    else problems.add(memberPath(path, "clients"), "must name a table of $.clients");
  }
  settings.optional = readBool(route, "optional", path, problems, false);
  const header = asciiLower(readString(route, "header", path, problems, false, "authorization"));
  if (!isValidHeaderName(header)) problems.add(memberPath(path, "header"), "must be a valid header name");
  settings.header = header;
  settings.headerBytes = String.UTF8.encode(header);
  settings.propagateToken = readBool(route, "propagateToken", path, problems, false);
  const clientIdClaim = readOptionalString(route, "clientIdClaim", path, problems);
  if (clientIdClaim !== null) settings.clientIdClaim = clientIdClaim;
  settings.scopes = readStrings(route, "scopes", path, problems);
  settings.scopesStrict = readScopesMode(route, path, problems);
  const mappings = route.get("claimsToHeaders");
  if (mappings !== null && !mappings.isNull) {
    const items = readArray(route, "claimsToHeaders", path, problems, false);
    for (let m = 0; m < items.length; m++) {
      const mappingPath = indexPath(memberPath(path, "claimsToHeaders"), m);
      const mapping = unchecked(items[m]);
      if (!mapping.isObject) {
        problems.add(mappingPath, "must be an object {claim, header}");
        continue;
      }
      const claim = readString(mapping, "claim", mappingPath, problems, true);
      const name = asciiLower(readString(mapping, "header", mappingPath, problems, true));
      if (!isValidHeaderName(name)) problems.add(memberPath(mappingPath, "header"), "must be a valid header name");
      else if (name.startsWith("x-apip-")) problems.add(memberPath(mappingPath, "header"), "must not be an x-apip- identity header");
      settings.claimsToHeaders.push(new ClaimHeader(claim, name));
    }
  }
  return settings;
}

/** Parses the whole configuration; problems are collected in `problems` (the caller refuses when any). */
export function readSettings(config: JsonValue, problems: Problems): OAuth2Settings {
  const settings = new OAuth2Settings();
  settings.strip = readStripRule(config, problems);
  settings.cacheSize = <i32>readInteger(config, "cacheSize", "$", problems, false, 1024, 0, 100000);
  const servers = readServers(config, problems);
  const tables = readClients(config, problems);
  const plans = readPlans(config, problems);
  const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
  while (entries.next()) {
    settings.routes.set(entries.name, readRoute(entries.value, entries.path, problems, servers, tables, plans));
  }
  return settings;
}
