// A Snapshot compiled into what the proxy needs per request: the route table of the listener's route
// configuration, the clusters, and the wasm filter chain with running plugins. Immutable once built; a new
// snapshot builds a new one. Plugins whose module digest, VM id and configurations are unchanged are taken over
// from the previous configuration as they are, unless their VM failed; anything else gets a new plugin (a new VM instance of the cached
// module) so requests in flight on the old configuration keep the plugin they started with. Shared data is per VM
// id in the data plane's registry (BuildDependencies.shared), so counters carry over either way.
import type { Snapshot } from '../envoy/resources.ts';
import { clusterIdentity, compileCluster, indexAssignments, type RuntimeCluster } from './clusters.ts';
import type { ChainFilter } from './filter-chain.ts';
import { readListener, type WasmFilterSpec } from './http-filters.ts';
import { ConfigError, isObject } from './json-fields.ts';
import { ModuleCache } from './module-cache.ts';
import type { PathNormalization } from './path-normalize.ts';
import { loadPlugin, type Plugin } from './proxy-wasm/plugin.ts';
import type { SharedDataStores } from './proxy-wasm/shared-data.ts';
import type { SharedQueues } from './proxy-wasm/shared-queues.ts';
import type { HttpCaller, PolicyLogger } from './proxy-wasm/types.ts';
import type { HeadersWithUnderscores } from './http-headers.ts';
import { type DownstreamSettings, readDownstream } from './downstream-listener.ts';
import { type ListenerFilter, RouteFilters } from './route-filters.ts';
import { compileRouteTable, type RouteTable } from './route-table.ts';

export interface RuntimeConfig {
  readonly version: string;
  readonly listenerName: string;
  readonly routes: RouteTable;
  /** HCM path normalisation applied before filters and routing. */
  readonly pathNormalization: PathNormalization;
  /** HCM `headers_with_underscores_action`, applied as the request head is read. */
  readonly headersWithUnderscores: HeadersWithUnderscores;
  /** What the server accepting connections is made of: TLS, HTTP/2 limits, WebSocket upgrades. */
  readonly downstream: DownstreamSettings;
  readonly clusters: ReadonlyMap<string, RuntimeCluster>;
  /** Wasm filters in chain order (the router is implied last), those disabled by default included. */
  readonly filters: readonly ChainFilter[];
  /** The filters each route runs (`routeFilters.of(route)`). */
  readonly routeFilters: RouteFilters;
  /** Running plugins by identity (digest, VM, configurations), for reuse by the next configuration. */
  readonly plugins: ReadonlyMap<string, Plugin>;
  /** Module digests in use (the module cache keeps these). */
  readonly digests: ReadonlySet<string>;
}

export interface BuildDependencies {
  modules: ModuleCache;
  previous: RuntimeConfig | null;
  logger: PolicyLogger;
  httpCall?: HttpCaller;
  /** The listener to serve. @default the first listener with an HttpConnectionManager */
  listenerName?: string;
  /** This data plane's shared data (one store per VM id) and queues. @default the process-wide ones */
  shared?: { data: SharedDataStores; queues: SharedQueues };
}

function pluginIdentity(spec: WasmFilterSpec): string {
  return JSON.stringify([ModuleCache.digestOf(spec.code), spec.vmId, spec.rootId, spec.pluginName, spec.vmConfiguration, spec.configuration]);
}

async function buildFilter(spec: WasmFilterSpec, deps: BuildDependencies, created: Map<string, Plugin>): Promise<ChainFilter | null> {
  const identity = pluginIdentity(spec);
  // A plugin whose VM failed is not carried over: the swap starts a new one, as cpp-host's
  // getOrCreateThreadLocalPlugin drops a failed VM from its cache and clones a fresh one for the next plugin.
  const previous = deps.previous?.plugins.get(identity);
  const reused = created.get(identity) ?? (previous?.isFailed === true ? undefined : previous);
  const failed = (reason: string): ChainFilter | null => {
    deps.logger.error({ filter: spec.filterName, plugin: spec.pluginName, reason }, 'wasm filter could not be loaded');
    // PluginConfig.fail_open: bypass the filter instead of failing requests.
    // https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto#extensions-wasm-v3-pluginconfig
    return spec.failOpen ? null : { kind: 'failed', name: spec.filterName, reason };
  };
  let plugin = reused;
  if (plugin === undefined) {
    try {
      const module = await deps.modules.get(spec.code);
      plugin = await loadPlugin({
        name: spec.pluginName,
        wasm: module,
        configuration: spec.configuration,
        vmConfiguration: spec.vmConfiguration,
        vmId: spec.vmId,
        rootId: spec.rootId,
        logger: deps.logger,
        ...(deps.httpCall === undefined ? {} : { httpCall: deps.httpCall }),
        ...(deps.shared === undefined ? {} : { sharedData: deps.shared.data.forVm(spec.vmId), queues: deps.shared.queues }),
      });
    } catch (error: unknown) {
      return failed(error instanceof Error ? error.message : String(error));
    }
  }
  created.set(identity, plugin);
  // A refused configuration already fails closed inside the host; fail_open skips the plugin instead.
  if (!plugin.isConfigured && spec.failOpen) return null;
  return { kind: 'plugin', name: spec.filterName, plugin };
}

/**
 * The previous configuration's cluster when this resource (and its load assignment) is the same: a cluster with
 * health checks, outlier detection or a retry budget keeps its endpoints' health, ejections and counters across
 * snapshots that leave it alone, as an Envoy cluster CDS does not change (config-holder.ts counts its users).
 */
function reusedCluster(resource: unknown, assignments: ReadonlyMap<string, unknown>, previous: RuntimeConfig | null): RuntimeCluster | undefined {
  if (previous === null || !isObject(resource) || typeof resource.name !== 'string') return undefined;
  const old = previous.clusters.get(resource.name);
  if (old === undefined || old.identity === null) return undefined;
  return old.identity === clusterIdentity(resource, assignments) ? old : undefined;
}

/** Builds a runtime configuration; throws ConfigError / RegexError when the snapshot cannot be served. A module
 *  that cannot be fetched or does not match its digest does not fail the build: its filter fails closed. */
export async function buildRuntimeConfig(snapshot: Snapshot, deps: BuildDependencies): Promise<RuntimeConfig> {
  const { resources } = snapshot;
  const listener = readListener(resources.listener, deps.listenerName);
  let routeConfig = listener.inlineRouteConfig;
  if (listener.routeConfigName !== null) {
    routeConfig = resources.routeConfiguration.find((config) => config.name === listener.routeConfigName) ?? null;
    if (routeConfig === null) throw new ConfigError(`route configuration ${JSON.stringify(listener.routeConfigName)} is not in the snapshot`);
  }
  if (!isObject(routeConfig)) throw new ConfigError('no route configuration');
  const routes = compileRouteTable(routeConfig);
  const downstream = await readDownstream(listener.filterChain, listener.hcm, listener.where);
  const assignments = indexAssignments(resources.clusterLoadAssignment);
  const clusters = new Map<string, RuntimeCluster>();
  for (const resource of resources.cluster) {
    const cluster = reusedCluster(resource, assignments, deps.previous) ?? compileCluster(resource, assignments);
    if (clusters.has(cluster.name)) throw new ConfigError(`cluster ${JSON.stringify(cluster.name)} is defined twice`);
    clusters.set(cluster.name, cluster);
  }
  const created = new Map<string, Plugin>();
  const filters: ListenerFilter[] = [];
  // Sequential on purpose: the chain order is the listener's filter order, and identical filters share a plugin.
  for (const spec of listener.wasmFilters) {
    const filter = await buildFilter(spec, deps, created);
    if (filter !== null) filters.push({ filter, isDisabled: spec.isDisabled });
  }
  return {
    version: snapshot.version,
    listenerName: listener.listenerName,
    routes,
    pathNormalization: listener.pathNormalization,
    headersWithUnderscores: listener.headersWithUnderscores,
    downstream,
    clusters,
    filters: filters.map((entry) => entry.filter),
    routeFilters: new RouteFilters(filters),
    plugins: created,
    digests: new Set(listener.wasmFilters.map((spec) => ModuleCache.digestOf(spec.code))),
  };
}
