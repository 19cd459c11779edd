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
import {
  addHeader, getHeaderOf, getHeaderRaw, Header, isValidHeaderName, removeHeaderOf, replyPairs, serializePairs, setHeaderOf,
} from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendEncodedReply, sendWrittenReply } from "../lib/reply";
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
const ALLOW_HEADERS = String.UTF8.encode("access-control-allow-headers");
const STAR = String.UTF8.encode("*");
/** A refused preflight's reply headers: none. */
const BARE = serializePairs(new Array<Header>(0));
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

/** An origin pattern with one `*`, split around it at configure time: a match is two comparisons and a scan. */
class OriginPattern {
  constructor(public prefix: string, public suffix: string, public full: string) {}

  matches(origin: string): bool {
    const middle = origin.length - this.prefix.length - this.suffix.length;
    if (middle <= 0 || !origin.startsWith(this.prefix) || !origin.endsWith(this.suffix)) return false;
    const end = this.prefix.length + middle;
    for (let i = this.prefix.length; i < end; i++) if (origin.charCodeAt(i) == 47) return false;
    return true;
  }
}

class Cors {
  anyOrigin: bool = false;
  /** Exact origins, and patterns with one `*` (`single`) or more (`origins` too, matched by globMatches). */
  origins: Array<string> = new Array<string>(0);
  single: Array<OriginPattern> = new Array<OriginPattern>(0);
  multi: Array<string> = new Array<string>(0);
  anyMethod: bool = false;
  methods: Array<string> = new Array<string>(0);
  methodsJoined: string = "";
  anyHeader: bool = false;
  /** Allowed request headers as configured, and lowercased for comparison. */
  headers: Array<string> = new Array<string>(0);
  headersLower: Array<string> = new Array<string>(0);
  headersEncoded: Array<ArrayBuffer> = new Array<ArrayBuffer>(0);
  exposed: string = "";
  /** "true"/"false" when configured, else null (no header). */
  credentials: string | null = null;
  /** Decimal seconds when configured, else null (no header). */
  maxAge: string | null = null;
  forwardPreflight: bool = false;
  /** The allowed preflight's headers that do not depend on the request (methods, max age, credentials), encoded. */
  constantNames: Array<ArrayBuffer> = new Array<ArrayBuffer>(0);
  constantValues: Array<ArrayBuffer> = new Array<ArrayBuffer>(0);
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
    else {
      const star = origin.indexOf("*");
      if (star == -1) c.origins.push(origin);
      else if (origin.indexOf("*", star + 1) == -1) c.single.push(new OriginPattern(origin.substring(0, star), origin.substring(star + 1), origin));
      else c.multi.push(origin);
    }
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
    c.headersEncoded.push(String.UTF8.encode(header));
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
  addConstant(c, "access-control-allow-methods", c.anyMethod ? "*" : c.methodsJoined);
  const maxAge = c.maxAge;
  if (maxAge !== null) addConstant(c, "access-control-max-age", maxAge);
  const allowCredentials = c.credentials;
  if (allowCredentials !== null) addConstant(c, "access-control-allow-credentials", allowCredentials);
  return c;
}

function addConstant(c: Cors, name: string, value: string): void {
  c.constantNames.push(String.UTF8.encode(name));
  c.constantValues.push(String.UTF8.encode(value));
}

/** The Access-Control-Allow-Origin value for `origin` (itself, or `*`), or null when it is not allowed. */
function allowedOrigin(c: Cors, origin: string | null): string | null {
  if (c.anyOrigin) return "*";
  if (origin === null) return null;
  const origins = c.origins;
  for (let i = 0; i < origins.length; i++) if (unchecked(origins[i]) == origin) return origin;
  const single = c.single;
  for (let i = 0; i < single.length; i++) if (unchecked(single[i]).matches(origin)) return origin;
  const multi = c.multi;
  for (let i = 0; i < multi.length; i++) if (globMatches(unchecked(multi[i]), origin, 0, 0)) return origin;
  return null;
}

/** Whether `text[from, to)` equals `lower` ignoring ASCII case: no substring, no lowercased copy. */
function equalsIgnoringCase(text: string, from: i32, to: i32, lower: string): bool {
  if (to - from != lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let ch = text.charCodeAt(from + i);
    if (ch >= 65 && ch <= 90) ch += 32;
    if (ch != lower.charCodeAt(i)) return false;
  }
  return true;
}

function isSpace(ch: i32): bool {
  return ch == 32 || ch == 9;
}

/**
 * The Access-Control-Allow-Headers value (UTF-8) for the requested comma-separated list: the configured names of
 * the requested headers, joined with `,`; null when one of them is not allowed.
 */
function allowedHeaders(c: Cors, requested: string, requestedBytes: ArrayBuffer): ArrayBuffer | null {
  if (c.anyHeader) return requestedBytes;
  let joined: string | null = null;
  let single: ArrayBuffer | null = null;
  let start = 0;
  while (start <= requested.length) {
    let end = requested.indexOf(",", start);
    if (end == -1) end = requested.length;
    let from = start;
    let to = end;
    while (from < to && isSpace(requested.charCodeAt(from))) from++;
    while (to > from && isSpace(requested.charCodeAt(to - 1))) to--;
    let at = -1;
    const lower = c.headersLower;
    for (let i = 0; i < lower.length; i++) {
      if (equalsIgnoringCase(requested, from, to, unchecked(lower[i]))) {
        at = i;
        break;
      }
    }
    if (at == -1) return null;
    // One requested header (the usual preflight): its configured name, encoded once at configure time.
    if (joined === null) {
      joined = unchecked(c.headers[at]);
      single = unchecked(c.headersEncoded[at]);
    } else {
      joined = joined + "," + unchecked(c.headers[at]);
      single = null;
    }
    start = end + 1;
  }
  if (single !== null) return single;
  return String.UTF8.encode(joined === null ? "" : joined);
}

/** `:method` is OPTIONS, compared on its bytes. */
function isOptions(method: ArrayBuffer | null): bool {
  if (method === null || method.byteLength != 7) return false;
  const p = changetype<usize>(method);
  return load<u32>(p) == OPTI && load<u16>(p + 4) == ON && load<u8>(p + 6) == 83;
}
// "OPTI" and "ON" as little-endian loads.
const OPTI: u32 = 0x4954504f;
const ON: u16 = 0x4e4f;

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
    const originBytes = getHeaderRaw(MapType.RequestHeaders, ORIGIN);
    let origin: string | null = null;
    if (originBytes !== null) origin = String.UTF8.decode(originBytes);
    if (isOptions(getHeaderRaw(MapType.RequestHeaders, METHOD))) return this.preflight(c, origin, originBytes);
    this.route = c;
    this.allowOrigin = allowedOrigin(c, origin);
    return Action.Continue;
  }

  preflight(c: Cors, origin: string | null, originBytes: ArrayBuffer | null): u32 {
    const allowOrigin = allowedOrigin(c, origin);
    let allowed = allowOrigin !== null;
    if (allowed && !c.anyMethod) {
      const method = getHeaderOf(MapType.RequestHeaders, REQUEST_METHOD);
      allowed = method !== null && c.methods.includes(method);
    }
    let allowHeaders: ArrayBuffer | null = null;
    if (allowed) {
      const requestedBytes = getHeaderRaw(MapType.RequestHeaders, REQUEST_HEADERS);
      if (requestedBytes !== null) {
        allowHeaders = allowedHeaders(c, String.UTF8.decode(requestedBytes), requestedBytes);
        allowed = allowHeaders !== null;
      }
    }
    if (!allowed) return c.forwardPreflight ? Action.Continue : sendEncodedReply(204, DETAILS, EMPTY, BARE);
    const constantNames = c.constantNames;
    const constantValues = c.constantValues;
    const pairs = replyPairs(1 + (allowHeaders !== null ? 1 : 0) + constantNames.length);
    // The Origin's own bytes when it is echoed: no encoding.
    pairs.pair(ALLOW_ORIGIN, c.anyOrigin ? STAR : originBytes!);
    if (allowHeaders !== null) pairs.pair(ALLOW_HEADERS, allowHeaders);
    for (let i = 0; i < constantNames.length; i++) pairs.pair(unchecked(constantNames[i]), unchecked(constantValues[i]));
    return sendWrittenReply(204, DETAILS, EMPTY, pairs);
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
