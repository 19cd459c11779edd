// cors: Cross-Origin Resource Sharing as the reference's cors policy does it. Every OPTIONS request on a route it
// runs on is a preflight: answered 204 here with the allow headers when origin, requested method and requested
// headers are all allowed, and with no CORS header at all otherwise (or passed on when `forwardPreflight`). Other
// requests from an allowed origin get Access-Control-Allow-Origin (+ Vary: Origin), -Expose-Headers and
// -Allow-Credentials on their response, added in onResponseHeaders so that a later module's local reply (a 401)
// carries them too; from any other origin the upstream's CORS headers are removed. Origins are exact, `*`, or
// patterns whose `*` stands for a run of characters without `/`. Plugin configuration: docs/policies.md#cors.
import { Action, MapType } from "../lib/abi";
import {
  indexPath, memberPath, objectEntries, Problems, readArray, readBool, readInteger, readObject,
} from "../lib/config";
import { addHeader, getHeaderOf, Header, isValidHeaderName, removeHeaderOf, serializePairs, setHeaderOf } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendEncodedReply } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const DETAILS = String.UTF8.encode("apip_cors_preflight");
const EMPTY = new ArrayBuffer(0);
const METHOD = String.UTF8.encode(":method");
const ORIGIN = String.UTF8.encode("origin");
const REQUEST_METHOD = String.UTF8.encode("access-control-request-method");
const REQUEST_HEADERS = String.UTF8.encode("access-control-request-headers");
const ALLOW_ORIGIN = String.UTF8.encode("access-control-allow-origin");
const ALLOW_CREDENTIALS = String.UTF8.encode("access-control-allow-credentials");
const EXPOSE_HEADERS = String.UTF8.encode("access-control-expose-headers");
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

class Cors {
  anyOrigin: bool = false;
  origins: Array<string> = new Array<string>(0);
  anyMethod: bool = false;
  methods: Array<string> = new Array<string>(0);
  methodsJoined: string = "";
  anyHeader: bool = false;
  /** Allowed request headers as configured, and lowercased for comparison. */
  headers: Array<string> = new Array<string>(0);
  headersLower: Array<string> = new Array<string>(0);
  exposed: string = "";
  /** "true"/"false" when configured, else null (no header). */
  credentials: string | null = null;
  /** Decimal seconds when configured, else null (no header). */
  maxAge: string | null = null;
  forwardPreflight: bool = false;
}

/** `*` in a pattern matches a non-empty run of characters other than `/`; everything else matches itself. */
function globMatches(pattern: string, text: string, p: i32, t: i32): bool {
  while (p < pattern.length) {
    const c = pattern.charCodeAt(p);
    if (c == 42) {
      for (let end = t + 1; end <= text.length; end++) {
        if (text.charCodeAt(end - 1) == 47) return false;
        if (globMatches(pattern, text, p + 1, end)) return true;
      }
      return false;
    }
    if (t >= text.length || text.charCodeAt(t) != c) return false;
    p++;
    t++;
  }
  return t == text.length;
}

/** `http(s)://` and a host (letters, digits, `-`, `.`, `*`, or a bracketed IPv6 literal), optionally `:port`. */
function isOriginPattern(origin: string): bool {
  let rest: string;
  if (origin.startsWith("https://")) rest = origin.substring(8);
  else if (origin.startsWith("http://")) rest = origin.substring(7);
  else return false;
  if (rest.length == 0) return false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45 || c == 46 || c == 42 || c == 58 || c == 91 || c == 93;
    if (!ok) return false;
  }
  return true;
}

function readStrings(entry: JsonValue, key: string, path: string, problems: Problems, required: bool): Array<string> {
  const out = new Array<string>(0);
  const items = readArray(entry, key, path, problems, required);
  for (let i = 0; i < items.length; i++) {
    const item = unchecked(items[i]);
    if (!item.isString || item.stringValue.length == 0) problems.add(indexPath(memberPath(path, key), i), "must be a non-empty string");
    else out.push(item.stringValue);
  }
  return out;
}

function readCors(entry: JsonValue, path: string, problems: Problems): Cors {
  const c = new Cors();
  const origins = readStrings(entry, "allowedOrigins", path, problems, true);
  if (origins.length == 0) problems.add(memberPath(path, "allowedOrigins"), "must list at least one origin");
  for (let i = 0; i < origins.length; i++) {
    const origin = unchecked(origins[i]);
    if (origin == "*") c.anyOrigin = true;
    else if (!isOriginPattern(origin)) problems.add(indexPath(memberPath(path, "allowedOrigins"), i), "must be * or a lowercase origin pattern");
    else c.origins.push(origin);
  }
  c.methods = readStrings(entry, "allowedMethods", path, problems, true);
  for (let i = 0; i < c.methods.length; i++) {
    const method = unchecked(c.methods[i]);
    if (method == "*") c.anyMethod = true;
    else if (!METHODS.includes(method)) problems.add(indexPath(memberPath(path, "allowedMethods"), i), "is not a method CORS can allow");
  }
  c.methodsJoined = c.methods.join(",");
  c.headers = readStrings(entry, "allowedHeaders", path, problems, true);
  for (let i = 0; i < c.headers.length; i++) {
    const header = unchecked(c.headers[i]);
    if (header == "*") c.anyHeader = true;
    else if (!isValidHeaderName(header.toLowerCase())) problems.add(indexPath(memberPath(path, "allowedHeaders"), i), "is not a header name");
    c.headersLower.push(header.toLowerCase());
  }
  const exposed = readStrings(entry, "exposedHeaders", path, problems, true);
  c.exposed = exposed.join(",");
  const credentials = entry.get("allowCredentials");
  if (credentials !== null) {
    const value = readBool(entry, "allowCredentials", path, problems, false);
    c.credentials = value ? "true" : "false";
    // The CORS protocol forbids `*` with credentials (https://fetch.spec.whatwg.org/#cors-protocol-and-credentials).
    if (value && (c.anyOrigin || c.anyMethod || c.anyHeader || exposed.includes("*"))) {
      problems.add(memberPath(path, "allowCredentials"), "cannot be true with a * origin, method or header");
    }
  }
  if (entry.get("maxAge") !== null) c.maxAge = (<u32>readInteger(entry, "maxAge", path, problems, true, 0, 0, 86400)).toString();
  c.forwardPreflight = readBool(entry, "forwardPreflight", path, problems, false);
  return c;
}

/** The Access-Control-Allow-Origin value for `origin` (itself, or `*`), or null when it is not allowed. */
function allowedOrigin(c: Cors, origin: string | null): string | null {
  if (c.anyOrigin) return "*";
  if (origin === null) return null;
  const origins = c.origins;
  for (let i = 0; i < origins.length; i++) {
    const pattern = unchecked(origins[i]);
    if (pattern == origin || (pattern.includes("*") && globMatches(pattern, origin, 0, 0))) return origin;
  }
  return null;
}

/** The Access-Control-Allow-Headers value for the requested list, or null when one of them is not allowed. */
function allowedHeaders(c: Cors, requested: string): string | null {
  if (c.anyHeader) return requested;
  const names = requested.split(",");
  const out = new Array<string>(0);
  for (let i = 0; i < names.length; i++) {
    const name = unchecked(names[i]).trim().toLowerCase();
    const at = c.headersLower.indexOf(name);
    if (at == -1) return null;
    out.push(unchecked(c.headers[at]));
  }
  return out.join(",");
}

class CorsRoot extends PolicyRoot<Cors> {
  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("cors", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, Cors> {
    const routes = new Map<string, Cors>();
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readCors(entries.value, entries.path, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new CorsStream(contextId, this);
  }
}

class CorsStream extends PolicyStream<CorsRoot> {
  route: Cors | null = null;
  /** The response's Access-Control-Allow-Origin; null: the origin is not allowed (or a preflight was answered). */
  allowOrigin: string | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const c = policy.enterRequest();
    if (c === null) return policy.skipAction;
    const origin = getHeaderOf(MapType.RequestHeaders, ORIGIN);
    if (getHeaderOf(MapType.RequestHeaders, METHOD) == "OPTIONS") return this.preflight(c, origin);
    this.route = c;
    this.allowOrigin = allowedOrigin(c, origin);
    return Action.Continue;
  }

  preflight(c: Cors, origin: string | null): u32 {
    const headers = new Array<Header>(0);
    const allowOrigin = allowedOrigin(c, origin);
    const method = getHeaderOf(MapType.RequestHeaders, REQUEST_METHOD);
    const requested = getHeaderOf(MapType.RequestHeaders, REQUEST_HEADERS);
    let allowed = allowOrigin !== null;
    let allowMethods: string | null = null;
    if (c.anyMethod) allowMethods = "*";
    else if (method !== null && c.methods.includes(method)) allowMethods = c.methodsJoined;
    else allowed = false;
    let allowHeaders: string | null = null;
    if (requested !== null) {
      allowHeaders = allowedHeaders(c, requested);
      if (allowHeaders === null) allowed = false;
    }
    if (!allowed) {
      if (c.forwardPreflight) return Action.Continue;
      return sendEncodedReply(204, DETAILS, EMPTY, serializePairs(headers));
    }
    headers.push(new Header("access-control-allow-origin", allowOrigin!));
    headers.push(new Header("access-control-allow-methods", allowMethods!));
    if (allowHeaders !== null) headers.push(new Header("access-control-allow-headers", allowHeaders));
    const maxAge = c.maxAge;
    if (maxAge !== null) headers.push(new Header("access-control-max-age", maxAge));
    const credentials = c.credentials;
    if (credentials !== null) headers.push(new Header("access-control-allow-credentials", credentials));
    return sendEncodedReply(204, DETAILS, EMPTY, serializePairs(headers));
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const c = this.route;
    if (c === null) return Action.Continue;
    const allowOrigin = this.allowOrigin;
    if (allowOrigin === null) {
      // The policy decides which origins may read: the upstream's own CORS answer does not pass.
      removeHeaderOf(MapType.ResponseHeaders, ALLOW_ORIGIN);
      removeHeaderOf(MapType.ResponseHeaders, ALLOW_CREDENTIALS);
      removeHeaderOf(MapType.ResponseHeaders, EXPOSE_HEADERS);
      return Action.Continue;
    }
    setHeaderOf(MapType.ResponseHeaders, ALLOW_ORIGIN, allowOrigin);
    // A reflected origin makes the response differ by Origin: shared caches must key on it.
    if (!c.anyOrigin) addHeader(MapType.ResponseHeaders, "vary", "Origin");
    if (c.exposed.length > 0) setHeaderOf(MapType.ResponseHeaders, EXPOSE_HEADERS, c.exposed);
    const credentials = c.credentials;
    if (credentials !== null) setHeaderOf(MapType.ResponseHeaders, ALLOW_CREDENTIALS, credentials);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new CorsRoot());

export * from "../lib/exports";
