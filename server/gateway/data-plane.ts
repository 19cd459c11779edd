// One data plane's request path and configuration: what an in-thread gateway runs, and what each worker thread
// runs (as each Envoy worker has its own filter instances and connection pools). Listening, the admin port and the
// snapshot source belong to gateway.ts / workers/, which hold one or several of these.
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Snapshot } from '../envoy/resources.ts';
import { ConfigHolder } from './config-holder.ts';
import { DownstreamServer } from './downstream-server.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { type ModuleFetcher, ModuleCache } from './module-cache.ts';
import { createProxyHandler, type ProxyHandler } from './proxy.ts';
import type { GatewayRequestRecord } from './telemetry.ts';
import { createFetchHttpCaller } from './proxy-wasm/fetch-http-call.ts';
import { SharedDataRegistry, type SharedDataStores } from './proxy-wasm/shared-data.ts';
import { SharedQueues } from './proxy-wasm/shared-queues.ts';
import type { HttpCaller } from './proxy-wasm/types.ts';
import { buildRuntimeConfig, type RuntimeConfig } from './runtime-config.ts';
import { UpstreamPools } from './upstream-pools.ts';
import type { RandomSource } from './weighted-choice.ts';

export interface DataPlaneOptions {
  logger: Logger;
  httpCall?: HttpCaller | undefined;
  fetchModule?: ModuleFetcher | undefined;
  random?: RandomSource | undefined;
  listenerName?: string | undefined;
  onRequestComplete?: ((record: GatewayRequestRecord) => void) | undefined;
  /** Shared data (throttle and quota counters; a worker thread's is the gateway's SharedArrayBuffer store). Queues
   *  stay per data plane, hence per worker thread. @default this data plane's own, in this thread */
  sharedData?: SharedDataStores | undefined;
  /** OpenTelemetry tracer of every request (one per thread). @default no tracing */
  tracer?: Tracer | undefined;
}

export interface DataPlane {
  readonly metrics: GatewayMetrics;
  readonly handler: ProxyHandler;
  readonly current: RuntimeConfig | null;
  /** Builds a configuration without serving it; throws (logged, counted) when the snapshot cannot be built. */
  build(snapshot: Snapshot): Promise<RuntimeConfig>;
  /** Serves a built configuration: new requests take it, requests in flight finish on theirs. */
  commit(config: RuntimeConfig): void;
  /** Drops a built configuration that will not be served (closes the plugins only it created). */
  discard(config: RuntimeConfig): void;
  close(): void;
}

/** The traffic server: the one place the downstream server is created, for both thread models. TLS, HTTP/2 and
 *  WebSocket upgrades as the served listener says (downstream-server.ts). Node's default keep-alive timeout (5 s)
 *  is shorter than most clients' pools; Envoy's idle timeout is 1 h. */
export function createTrafficServer(plane: DataPlane): DownstreamServer {
  return new DownstreamServer({
    current: () => plane.current?.downstream ?? null, onRequest: plane.handler, onUpgrade: plane.handler.upgrade, keepAliveTimeoutMs: 60_000,
  });
}

export function createDataPlane(options: DataPlaneOptions): DataPlane {
  const { logger } = options;
  const metrics = new GatewayMetrics();
  const pools = new UpstreamPools();
  const modules = new ModuleCache(options.fetchModule);
  // Shared data (throttle and quota counters) and queues belong to this data plane, as to one Envoy: two
  // gateways in one process never share counters.
  const shared = { data: options.sharedData ?? new SharedDataRegistry(), queues: new SharedQueues() };
  const holder = new ConfigHolder({
    onDisposed: (_, live) => {
      pools.retain(live.flatMap((config) => [...config.clusters.values()]));
      modules.retain(new Set(live.flatMap((config) => [...config.digests])));
    },
  });
  // Policies' proxy_http_call goes to an endpoint of the named cluster of the configuration being served.
  const httpCall = options.httpCall ?? createFetchHttpCaller((name) => {
    const cluster = holder.current?.clusters.get(name);
    const endpoint = cluster?.pick();
    if (cluster === undefined || endpoint === undefined) return undefined;
    return `${cluster.tls === null ? 'http' : 'https'}://${endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}`;
  });
  const handler = createProxyHandler({
    holder, pools, metrics, logger, random: options.random ?? Math.random, onRequestComplete: options.onRequestComplete, tracer: options.tracer,
  });

  return {
    metrics,
    handler,
    get current() { return holder.current; },
    build: async (snapshot) => {
      try {
        return await buildRuntimeConfig(snapshot, {
          modules, previous: holder.current, logger, httpCall, shared,
          ...(options.listenerName === undefined ? {} : { listenerName: options.listenerName }),
        });
      } catch (error: unknown) {
        metrics.configRejected();
        logger.error({ version: snapshot.version, err: error, serving: holder.current?.version ?? null }, 'snapshot rejected, keeping the last good configuration');
        throw error;
      }
    },
    commit: (config) => {
      holder.swap(config);
      metrics.configApplied(config.version);
      logger.info({ version: config.version, filters: config.filters.length, clusters: config.clusters.size }, 'configuration applied');
    },
    discard: (config) => {
      const serving = new Set(holder.liveConfigs().flatMap((live) => [...live.plugins.values()]));
      for (const plugin of config.plugins.values()) if (!serving.has(plugin)) plugin.close();
    },
    close: () => {
      holder.close();
      pools.close();
    },
  };
}
