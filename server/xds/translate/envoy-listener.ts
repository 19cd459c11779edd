import { policyFilters, httpFilterOrder } from '../filters/registry.ts';
import { wasmHttpFilter } from '../filters/wasm-filter.ts';
import type { IrSnapshot, PolicyKind, RouteSettingsByKind } from '../ir.ts';
import { routeConfigurationName, statPrefix } from '../names.ts';
import type { EnvoyResource } from '../resources.ts';

/** Every data plane gets its configuration over the one ADS stream. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/config_source.proto#envoy-v3-api-msg-config-core-v3-aggregatedconfigsource */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, resourceApiVersion: 'V3' };
}

function pluginConfiguration<K extends PolicyKind>(kind: K, routes: ReadonlyMap<string, RouteSettingsByKind[K]>, ir: IrSnapshot): Record<string, unknown> {
  return policyFilters[kind].pluginConfiguration(routes, ir.tables);
}

/** The wasm filters (in httpFilterOrder, only modules some route uses) then the router, which must be last. */
export function buildHttpFilters(ir: IrSnapshot): EnvoyResource[] {
  const perKind = new Map<PolicyKind, Map<string, RouteSettingsByKind[PolicyKind]>>();
  // Routes are sorted by domain then match order; settings maps must be sorted by route name.
  const byName = ir.routes.map((r) => r.name).sort();
  const first = new Map<string, (typeof ir.routes)[number]>();
  // A route name recurs on the sandbox vhost with the same chain: one entry serves both.
  for (const route of ir.routes) if (!first.has(route.name)) first.set(route.name, route);
  for (const name of byName) {
    const route = first.get(name);
    if (!route) continue;
    first.delete(name);
    for (const kind of httpFilterOrder) {
      const settings = route.settings[kind];
      if (settings === undefined) continue;
      let routes = perKind.get(kind);
      if (!routes) perKind.set(kind, (routes = new Map()));
      routes.set(name, settings);
    }
  }
  const filters: EnvoyResource[] = [];
  for (const kind of httpFilterOrder) {
    const routes = perKind.get(kind);
    const module = ir.modules[kind];
    if (!routes || !module) continue;
    // The first module of the chain removes client-supplied identity headers before anything reads them.
    const configuration = { stripIdentityHeaders: filters.length === 0, ...pluginConfiguration(kind, routes as Map<string, never>, ir) };
    filters.push(
      wasmHttpFilter({ name: kind, sha256: module.sha256, controlPlaneUrl: ir.controlPlane.url, controlPlaneCluster: ir.controlPlane.cluster.name }, configuration),
    );
  }
  filters.push({ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } });
  return filters;
}

/**
 * One listener on all interfaces whose HttpConnectionManager gets its routes by RDS. Paths are normalised
 * (RFC 3986) and repeated slashes merged before routing, so `/a/../b` or `//b` cannot slip past a route's
 * policies (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto#envoy-v3-api-field-extensions-filters-network-http-connection-manager-v3-httpconnectionmanager-normalize-path).
 */
export function buildListener(ir: IrSnapshot): EnvoyResource {
  return {
    name: ir.listener.name,
    address: { socketAddress: { address: '0.0.0.0', portValue: ir.listener.port } },
    filterChains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              statPrefix,
              codecType: 'AUTO',
              rds: { routeConfigName: routeConfigurationName, configSource: adsConfigSource() },
              httpFilters: buildHttpFilters(ir),
              normalizePath: true,
              mergeSlashes: true,
            },
          },
        ],
      },
    ],
  };
}
