// The HCM's path normalisation, applied to `:path` before filters and routing, and forwarded upstream:
// `normalize_path` (RFC 3986 dot segments removed, percent-encoded unreserved characters decoded and other escapes
// upper-cased, `\` read as `/`, as Envoy's Chromium-based canonicaliser does) and `merge_slashes`.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto#envoy-v3-api-field-extensions-filters-network-http-connection-manager-v3-httpconnectionmanager-normalize-path
// Without it, `/public/../admin` would be matched as written and reach a route the client should not reach.

export interface PathNormalization {
  normalizePath: boolean;
  mergeSlashes: boolean;
  /** HCM `path_with_escaped_slashes_action: REJECT_REQUEST`: `%2F`/`%5C` (either case) in the path answer 400, so
   *  an upstream that decodes them cannot see a different path than the one routed. */
  rejectEscapedSlashes?: boolean;
}

/** True when the path (before any `?`) holds `%2F` or `%5C` in either case. */
export function hasEscapedSlash(path: string): boolean {
  const queryAt = path.indexOf('?');
  const end = queryAt < 0 ? path.length : queryAt;
  for (let i = path.indexOf('%'); i >= 0 && i + 2 < end; i = path.indexOf('%', i + 1)) {
    const high = path.charCodeAt(i + 1);
    const low = path.charCodeAt(i + 2) | 0x20;
    if ((high === 0x32 /* 2 */ && low === 0x66 /* f */) || (high === 0x35 /* 5 */ && low === 0x63 /* c */)) return true;
  }
  return false;
}

const unreserved = /^[A-Za-z0-9\-._~]$/;

function decodeUnreserved(path: string): string | null {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i] as string;
    if (char !== '%') {
      out += char === '\\' ? '/' : char;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    out += unreserved.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 section 5.2.4 on an absolute path. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const isLast = i === segments.length - 1;
    if (segment === '.') {
      if (isLast) out.push('');
    } else if (segment === '..') {
      out.pop();
      if (isLast) out.push('');
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

/** True when normalisation cannot change `path`: it starts with `/` and, before any `?`, has no `%`, no `\`, no
 *  `//` and no `/.` (so no escape to decode, no dot segment, no slashes to merge). One scan, no allocation: the
 *  common case of every request. */
function isAlreadyNormal(path: string): boolean {
  if (path.charCodeAt(0) !== 0x2f /* / */) return false;
  let previous = 0x2f;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3f /* ? */) return true;
    if (c === 0x25 /* % */ || c === 0x5c /* \ */) return false;
    if (previous === 0x2f && (c === 0x2f || c === 0x2e /* . */)) return false;
    previous = c;
  }
  return true;
}

/** The normalised `:path` (query kept as sent), or null when the path is malformed (Envoy answers 400). */
export function normalizeRequestPath(path: string, options: PathNormalization): string | null {
  if (options.rejectEscapedSlashes === true && hasEscapedSlash(path)) return null;
  if (!options.normalizePath && !options.mergeSlashes) return path;
  if (isAlreadyNormal(path)) return path;
  const queryAt = path.indexOf('?');
  let pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
  const query = queryAt < 0 ? '' : path.slice(queryAt);
  if (!pathOnly.startsWith('/')) return options.normalizePath ? null : path;
  if (options.normalizePath) {
    const decoded = decodeUnreserved(pathOnly);
    if (decoded === null) return null;
    pathOnly = removeDotSegments(decoded);
  }
  if (options.mergeSlashes) pathOnly = pathOnly.replace(/\/{2,}/g, '/');
  return pathOnly + query;
}
