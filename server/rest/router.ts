import type { DomainContext } from '../domain/context.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** What a route handler gets: parsed path params, query, body, and a domain context acting as the caller. */
export interface RestRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON or YAML body; undefined when the request had none. */
  body: unknown;
  domain: DomainContext;
}

export interface RestResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** `/rest-apis/:id/api-keys/:apiKeyName`, relative to the v0.9 prefix. */
  path: string;
  handle(req: RestRequest): Promise<RestResponse>;
}

interface CompiledRoute extends Route {
  segments: string[];
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** Matches method + path against a fixed route table; `pathAllowed` tells 405 apart from 404. */
export function createRouter(routes: readonly Route[]) {
  const compiled: CompiledRoute[] = routes.map((r) => ({ ...r, segments: r.path.split('/').filter(Boolean) }));
  function matchPath(route: CompiledRoute, parts: string[]): Record<string, string> | null {
    if (route.segments.length !== parts.length) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const segment = route.segments[i] ?? '';
      const part = parts[i] ?? '';
      if (segment.startsWith(':')) params[segment.slice(1)] = decodeURIComponent(part);
      else if (segment !== part) return null;
    }
    return params;
  }
  return {
    match(method: string, path: string): RouteMatch | 'method-not-allowed' | null {
      const parts = path.split('/').filter(Boolean);
      let pathMatched = false;
      for (const route of compiled) {
        const params = matchPath(route, parts);
        if (!params) continue;
        pathMatched = true;
        if (route.method === method) return { route, params };
      }
      return pathMatched ? 'method-not-allowed' : null;
    },
  };
}
