// Header handling at the proxy's edges: hop-by-hop headers (RFC 9110 section 7.6.1) never cross the proxy, and
// Node's raw header arrays become proxy-wasm style pairs (lowercase names) and back.
import type { HeaderList } from './proxy-wasm/types.ts';

const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'proxy-authenticate', 'proxy-authorization',
  // The gateway answers `Expect: 100-continue` itself (Node does), as Envoy does unless proxy_100_continue.
  'expect',
]);

/** Pairs from `rawHeaders` minus hop-by-hop headers (and those the Connection header names) and `skip`. */
export function endToEndHeaders(rawHeaders: readonly string[], skip?: string): HeaderList {
  const out: HeaderList = [];
  let connectionListed: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    if (name === 'connection') {
      connectionListed ??= new Set();
      for (const token of value.split(',')) connectionListed.add(token.trim().toLowerCase());
    }
    if (hopByHop.has(name) || name === skip) continue;
    out.push([name, value]);
  }
  return connectionListed === undefined ? out : out.filter(([name]) => !connectionListed.has(name));
}

/** Flat `[name, value, name, value…]` for Node, without pseudo-headers. */
export function toRawHeaders(pairs: HeaderList): string[] {
  const out: string[] = [];
  for (const [name, value] of pairs) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    out.push(name, value);
  }
  return out;
}
