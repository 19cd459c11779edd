import type { IrRoute, IrSnapshot } from '../ir.ts';
import { routeConfigurationName, virtualHostName } from '../names.ts';
import type { EnvoyResource } from '../resources.ts';

function routeMatch(route: IrRoute): Record<string, unknown> {
  const path = route.match.kind === 'exact' ? { path: route.match.path } : { safeRegex: { regex: route.match.regex } };
  // The method is the `:method` pseudo-header. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-headermatcher
  return { ...path, headers: [{ name: ':method', stringMatch: { exact: route.method } }] };
}

function routeAction(route: IrRoute): Record<string, unknown> {
  const action: Record<string, unknown> =
    route.destination.kind === 'cluster'
      ? { cluster: route.destination.cluster }
      : { weightedClusters: { clusters: route.destination.clusters.map((c) => ({ name: c.cluster, weight: c.weight })) } };
  if (route.rewrite?.kind === 'prefix') action.prefixRewrite = route.rewrite.prefix;
  if (route.rewrite?.kind === 'regex') action.regexRewrite = { pattern: { regex: route.rewrite.pattern }, substitution: route.rewrite.substitution };
  // Host becomes the chosen endpoint's `hostname` (set on every endpoint, see envoy-clusters.ts).
  // https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-auto-host-rewrite
  if (route.autoHostRewrite) action.autoHostRewrite = true;
  return action;
}

/**
 * One RouteConfiguration; a virtual host per domain (sorted by name), its routes in IR order, which is match
 * order: Envoy takes the first route that matches (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_routing).
 */
export function buildRouteConfiguration(ir: IrSnapshot): EnvoyResource {
  const byDomain = new Map<string, IrRoute[]>();
  for (const route of ir.routes) {
    const list = byDomain.get(route.domain);
    if (list) list.push(route);
    else byDomain.set(route.domain, [route]);
  }
  const virtualHosts = [...byDomain.entries()]
    .map(([domain, routes]) => ({
      name: virtualHostName(domain),
      domains: [domain],
      routes: routes.map((route) => ({ name: route.name, match: routeMatch(route), route: routeAction(route) })),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name: routeConfigurationName, virtualHosts };
}
