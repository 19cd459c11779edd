// Header handling at the proxy's edges: hop-by-hop headers (RFC 9110 section 7.6.1) never cross the proxy, and
// Node's raw header arrays are read once into flat `[name, value, …]` arrays with lowercase names.
import type { HeaderList } from './proxy-wasm/types.ts';

const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'proxy-authenticate', 'proxy-authorization',
  // The gateway answers `Expect: 100-continue` itself (Node does), as Envoy does unless proxy_100_continue.
  'expect',
]);

/** Flat `[name, value, name, value…]` for Node, without pseudo-headers. */
export function toRawHeaders(pairs: HeaderList): string[] {
  const out: string[] = [];
  for (const [name, value] of pairs) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    out.push(name, value);
  }
  return out;
}

/** `name` lowercased; the same string when it has no uppercase letter (no allocation). */
export function lowerName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return name.toLowerCase();
  }
  return name;
}

/** endToEndHeaders as a flat `[name, value, …]` array (names lowercased), for node:http's writeHead and the
 *  upstream request: no pair objects in between. */
export function endToEndRaw(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  let connectionListed: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = lowerName(rawHeaders[i] ?? '');
    const value = rawHeaders[i + 1] ?? '';
    if (name === 'connection') {
      connectionListed ??= new Set();
      for (const token of value.split(',')) connectionListed.add(token.trim().toLowerCase());
    }
    if (hopByHop.has(name)) continue;
    out.push(name, value);
  }
  return connectionListed === undefined ? out : withoutNamed(out, connectionListed);
}

/** `flat` minus the entries whose name is in `names`. */
export function withoutNamed(flat: readonly string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] ?? '';
    if (!names.has(name)) out.push(name, flat[i + 1] ?? '');
  }
  return out;
}

/** The request head as the proxy needs it, read from `rawHeaders` in one pass (node's lazily built
 *  `req.headers` object is never needed on the common path): the end-to-end headers without Host, flat, and the
 *  few values the proxy acts on, with node's rules for repeated headers (first Host and Content-Length kept,
 *  X-Forwarded-For and Transfer-Encoding joined with ", "). HTTP/2's pseudo-headers are left out, `:authority`
 *  taken as Host. */
export interface RequestHead {
  /** End-to-end headers minus Host, `[name, value, …]`, names lowercased. */
  headers: string[];
  host: string | undefined;
  forwardedFor: string | undefined;
  hasRequestId: boolean;
  /** No Transfer-Encoding and no (or a zero) Content-Length. */
  hasNoBody: boolean;
  /** A header name held an underscore (and `underscores` was not ALLOW). */
  hasUnderscoreName: boolean;
}

/** HCM `common_http_protocol_options.headers_with_underscores_action`. */
export type HeadersWithUnderscores = 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';

export function readRequestHead(rawHeaders: readonly string[], underscores: HeadersWithUnderscores = 'ALLOW'): RequestHead {
  const checkUnderscores = underscores !== 'ALLOW';
  let hasUnderscoreName = false;
  const headers: string[] = [];
  let connectionListed: Set<string> | undefined;
  let host: string | undefined;
  let authority: string | undefined;
  let isHttp2 = false;
  /** Index in `headers` of the first cookie value (HTTP/2 joins cookie fields). */
  let cookieAt = -1;
  let forwardedFor: string | undefined;
  let hasRequestId = false;
  let contentLength: string | undefined;
  let hasTransferEncoding = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = lowerName(rawHeaders[i] ?? '');
    const value = rawHeaders[i + 1] ?? '';
    switch (name) {
      case 'host': host ??= value; continue;
      case 'connection':
        connectionListed ??= new Set();
        for (const token of value.split(',')) connectionListed.add(token.trim().toLowerCase());
        continue;
      case 'transfer-encoding': hasTransferEncoding = true; continue;
      case 'content-length': contentLength ??= value; break;
      case 'x-forwarded-for': forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`; break;
      case 'x-request-id': hasRequestId = true; break;
      // HTTP/2 may split Cookie into several fields; an HTTP/1.1 upstream gets one, joined with "; " (RFC 9113
      // 8.2.3), as Envoy's codec does.
      case 'cookie':
        if (!isHttp2) break;
        if (cookieAt >= 0) {
          headers[cookieAt] += `; ${value}`;
          continue;
        }
        cookieAt = headers.length + 1;
        break;
      default:
        // HTTP/2 (node's compat API lists pseudo-headers first): `:authority` is the Host; the others are read
        // from the request itself.
        if (name.charCodeAt(0) === 58 /* ':' */) {
          isHttp2 = true;
          if (name === ':authority') authority = value;
          continue;
        }
        if (hopByHop.has(name)) continue;
        // DROP_HEADER: the header is gone before filters and routing (REJECT_REQUEST: the caller answers 400).
        if (checkUnderscores && name.includes('_')) {
          hasUnderscoreName = true;
          continue;
        }
    }
    headers.push(name, value);
  }
  return {
    headers: connectionListed === undefined ? headers : withoutNamed(headers, connectionListed),
    host: authority ?? host,
    forwardedFor,
    hasRequestId,
    hasNoBody: !hasTransferEncoding && (contentLength === undefined || contentLength === '0'),
    hasUnderscoreName,
  };
}

/** Sets the first `name` entry of a flat list to `value`, or appends it (what setting a header on the pair list
 *  did: later repeats are left as they are). */
export function setFlat(flat: string[], name: string, value: string): void {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === name) {
      flat[i + 1] = value;
      return;
    }
  }
  flat.push(name, value);
}
