import { httpFilterOrder, policyFilters } from '../../policies/index.ts';
import { wasmHttpFilter } from './wasm-filter.ts';
import type { IrSnapshot, PolicyKind, RouteSettingsByKind } from '../ir.ts';
import { accessLogName, accessLogRequestHeaders, routeConfigurationName, statPrefix, xdsClusterName } from '../names.ts';
import type { EnvoyResource } from '../../envoy/resources.ts';

/** Every data plane gets its configuration over the one ADS stream. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/config_source.proto#envoy-v3-api-msg-config-core-v3-aggregatedconfigsource */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, resourceApiVersion: 'V3' };
}

function pluginConfiguration<K extends PolicyKind>(kind: K, routes: ReadonlyMap<string, RouteSettingsByKind[K]>, ir: IrSnapshot): Record<string, unknown> {
  return policyFilters[kind].pluginConfiguration(routes, ir.tables);
}

type IrRoute = IrSnapshot['routes'][number];

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One route per name, sorted by name: a name recurs on the sandbox vhost with the same chain, and the first
 * (in IR order, which the stable sort keeps) serves both.
 */
export function routesByName(routes: readonly IrRoute[]): IrRoute[] {
  const sorted = [...routes].sort((a, b) => compare(a.name, b.name));
  const out: IrRoute[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i - 1]!.name !== sorted[i]!.name) out.push(sorted[i]!);
  return out;
}

/**
 * A ReadonlyMap over entries appended in key order (the route names, already sorted and unique): the plugin
 * configurations only iterate it, so tens of thousands of names are not hashed into a Map; `get`/`has` build
 * one on first use.
 */
class SortedEntries<V> implements ReadonlyMap<string, V> {
  private readonly names: string[] = [];
  private readonly items: V[] = [];
  private index: Map<string, V> | null = null;

  push(name: string, value: V): void {
    this.names.push(name);
    this.items.push(value);
  }

  get size(): number {
    return this.names.length;
  }

  get(name: string): V | undefined {
    return this.lookup().get(name);
  }

  has(name: string): boolean {
    return this.lookup().has(name);
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.names.length; i++) callback.call(thisArg, this.items[i]!, this.names[i]!, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (let i = 0; i < this.names.length; i++) yield [this.names[i]!, this.items[i]!];
  }

  keys(): MapIterator<string> {
    return this.names.values();
  }

  values(): MapIterator<V> {
    return this.items.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  private lookup(): Map<string, V> {
    this.index ??= new Map(this.entries());
    return this.index;
  }
}

/** Each module some route uses and that the snapshot has, in httpFilterOrder, with its routes' settings. */
function wasmFilterRoutes(ir: IrSnapshot): [PolicyKind, SortedEntries<RouteSettingsByKind[PolicyKind]>][] {
  // Settings maps must be sorted by route name; routes are sorted by domain then match order.
  const perKind = new Map<PolicyKind, SortedEntries<RouteSettingsByKind[PolicyKind]>>();
  for (const kind of httpFilterOrder) perKind.set(kind, new SortedEntries());
  for (const route of routesByName(ir.routes)) {
    // Only the kinds a route has (mostly one or two of the five).
    const settings = route.settings as Record<string, RouteSettingsByKind[PolicyKind] | undefined>;
    for (const kind in settings) {
      const value = settings[kind];
      if (value !== undefined) perKind.get(kind as PolicyKind)?.push(route.name, value);
    }
  }
  return httpFilterOrder.flatMap((kind) => {
    const routes = perKind.get(kind);
    return routes && routes.size > 0 && ir.modules[kind] ? [[kind, routes] as [PolicyKind, SortedEntries<RouteSettingsByKind[PolicyKind]>]] : [];
  });
}

/**
 * Whether the listener runs a wasm filter, whose first module strips client-sent identity headers. Without one the
 * route configuration removes them instead (envoy-routes.ts), so an upstream never trusts an identity a client wrote.
 */
export function hasWasmFilters(ir: IrSnapshot): boolean {
  return wasmFilterRoutes(ir).length > 0;
}

/** The wasm filters (in httpFilterOrder, only modules some route uses) then the router, which must be last. */
export function buildHttpFilters(ir: IrSnapshot): EnvoyResource[] {
  const filters: EnvoyResource[] = [];
  for (const [kind, routes] of wasmFilterRoutes(ir)) {
    const module = ir.modules[kind]!;
    // The first module of the chain removes client-supplied identity headers before anything reads them.
    // Key-checking modules get the digest key to compute keyed digests of what clients present (secrets.ts `keyDigest`).
    const digestKey = policyFilters[kind].usesKeyDigests ? { digestKey: ir.keyDigestSecret } : {};
    const configuration = { stripIdentityHeaders: filters.length === 0, ...digestKey, ...ir.moduleSettings?.[kind], ...pluginConfiguration(kind, routes, ir) };
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
              // `%2F`/`%5C` in the path answer 400: an upstream that decodes them would see another path than the one routed.
              pathWithEscapedSlashesAction: 'REJECT_REQUEST',
              // Any request header whose name holds `_` is dropped before filters and routing: frameworks that
              // read `x_apip_plan` as `x-apip-plan` (CGI-style HTTP_X_APIP_PLAN) cannot be handed a forged identity.
              commonHttpProtocolOptions: { headersWithUnderscoresAction: 'DROP_HEADER' },
              // Every request's route, status, timing and identity streamed to the control plane's analytics.
              accessLog: [
                {
                  name: 'envoy.access_loggers.http_grpc',
                  typedConfig: {
                    '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig',
                    commonConfig: { logName: accessLogName, grpcService: { envoyGrpc: { clusterName: xdsClusterName } }, transportApiVersion: 'V3' },
                    additionalRequestHeadersToLog: [...accessLogRequestHeaders],
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
