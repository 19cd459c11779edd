import { httpFilterOrder, policyFilters } from '../../policies/index.ts';
import { modulesByRoute } from './route-modules.ts';
import { wasmHttpFilter } from './wasm-filter.ts';
import type { IrDownstreamTls, IrSnapshot, PolicyKind, RouteSettingsByKind } from '../ir.ts';
import { accessLogName, accessLogRequestHeaders, routeConfigurationName, statPrefix, xdsClusterName } from '../names.ts';
import type { EnvoyResource } from '../../envoy/resources.ts';

/** Every data plane gets its configuration over the one ADS stream. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/config_source.proto#envoy-v3-api-msg-config-core-v3-aggregatedconfigsource */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, resourceApiVersion: 'V3' };
}

function pluginConfiguration<K extends PolicyKind>(kind: K, routes: ReadonlyMap<string, RouteSettingsByKind[K]>, ir: IrSnapshot): Record<string, unknown> {
  return policyFilters[kind].pluginConfiguration(routes, ir.tables);
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

interface ModuleRoutes {
  kind: PolicyKind;
  /** The module's settings per route it runs on. */
  routes: SortedEntries<RouteSettingsByKind[PolicyKind]>;
  /** The routes where it is the first module to run. */
  firstOn: string[];
  /** Where it is conditional: route name -> index of its verdict (docs/execution-conditions.md). */
  when: Record<string, number> | null;
}

/** Each module some route runs (modulesByRoute), in httpFilterOrder, with its routes' settings. */
function wasmFilterRoutes(ir: IrSnapshot): ModuleRoutes[] {
  const perKind = new Map<PolicyKind, ModuleRoutes>();
  for (const kind of httpFilterOrder) perKind.set(kind, { kind, routes: new SortedEntries(), firstOn: [], when: null });
  // Settings maps must be sorted by route name (routesByName), not in IR order (domain then match order).
  const { routes, modules } = modulesByRoute(ir);
  for (const route of routes) {
    const settings = route.settings as Record<PolicyKind, RouteSettingsByKind[PolicyKind]>;
    const kinds = modules.get(route.name) ?? [];
    for (let i = 0; i < kinds.length; i++) {
      const entry = perKind.get(kinds[i]!)!;
      entry.routes.push(route.name, settings[kinds[i]!]);
      if (i === 0) entry.firstOn.push(route.name);
    }
    // Each conditional module learns its verdict's index on this route (routes are visited in name order).
    const conditions = (settings as Partial<RouteSettingsByKind>).condition?.conditions ?? [];
    conditions.forEach((c, index) => {
      const entry = perKind.get(c.kind)!;
      (entry.when ??= {})[route.name] = index;
    });
  }
  return httpFilterOrder.flatMap((kind) => {
    const entry = perKind.get(kind)!;
    return entry.routes.size > 0 ? [entry] : [];
  });
}

/**
 * Who strips client-sent `x-apip-*` identity headers, per module: on each route, the first module that runs there
 * removes them before anything reads them (a later one would remove the identity the earlier ones set). A module
 * first on every route it runs on strips on every request; otherwise it gets the routes where it is first.
 * Routes no module runs on remove them in their route entry instead (envoy-routes.ts).
 */
function identityStripping(module: ModuleRoutes): Record<string, unknown> {
  if (module.firstOn.length === module.routes.size) return { stripIdentityHeaders: true };
  return module.firstOn.length === 0 ? { stripIdentityHeaders: false } : { stripIdentityHeaders: false, stripIdentityRoutes: module.firstOn };
}

/**
 * The wasm filters (in httpFilterOrder, only modules some route runs) then the router, which must be last and is
 * always on. Each wasm filter is disabled by default: a route enables the ones it runs in its
 * `typed_per_filter_config` (envoy-routes.ts), so a request passes only through its route's modules.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto#envoy-v3-api-field-extensions-filters-network-http-connection-manager-v3-httpfilter-disabled
 */
export function buildHttpFilters(ir: IrSnapshot): EnvoyResource[] {
  const filters: EnvoyResource[] = [];
  for (const module of wasmFilterRoutes(ir)) {
    const { kind, routes } = module;
    const source = ir.modules[kind]!;
    // Key-checking modules get the digest key to compute keyed digests of what clients present (secrets.ts `keyDigest`).
    const digestKey = policyFilters[kind].usesKeyDigests ? { digestKey: ir.keyDigestSecret } : {};
    const when = module.when === null ? {} : { when: module.when };
    const configuration = { ...identityStripping(module), ...when, ...digestKey, ...ir.moduleSettings?.[kind], ...pluginConfiguration(kind, routes, ir) };
    const filter = wasmHttpFilter({ name: kind, sha256: source.sha256, controlPlaneUrl: ir.controlPlane.url, controlPlaneCluster: ir.controlPlane.cluster.name }, configuration);
    filters.push({ name: filter.name, disabled: true, typedConfig: filter.typedConfig });
  }
  filters.push({ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } });
  return filters;
}

/**
 * The listener's TLS: certificate and key (and the client CA) named by file, never inline, so no key travels over
 * ADS; ALPN offers h2 then HTTP/1.1 (the HCM's AUTO codec follows what was negotiated).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/tls.proto#extensions-transport-sockets-tls-v3-downstreamtlscontext
 */
function downstreamTlsSocket(tls: IrDownstreamTls): Record<string, unknown> {
  const validation = tls.clientCert !== 'none' && tls.clientCaFile !== undefined ? { validationContext: { trustedCa: { filename: tls.clientCaFile } } } : {};
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      commonTlsContext: {
        tlsCertificates: [{ certificateChain: { filename: tls.certFile }, privateKey: { filename: tls.keyFile } }],
        alpnProtocols: ['h2', 'http/1.1'],
        ...validation,
      },
      ...(tls.clientCert === 'required' ? { requireClientCertificate: true } : {}),
    },
  };
}

/**
 * HTTP/2 limits of the connection manager: Envoy's edge recommendations (100 streams per connection, 64 KiB stream
 * and 1 MiB connection windows), so one client cannot hold unbounded streams or buffers.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge
 */
const http2ProtocolOptions = { maxConcurrentStreams: 100, initialStreamWindowSize: 65536, initialConnectionWindowSize: 1048576 };

/**
 * One listener on all interfaces whose HttpConnectionManager gets its routes by RDS. Paths are normalised
 * (RFC 3986) and repeated slashes merged before routing, so `/a/../b` or `//b` cannot slip past a route's
 * policies (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto#envoy-v3-api-field-extensions-filters-network-http-connection-manager-v3-httpconnectionmanager-normalize-path).
 */
/**
 * Envoy's OpenTelemetry tracer, to the same collector as the platform's own spans, over OTLP/HTTP (`http_service`);
 * `random_sampling` is the share of new traces the platform's sampler keeps (a sampled traceparent is followed).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/trace/v3/opentelemetry.proto
 */
function tracingOf(tracing: NonNullable<IrSnapshot['tracing']>): Record<string, unknown> {
  return {
    randomSampling: { value: tracing.samplingPercent },
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        httpService: { httpUri: { uri: tracing.url, cluster: tracing.cluster.name, timeout: '5s' } },
        serviceName: tracing.serviceName,
      },
    },
  };
}

export function buildListener(ir: IrSnapshot): EnvoyResource {
  const tls = ir.listener.tls;
  return {
    name: ir.listener.name,
    address: { socketAddress: { address: '0.0.0.0', portValue: ir.listener.port } },
    filterChains: [
      {
        ...(tls === undefined ? {} : { transportSocket: downstreamTlsSocket(tls) }),
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              statPrefix,
              codecType: 'AUTO',
              http2ProtocolOptions,
              // WebSocket upgrades are proxied (after the route's request filters), as plain HTTP/1.1 upgrades.
              upgradeConfigs: [{ upgradeType: 'websocket' }],
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
              ...(ir.tracing === undefined ? {} : { tracing: tracingOf(ir.tracing) }),
            },
          },
        ],
      },
    ],
  };
}
