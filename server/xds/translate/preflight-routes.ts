import type { IrRoute } from '../ir.ts';
import { routeName } from '../names.ts';

/**
 * CORS preflight routes. Routes match on `:method`, so a browser's preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) to a path whose operations are GET or POST would match no route and get the
 * listener's 404. For each path with an operation whose chain has cors and no OPTIONS operation of its own, this
 * adds an OPTIONS route per virtual host, with the operation route's match (whatever paths.ts makes of the path),
 * rewrite and destination, that runs the cors module alone: it answers every OPTIONS request itself (a refused
 * preflight, or a plain OPTIONS, with a bare 204 as the reference does) and passes one on to the upstream only when
 * No authentication runs there (preflights carry no credentials), so such a route never passes a request on: its
 * cors entry has `forwardPreflight` off, which applies only to a declared OPTIONS operation, whose chain
 * authenticates what it forwards. The cors settings are those of the path's first operation (in spec order) that
 * has cors.
 */
export function preflightRoutes(api: { handle: string }, routes: readonly IrRoute[]): IrRoute[] {
  const withOptions = new Set<string>();
  for (const route of routes) if (route.method === 'OPTIONS') withOptions.add(route.template);
  const out: IrRoute[] = [];
  const seen = new Set<string>();
  for (const route of routes) {
    const cors = route.settings.cors;
    // A guarded route (request-rewrite's ReplaceRegexMatch) matches only part of its path: its plain twin follows.
    if (cors === undefined || withOptions.has(route.template) || route.match.guard !== undefined) continue;
    // One per path and virtual host (a path's routes recur per method and per environment).
    const key = `${route.template}\n${route.domain}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      ...route,
      name: routeName(api.handle, 'OPTIONS', route.template),
      method: 'OPTIONS',
      policies: route.policies.filter((p) => p.kind === 'cors'),
      settings: { cors: cors.forwardPreflight ? { ...cors, forwardPreflight: false } : cors },
      plans: [],
      allowMethodOverride: false,
    });
  }
  return out;
}
