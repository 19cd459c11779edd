// redirect: answers 3xx with a Location built from the request and the route's settings, Gateway API
// RequestRedirect semantics (as the reference's redirect policy): a component left unset keeps the request's; a
// port left unset is the request's when the scheme is kept, the new scheme's default otherwise, and a scheme's
// default port is never written; the path is kept, replaced (`full`) or has the route's matched prefix replaced
// (`prefix`); the query string is always kept. No upstream call. Plugin configuration: docs/policies.md#redirect.
import { MapType } from "../lib/abi";
import { memberPath, objectEntries, Problems, readInteger, readObject, readOptionalString, readString } from "../lib/config";
import { getHeaderOf, serializeEncodedPairs } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendEncodedReply, sendJsonError } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const DETAILS = String.UTF8.encode("apip_redirect");
const EMPTY = new ArrayBuffer(0);
const SCHEME = String.UTF8.encode(":scheme");
const AUTHORITY = String.UTF8.encode(":authority");
const PATH = String.UTF8.encode(":path");
const LOCATION_NAMES: Array<ArrayBuffer> = [String.UTF8.encode("location")];

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
  return r;
}

function defaultPort(scheme: string): u32 {
  return scheme == "https" ? 443 : 80;
}

/** `host[:port]` split at the port colon (after a `]` for IPv6 literals); port 0 when absent. */
class Authority {
  host: string = "";
  port: u32 = 0;
}

function parseAuthority(authority: string): Authority {
  const out = new Authority();
  const colon = authority.lastIndexOf(":");
  if (colon == -1 || colon < authority.lastIndexOf("]")) {
    out.host = authority;
    return out;
  }
  out.host = authority.substring(0, colon);
  const port = authority.substring(colon + 1);
  let value: u32 = 0;
  for (let i = 0; i < port.length; i++) {
    const c = port.charCodeAt(i);
    if (c < 48 || c > 57 || value > 65535) return out;
    value = value * 10 + <u32>(c - 48);
  }
  if (value <= 65535) out.port = value;
  return out;
}

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
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const r = policy.enterRequest();
    if (r === null) return policy.skipAction;
    const requestScheme = getHeaderOf(MapType.RequestHeaders, SCHEME);
    const authority = parseAuthority(getHeaderOf(MapType.RequestHeaders, AUTHORITY) || "");
    const hostname = r.hostname;
    const host = hostname !== null ? hostname : authority.host;
    // Envoy always has :authority for HTTP/1.1 and later; without a host there is no Location to build.
    if (host.length == 0) return sendJsonError(400, "apip_redirect_no_host", "The request has no Host to redirect from.");
    const configuredScheme = r.scheme;
    const scheme = configuredScheme !== null ? configuredScheme : requestScheme !== null ? requestScheme : "http";
    let port = r.port;
    if (port == 0 && configuredScheme === null) port = authority.port;

    const fullPath = getHeaderOf(MapType.RequestHeaders, PATH) || "/";
    const q = fullPath.indexOf("?");
    let path = q == -1 ? fullPath : fullPath.substring(0, q);
    const query = q == -1 ? "" : fullPath.substring(q);
    if (r.pathMode == PATH_FULL) path = r.pathValue;
    else if (r.pathMode == PATH_PREFIX && path.startsWith(r.matchedPrefix)) {
      let rest = path.substring(r.matchedPrefix.length);
      let value = r.pathValue;
      if (value.endsWith("/") && rest.startsWith("/")) value = value.substring(0, value.length - 1);
      path = value.length == 0 && rest.length == 0 ? "/" : value + rest;
    }

    let location = scheme + "://" + host;
    if (port != 0 && port != defaultPort(scheme)) location += ":" + port.toString();
    location += path + query;
    const values = new Array<ArrayBuffer>(1);
    unchecked(values[0] = String.UTF8.encode(location));
    return sendEncodedReply(r.status, DETAILS, EMPTY, serializeEncodedPairs(LOCATION_NAMES, values));
  }
}

registerRootContext((contextId: u32): RootContext => new RedirectRoot());

export * from "../lib/exports";
