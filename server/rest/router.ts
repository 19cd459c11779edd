import type { DomainContext } from '../domain/context.ts';
import type { ValidationMessageStyle } from './errors.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/**
 * Who may call a route. `public`: no credentials (the OpenAPI document). `authenticated`: any stored user.
 * `manager`: admin or publisher (v0.9 admin/developer), the REST twin of GraphQL's `manager` auth scope; the
 * domain still applies its own ownership rules behind it.
 */
export type Access = 'public' | 'authenticated' | 'manager';

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
  /** JSON-serialised unless `contentType` is set, in which case it must be the text to send. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** `/rest-apis/:id/api-keys/:apiKeyName`, relative to the v0.9 prefix. */
  path: string;
  /** @default 'authenticated' */
  access?: Access;
  /** How a ValidationError's message reads (server/rest/errors.ts). @default 'field' */
  validationMessage?: ValidationMessageStyle;
  /** The message of a body that does not parse, from the parser's cause. @default `Invalid request body: <cause>` */
  parseFailureMessage?: (cause: string) => string;
  handle(req: RestRequest): Promise<RestResponse>;
}

interface CompiledRoute extends Route {
  segments: string[];
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** A malformed escape (`%zz`) is kept as sent: it then names nothing, which is a 404, never a 500. */
function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
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
      if (segment.startsWith(':')) params[segment.slice(1)] = decodeSegment(part);
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
