// redirect: answers 3xx with a Location built from the request and the route's settings, Gateway API
// RequestRedirect semantics (as the reference's redirect policy): a component left unset keeps the request's; a
// port left unset is the request's when the scheme is kept, the new scheme's default otherwise, and a scheme's
// default port is never written; the path is kept, replaced (`full`) or has the route's matched prefix replaced
// (`prefix`); the query string is always kept. No upstream call. Plugin configuration: docs/policies.md#redirect.
import { MapType } from "../lib/abi";
import { memberPath, objectEntries, Problems, readInteger, readObject, readOptionalString, readString } from "../lib/config";
import { getHeaderRaw, replyPairs } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendJsonError, sendWrittenReply } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const DETAILS = String.UTF8.encode("apip_redirect");
const EMPTY = new ArrayBuffer(0);
const SCHEME = String.UTF8.encode(":scheme");
const AUTHORITY = String.UTF8.encode(":authority");
const PATH = String.UTF8.encode(":path");
const LOCATION = String.UTF8.encode("location");
const HTTP = String.UTF8.encode("http");
const HTTPS = String.UTF8.encode("https");
const SCHEME_SEPARATOR = String.UTF8.encode("://");
const SLASH = String.UTF8.encode("/");

const PATH_KEEP: u8 = 0;
const PATH_FULL: u8 = 1;
const PATH_PREFIX: u8 = 2;

class Redirect {
  status: u32 = 302;
  scheme: string | null = null;
  hostname: string | null = null;
  /** 0: not set. */
  port: u32 = 0;
  pathMode: u8 = PATH_KEEP;
  pathValue: string = "";
  /** The route's literal path prefix (context + operation path up to its first parameter), for `prefix`. */
  matchedPrefix: string = "";
  // The above UTF-8 encoded once: the Location is assembled from bytes (see RedirectStream).
  schemeBytes: ArrayBuffer | null = null;
  hostnameBytes: ArrayBuffer | null = null;
  pathValueBytes: ArrayBuffer = EMPTY;
  matchedPrefixBytes: ArrayBuffer = EMPTY;
}

function isRedirectStatus(status: u32): bool {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/** An RFC 1123 host name or IPv4 literal: letters, digits, `-` and `.`, no empty label. */
function isHostname(host: string): bool {
  if (host.length == 0 || host.length > 253) return false;
  let label = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c == 46) {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45;
    if (!ok) return false;
    label++;
  }
  return label > 0;
}

/** An absolute path without query, fragment, whitespace or control characters. */
function isPath(path: string): bool {
  if (path.length == 0 || path.charCodeAt(0) != 47) return false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 32 || c == 127 || c == 63 || c == 35) return false;
  }
  return true;
}

function readRedirect(entry: JsonValue, path: string, problems: Problems): Redirect {
  const r = new Redirect();
  r.status = <u32>readInteger(entry, "statusCode", path, problems, true, 302, 100, 599);
  if (!isRedirectStatus(r.status)) problems.add(memberPath(path, "statusCode"), "must be 301, 302, 303, 307 or 308");
  const scheme = readOptionalString(entry, "scheme", path, problems);
  if (scheme !== null && scheme != "http" && scheme != "https") problems.add(memberPath(path, "scheme"), "must be http or https");
  r.scheme = scheme;
  const hostname = readOptionalString(entry, "hostname", path, problems);
  if (hostname !== null && !isHostname(hostname)) problems.add(memberPath(path, "hostname"), "must be a host name");
  r.hostname = hostname;
  const port = entry.get("port");
  if (port !== null && !port.isNull) r.port = <u32>readInteger(entry, "port", path, problems, true, 0, 1, 65535);
  r.matchedPrefix = readString(entry, "matchedPrefix", path, problems, true);
  const pathEntry = readObject(entry, "path", path, problems, false);
  if (pathEntry !== null) {
    const at = memberPath(path, "path");
    const mode = readString(pathEntry, "mode", at, problems, true);
    if (mode == "full") r.pathMode = PATH_FULL;
    else if (mode == "prefix") r.pathMode = PATH_PREFIX;
    else problems.add(memberPath(at, "mode"), "must be full or prefix");
    r.pathValue = readString(pathEntry, "value", at, problems, true);
    if (!isPath(r.pathValue)) problems.add(memberPath(at, "value"), "must be an absolute path without query");
  }
  if (scheme !== null) r.schemeBytes = String.UTF8.encode(scheme);
  if (hostname !== null) r.hostnameBytes = String.UTF8.encode(hostname);
  r.pathValueBytes = String.UTF8.encode(r.pathValue);
  r.matchedPrefixBytes = String.UTF8.encode(r.matchedPrefix);
  return r;
}

/** The default port of `scheme` (bytes): 443 for https, 80 otherwise. */
function defaultPort(scheme: ArrayBuffer): u32 {
  return scheme.byteLength == 5 && memory.compare(changetype<usize>(scheme), changetype<usize>(HTTPS), 5) == 0 ? 443 : 80;
}

/** The index of the last `byte` in `bytes`, or -1. */
function lastIndexOfByte(bytes: ArrayBuffer, byte: u8): i32 {
  const base = changetype<usize>(bytes);
  for (let i = bytes.byteLength - 1; i >= 0; i--) if (load<u8>(base + <usize>i) == byte) return i;
  return -1;
}

/** The index of the first `byte` in `bytes`, or its length. */
function indexOfByte(bytes: ArrayBuffer, byte: u8): i32 {
  const base = changetype<usize>(bytes);
  const length = bytes.byteLength;
  for (let i = 0; i < length; i++) if (load<u8>(base + <usize>i) == byte) return i;
  return length;
}

/** `:authority` split at its port colon (after a `]` for IPv6 literals): the host is bytes [0, hostEnd), the port
 *  0 when absent or not a port. (`:` and `]` never occur inside a multi-byte UTF-8 sequence.) */
class Authority {
  hostEnd: i32 = 0;
  port: u32 = 0;

  parse(authority: ArrayBuffer): void {
    const length = authority.byteLength;
    const colon = lastIndexOfByte(authority, 58);
    this.port = 0;
    if (colon == -1 || colon < lastIndexOfByte(authority, 93)) {
      this.hostEnd = length;
      return;
    }
    this.hostEnd = colon;
    const base = changetype<usize>(authority);
    let value: u32 = 0;
    for (let i = colon + 1; i < length; i++) {
      const c = <u32>load<u8>(base + <usize>i);
      if (c < 48 || c > 57 || value > 65535) return;
      value = value * 10 + (c - 48);
    }
    if (value <= 65535) this.port = value;
  }
}

const authority = new Authority();

class RedirectRoot extends PolicyRoot<Redirect> {
  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("redirect", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, Redirect> {
    const routes = new Map<string, Redirect>();
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readRedirect(entries.value, entries.path, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new RedirectStream(contextId, this);
  }
}

class RedirectStream extends PolicyStream<RedirectRoot> {
  /** Builds the Location from the request's header bytes and the route's encoded settings straight into the
   *  reply's pairs: no string decoded, concatenated or encoded per request. */
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const r = policy.enterRequest();
    if (r === null) return policy.skipAction;
    const requestScheme = getHeaderRaw(MapType.RequestHeaders, SCHEME);
    const requestAuthority = getHeaderRaw(MapType.RequestHeaders, AUTHORITY);
    if (requestAuthority !== null) authority.parse(requestAuthority);
    else {
      authority.hostEnd = 0;
      authority.port = 0;
    }
    const hostname = r.hostnameBytes;
    // Envoy always has :authority for HTTP/1.1 and later; without a host there is no Location to build.
    if (hostname === null && authority.hostEnd == 0) {
      return sendJsonError(400, "apip_redirect_no_host", "The request has no Host to redirect from.");
    }
    const configuredScheme = r.schemeBytes;
    const scheme = configuredScheme !== null ? configuredScheme : requestScheme !== null ? requestScheme : HTTP;
    let port = r.port;
    if (port == 0 && configuredScheme === null) port = authority.port;

    const requestPath = getHeaderRaw(MapType.RequestHeaders, PATH);
    const fullPath = requestPath !== null ? requestPath : SLASH;
    const pathEnd = indexOfByte(fullPath, 63);

    const pairs = replyPairs(1);
    pairs.name(LOCATION);
    pairs.appendBytes(scheme);
    pairs.appendBytes(SCHEME_SEPARATOR);
    if (hostname !== null) pairs.appendBytes(hostname);
    else pairs.append(requestAuthority!, 0, authority.hostEnd);
    if (port != 0 && port != defaultPort(scheme)) {
      pairs.appendByte(58);
      pairs.appendU32(port);
    }
    if (r.pathMode == PATH_FULL) pairs.appendBytes(r.pathValueBytes);
    else if (r.pathMode == PATH_PREFIX && startsWithBytes(fullPath, pathEnd, r.matchedPrefixBytes)) {
      const restStart = r.matchedPrefixBytes.byteLength;
      const value = r.pathValueBytes;
      let valueEnd = value.byteLength;
      const restStartsWithSlash = restStart < pathEnd && load<u8>(changetype<usize>(fullPath) + <usize>restStart) == 47;
      if (valueEnd > 0 && load<u8>(changetype<usize>(value) + <usize>(valueEnd - 1)) == 47 && restStartsWithSlash) valueEnd--;
      if (valueEnd == 0 && restStart == pathEnd) pairs.appendByte(47);
      else {
        pairs.append(value, 0, valueEnd);
        pairs.append(fullPath, restStart, pathEnd);
      }
    } else pairs.append(fullPath, 0, pathEnd);
    // The query string, kept as it came.
    pairs.append(fullPath, pathEnd, fullPath.byteLength);
    pairs.end();
    return sendWrittenReply(r.status, DETAILS, EMPTY, pairs);
  }
}

/** Whether `bytes[0, end)` starts with `prefix`. */
function startsWithBytes(bytes: ArrayBuffer, end: i32, prefix: ArrayBuffer): bool {
  const length = prefix.byteLength;
  return length <= end && memory.compare(changetype<usize>(bytes), changetype<usize>(prefix), <usize>length) == 0;
}

registerRootContext((contextId: u32): RootContext => new RedirectRoot());

export * from "../lib/exports";
