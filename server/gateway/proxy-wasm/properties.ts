// Host properties (proxy_get_property) as Envoy names them. Paths are split on NUL only: Envoy does the same, so
// a dotted path such as "request.path" is NOT_FOUND in both hosts and a module cannot silently depend on ours.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes
// Values: strings as UTF-8 bytes, integers as 8-byte little-endian, timestamps as int64 nanoseconds, maps as
// proxy-wasm serialised pairs. Properties read from the headers (request.path, request.headers, response.headers...)
// exist only while the module may read that map (StreamState.readableRequestHeaders): Envoy reads them through
// the same pointers it drops once the headers callback continued.
import { encodeUtf8 } from './utf8.ts';
import type { StreamState } from './stream-state.ts';
import type { ConnectionTls } from '../connection-tls.ts';

export interface PluginIdentity {
  name: string;
  rootId: string;
  vmId: string;
}

function int64(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(value), true);
  return out;
}

function text(value: string | undefined): Uint8Array | undefined {
  return value === undefined ? undefined : encodeUtf8(value);
}

/** Splits `ip:port` / `[v6]:port`; undefined port when absent. */
function splitAddress(address: string | undefined): { host: string; port: number | undefined } | undefined {
  if (address === undefined) return undefined;
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match || match[1] === undefined || match[2] === undefined) return { host: address, port: undefined };
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
}

function requestProperty(name: string, rest: string[], stream: StreamState): Uint8Array | undefined {
  switch (name) {
    case 'protocol': return text(stream.info.protocol ?? 'HTTP/1.1');
    case 'time': return int64(stream.timeNanos);
    case 'size': return int64(stream.requestBody.length);
    default: break;
  }
  const headers = stream.readableRequestHeaders;
  if (headers === null) return undefined;
  const path = headers.get(':path');
  switch (name) {
    case 'path': return text(path);
    case 'url_path': return text(path?.split('?')[0]);
    case 'query': return path === undefined ? undefined : encodeUtf8(path.includes('?') ? path.slice(path.indexOf('?') + 1) : '');
    case 'host': return text(headers.get(':authority'));
    case 'scheme': return text(headers.get(':scheme'));
    case 'method': return text(headers.get(':method'));
    case 'id': return text(headers.get('x-request-id'));
    case 'referer': return text(headers.get('referer'));
    case 'useragent': return text(headers.get('user-agent'));
    case 'headers': {
      if (rest.length === 0) return headers.serialize();
      return rest.length === 1 && rest[0] !== undefined ? text(headers.get(rest[0])) : undefined;
    }
    default: return undefined;
  }
}

function responseProperty(name: string, rest: string[], stream: StreamState): Uint8Array | undefined {
  switch (name) {
    case 'code': {
      // The stream's response code (Envoy's stream info), not a header read: it outlives the map.
      const status = stream.responseHeaders.get(':status');
      return status === undefined ? undefined : int64(Number(status));
    }
    case 'size': return int64(stream.responseBody.length);
    case 'headers': {
      const headers = stream.readableResponseHeaders;
      if (headers === null) return undefined;
      if (rest.length === 0) return headers.serialize();
      return rest.length === 1 && rest[0] !== undefined ? text(headers.get(rest[0])) : undefined;
    }
    default: return undefined;
  }
}

/** Envoy's TLS connection attributes; a bool is one byte. Absent (NOT_FOUND) without TLS, and the peer's without a
 *  verified client certificate. */
function connectionProperty(name: string, tls: ConnectionTls | null): Uint8Array | undefined {
  if (name === 'mtls') return Uint8Array.of(tls?.peer ? 1 : 0);
  if (tls === null) return undefined;
  switch (name) {
    case 'tls_version': return text(tls.version);
    case 'requested_server_name': return text(tls.requestedServerName);
    case 'subject_peer_certificate': return text(tls.peer?.subject);
    case 'uri_san_peer_certificate': return text(tls.peer?.uriSan);
    case 'dns_san_peer_certificate': return text(tls.peer?.dnsSan);
    case 'sha256_peer_certificate_digest': return text(tls.peer?.sha256);
    default: return undefined;
  }
}

/** Resolves a NUL-split property path; undefined is NOT_FOUND. */
export function resolveProperty(
  segments: string[],
  plugin: PluginIdentity,
  stream: StreamState | null,
): Uint8Array | undefined {
  const value = lookupProperty(segments.join('\0'), plugin, stream);
  return typeof value === 'string' ? encodeUtf8(value) : value;
}

// The paths policies read on every request, resolved without splitting the path: NUL-joined path -> resolver.
type FastResolver = (plugin: PluginIdentity, stream: StreamState | null) => string | Uint8Array | undefined;
const fastPaths = new Map<string, FastResolver>([
  ['xds\0route_name', (_plugin, stream) => stream?.info.routeName],
  ['xds\0cluster_name', (_plugin, stream) => stream?.info.clusterName],
  ['request\0path', (_plugin, stream) => stream?.readableRequestHeaders?.get(':path')],
  ['request\0method', (_plugin, stream) => stream?.readableRequestHeaders?.get(':method')],
  ['request\0host', (_plugin, stream) => stream?.readableRequestHeaders?.get(':authority')],
  ['source\0address', (_plugin, stream) => stream?.info.sourceAddress],
  ['plugin_name', (plugin) => plugin.name],
  ['plugin_root_id', (plugin) => plugin.rootId],
  ['plugin_vm_id', (plugin) => plugin.vmId],
]);

/**
 * Resolves a property by its NUL-joined path as the module sent it: a string (returned to the guest as UTF-8),
 * bytes, or undefined for NOT_FOUND. Values set with proxy_set_property come first.
 */
export function lookupProperty(path: string, plugin: PluginIdentity, stream: StreamState | null): string | Uint8Array | undefined {
  if (stream !== null) {
    const custom = stream.customProperty(path);
    if (custom !== undefined) return custom;
  }
  const fast = fastPaths.get(path);
  if (fast !== undefined) return fast(plugin, stream);
  return resolveSegments(path.split('\0'), plugin, stream);
}

function resolveSegments(segments: string[], plugin: PluginIdentity, stream: StreamState | null): Uint8Array | undefined {
  const [head, name, ...rest] = segments;
  if (segments.length === 1) {
    switch (head) {
      case 'plugin_name': return encodeUtf8(plugin.name);
      case 'plugin_root_id': return encodeUtf8(plugin.rootId);
      case 'plugin_vm_id': return encodeUtf8(plugin.vmId);
      default: break;
    }
  }
  if (stream === null || name === undefined) return undefined;
  const info = stream.info;
  switch (head) {
    case 'request': return requestProperty(name, rest, stream);
    case 'response': return responseProperty(name, rest, stream);
    case 'xds':
      if (rest.length > 0) return undefined;
      if (name === 'route_name') return text(info.routeName);
      if (name === 'cluster_name') return text(info.clusterName);
      return undefined;
    case 'source':
    case 'destination': {
      if (rest.length > 0) return undefined;
      const address = splitAddress(head === 'source' ? info.sourceAddress : info.destinationAddress);
      if (address === undefined) return undefined;
      if (name === 'address') return encodeUtf8(head === 'source' ? info.sourceAddress ?? '' : info.destinationAddress ?? '');
      if (name === 'port') return address.port === undefined ? undefined : int64(address.port);
      return undefined;
    }
    case 'connection':
      if (rest.length > 0) return undefined;
      if (name === 'id') return info.connectionId === undefined ? undefined : int64(info.connectionId);
      return connectionProperty(name, info.connectionTls ?? null);
    default:
      return undefined;
  }
}
