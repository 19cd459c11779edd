// Virtual host selection by Host/:authority, in Envoy's order: exact domains, then suffix wildcards
// (`*.example.com`, longest first), then prefix wildcards (`api.*`, longest first), then `*`. Matching is
// case-insensitive and a wildcard stands for at least one character.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-virtualhost
// The port is removed from the authority first, as Envoy does with the HCM's `strip_any_host_port`.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto
import { ConfigError } from './json-fields.ts';

interface Wildcard<T> {
  text: string;
  value: T;
}

/** `host:port` / `[v6]:port` / `host` → lowercase host without the port. */
export function hostWithoutPort(authority: string): string {
  const host = authority.toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

export class VirtualHostIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly suffixes: Wildcard<T>[] = [];
  private readonly prefixes: Wildcard<T>[] = [];
  private star: T | undefined;

  /** Adds every domain of one virtual host; a domain used twice is an error, as in Envoy. */
  add(domains: readonly string[], value: T, where: string): void {
    for (const raw of domains) {
      const domain = raw.toLowerCase();
      const isDuplicate = domain === '*'
        ? this.star !== undefined
        : this.exact.has(domain) || [...this.suffixes, ...this.prefixes].some((entry) => entry.text === domain);
      if (isDuplicate) throw new ConfigError(`${where}: domain ${JSON.stringify(raw)} is used by more than one virtual host`);
      if (domain === '*') this.star = value;
      else if (domain.startsWith('*')) this.suffixes.push({ text: domain, value });
      else if (domain.endsWith('*')) this.prefixes.push({ text: domain, value });
      else if (domain.includes('*')) throw new ConfigError(`${where}: wildcard only at the start or end of ${JSON.stringify(raw)}`);
      else this.exact.set(domain, value);
    }
    // Longest wildcard first: `*.api.example.com` before `*.example.com`.
    this.suffixes.sort((a, b) => b.text.length - a.text.length);
    this.prefixes.sort((a, b) => b.text.length - a.text.length);
  }

  select(authority: string): T | undefined {
    const host = hostWithoutPort(authority);
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    for (const { text, value } of this.suffixes) {
      // text is `*<suffix>`: the host must be longer than the suffix (the wildcard is never empty).
      if (host.length > text.length - 1 && host.endsWith(text.slice(1))) return value;
    }
    for (const { text, value } of this.prefixes) {
      if (host.length > text.length - 1 && host.startsWith(text.slice(0, -1))) return value;
    }
    return this.star;
  }
}
