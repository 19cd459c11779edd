// Route matching for the proxy: reads headers through one reused request object (matching is synchronous), so
// no closure or object per request. Header matchers on ordinary headers read node's `req.headers` (repeated
// values joined). One per proxy handler.
import type { IncomingMessage } from 'node:http';
import type { HeaderLookup } from './matchers.ts';
import type { RouteMatch, RouteRequest } from './route-table.ts';
import type { RuntimeConfig } from './runtime-config.ts';

export class RouteLookup {
  private req: IncomingMessage | null = null;
  private method = '';
  private path = '';
  private authority = '';
  private scheme = 'http';
  private readonly header: HeaderLookup = (name) => {
    if (name === ':method') return this.method;
    if (name === ':path') return this.path;
    if (name === ':authority') return this.authority;
    if (name === ':scheme') return this.scheme;
    const value = this.req?.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  private readonly request: RouteRequest = { authority: '', path: '', header: this.header };

  match(config: RuntimeConfig, req: IncomingMessage, method: string, path: string, authority: string, scheme = 'http'): RouteMatch | null {
    this.req = req;
    this.scheme = scheme;
    this.method = method;
    this.path = path;
    this.authority = authority;
    this.request.authority = authority;
    this.request.path = path;
    try {
      return config.routes.match(this.request);
    } finally {
      this.req = null;
    }
  }
}
