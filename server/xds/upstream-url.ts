import { isIP } from 'node:net';
import type { IrEndpoint } from './ir.ts';
import { normaliseBasePath } from './translate/paths.ts';

export interface ParsedUpstreamUrl {
  endpoint: IrEndpoint;
  tls: boolean;
  /** The URL's path without a trailing `/` (`` for none). */
  basePath: string;
}

/** An http(s) URL as an endpoint, or a message saying why it is not one. */
export function parseUpstreamUrl(value: string): ParsedUpstreamUrl | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `'${value}' is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `'${value}' is not an http or https URL`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') return `'${value}' has no host`;
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  // URL.host already omits a default port: exactly what a Host header should carry.
  return { endpoint: { host, port, isIp: isIP(host) !== 0, hostHeader: url.host }, tls, basePath: normaliseBasePath(url.pathname) };
}
