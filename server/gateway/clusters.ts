// Clusters and their endpoints: STATIC / STRICT_DNS / LOGICAL_DNS with an inline load_assignment, or EDS from
// the snapshot's ClusterLoadAssignment; TLS from the `envoy.transport_sockets.tls` transport socket.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/cluster.proto
import { extensionTypeUrls } from '../envoy/resources.ts';
import { durationMs } from './duration.ts';
import type { Endpoint, UpstreamTls } from './endpoint.ts';
import { DEFAULT_PANIC_THRESHOLD_PERCENT, EndpointHealth } from './endpoint-health.ts';
import { HealthChecker, readHealthCheck } from './health-checker.ts';
import { arrayAt, ConfigError, isObject, type JsonObject, numberAt, objectAt, stringAt } from './json-fields.ts';
import { OutlierDetector, readOutlierDetection } from './outlier-detector.ts';
import { readRetryBudget, type RetryBudget } from './retry-policy.ts';

export type { Endpoint, UpstreamTls };

/** Envoy's default connect_timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export interface RuntimeCluster {
  readonly name: string;
  readonly connectTimeoutMs: number;
  readonly tls: UpstreamTls | null;
  readonly endpoints: readonly Endpoint[];
  /** Identifies the connection settings: a pool is reused across snapshots while this stays the same. */
  readonly poolKey: string;
  /** The next healthy endpoint (weighted round robin; another than `avoid` when there is one), or undefined when
   *  there is none (503 no healthy upstream). */
  pick(avoid?: Endpoint): Endpoint | undefined;
  /** Outlier detection (`outlier_detection`); null when not configured. */
  readonly outliers: OutlierDetector | null;
  readonly retryBudget: RetryBudget;
  /** What the cluster was compiled from, for clusters with state worth keeping (health, ejections, retry
   *  counters); null for the others (runtime-config.ts `reusedCluster`). */
  readonly identity: string | null;
  /** Starts the active health checks and outlier sweeps (a configuration swapped in); idempotent. */
  startUpkeep(): void;
  /** Stops them (the configuration was disposed of, or the gateway closes). */
  stopUpkeep(): void;
}

// Envoy routes no traffic to endpoints in these states.
const excludedHealth = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

function readEndpoints(assignment: JsonObject | undefined, where: string, isDns: boolean): Endpoint[] {
  if (assignment === undefined) return [];
  // Lowest priority that has endpoints (priority 0 is used while it has any).
  const byPriority = new Map<number, Endpoint[]>();
  arrayAt(assignment, 'endpoints', where).forEach((locality, l) => {
    const at = `${where}.endpoints[${l}]`;
    const priority = numberAt(locality, 'priority', at) ?? 0;
    for (const [e, lbEndpoint] of arrayAt(locality, 'lbEndpoints', at).entries()) {
      const eat = `${at}.lbEndpoints[${e}]`;
      const health = stringAt(lbEndpoint, 'healthStatus', eat);
      if (health !== undefined && excludedHealth.has(health)) continue;
      const endpoint = objectAt(lbEndpoint, 'endpoint', eat);
      const socket = endpoint === undefined ? undefined : objectAt(objectAt(endpoint, 'address', eat) ?? {}, 'socketAddress', `${eat}.endpoint.address`);
      const address = socket === undefined ? undefined : stringAt(socket, 'address', `${eat}.socketAddress`);
      const port = socket === undefined ? undefined : numberAt(socket, 'portValue', `${eat}.socketAddress`);
      if (address === undefined || port === undefined) throw new ConfigError(`${eat}.endpoint.address.socketAddress needs address and portValue`);
      const weight = numberAt(lbEndpoint, 'loadBalancingWeight', eat) ?? 1;
      const hostname = (endpoint === undefined ? undefined : stringAt(endpoint, 'hostname', eat)) ?? (isDns ? address : undefined);
      const list = byPriority.get(priority) ?? [];
      list.push({ address, port, hostname, weight: Math.max(weight, 1) });
      byPriority.set(priority, list);
    }
  });
  const priorities = [...byPriority.keys()].sort((a, b) => a - b);
  return priorities.length === 0 ? [] : byPriority.get(priorities[0] ?? 0) ?? [];
}

function readTls(cluster: JsonObject, where: string): UpstreamTls | null {
  const socket = objectAt(cluster, 'transportSocket', where);
  if (socket === undefined) return null;
  const typed = objectAt(socket, 'typedConfig', `${where}.transportSocket`);
  const type = typed?.['@type'];
  if (typed === undefined || type === extensionTypeUrls.rawBuffer) return null;
  if (type !== extensionTypeUrls.upstreamTlsContext) throw new ConfigError(`${where}.transportSocket: unsupported ${String(type)}`);
  const common = objectAt(typed, 'commonTlsContext', `${where}.transportSocket`) ?? {};
  const validation = objectAt(common, 'validationContext', `${where}.commonTlsContext`);
  const trustedCa = validation === undefined ? undefined : objectAt(validation, 'trustedCa', `${where}.validationContext`);
  return {
    sni: stringAt(typed, 'sni', `${where}.transportSocket`),
    // Without a validation context Envoy does not verify the upstream certificate:
    // https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/common.proto#extensions-transport-sockets-tls-v3-certificatevalidationcontext
    verify: trustedCa !== undefined,
    ca: trustedCa === undefined ? undefined : stringAt(trustedCa, 'inlineString', `${where}.trustedCa`),
  };
}

/** The resource and its load assignment as one string, when the cluster has health checks, outlier detection or
 *  circuit breakers; null otherwise (nothing to keep, and no string built per snapshot). */
export function clusterIdentity(cluster: JsonObject, assignments: ReadonlyMap<string, unknown>): string | null {
  if (cluster.healthChecks == null && cluster.outlierDetection == null && cluster.circuitBreakers == null) return null;
  const eds = isObject(cluster.edsClusterConfig) && typeof cluster.edsClusterConfig.serviceName === 'string' ? cluster.edsClusterConfig.serviceName : cluster.name;
  return JSON.stringify([cluster, cluster.type === 'EDS' && typeof eds === 'string' ? assignments.get(eds) ?? null : null]);
}

/** Compiles one Cluster; `assignments` are the snapshot's ClusterLoadAssignments by cluster name. */
export function compileCluster(cluster: JsonObject, assignments: ReadonlyMap<string, JsonObject>): RuntimeCluster {
  const name = stringAt(cluster, 'name', 'cluster');
  if (name === undefined || name === '') throw new ConfigError('cluster.name is required');
  const where = `cluster ${JSON.stringify(name)}`;
  // proto3 JSON omits the default enum value, STATIC.
  const type = stringAt(cluster, 'type', where) ?? 'STATIC';
  let endpoints: Endpoint[];
  if (type === 'EDS') {
    const eds = objectAt(cluster, 'edsClusterConfig', where);
    const serviceName = (eds === undefined ? undefined : stringAt(eds, 'serviceName', `${where}.edsClusterConfig`)) ?? name;
    endpoints = readEndpoints(assignments.get(serviceName), `clusterLoadAssignment ${JSON.stringify(serviceName)}`, false);
  } else if (type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    endpoints = readEndpoints(objectAt(cluster, 'loadAssignment', where), `${where}.loadAssignment`, type !== 'STATIC');
  } else {
    throw new ConfigError(`${where}: cluster type ${type} is not supported`);
  }
  const policy = stringAt(cluster, 'lbPolicy', where) ?? 'ROUND_ROBIN';
  if (policy !== 'ROUND_ROBIN' && policy !== 'LEAST_REQUEST' && policy !== 'RANDOM') {
    throw new ConfigError(`${where}: lbPolicy ${policy} is not supported`);
  }
  const tls = readTls(cluster, where);
  const connectTimeoutMs = durationMs(cluster.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS);
  const lb = objectAt(cluster, 'commonLbConfig', where);
  const panic = lb === undefined ? undefined : objectAt(lb, 'healthyPanicThreshold', `${where}.commonLbConfig`);
  const health = new EndpointHealth(endpoints, (panic === undefined ? undefined : numberAt(panic, 'value', `${where}.commonLbConfig.healthyPanicThreshold`)) ?? DEFAULT_PANIC_THRESHOLD_PERCENT);
  const checkSpec = readHealthCheck(cluster, where);
  const outlierSpec = readOutlierDetection(cluster, where);
  const outliers = outlierSpec === null ? null : new OutlierDetector(outlierSpec, health);
  let checker: HealthChecker | null = null;
  let isStopped = false;
  return {
    name,
    connectTimeoutMs,
    tls,
    endpoints,
    poolKey: JSON.stringify([name, tls]),
    pick: (avoid) => health.pick(avoid),
    outliers,
    retryBudget: readRetryBudget(cluster, where),
    identity: clusterIdentity(cluster, assignments),
    startUpkeep() {
      if (isStopped) return;
      if (checkSpec !== null && checker === null) {
        checker = new HealthChecker({ name, tls, connectTimeoutMs }, checkSpec, health);
        checker.start();
      }
      outliers?.start();
    },
    stopUpkeep() {
      isStopped = true;
      checker?.stop();
      outliers?.stop();
    },
  };
}

/** The snapshot's ClusterLoadAssignments by cluster name. */
export function indexAssignments(resources: readonly unknown[]): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const resource of resources) {
    if (!isObject(resource)) continue;
    const name = resource.clusterName;
    if (typeof name === 'string') out.set(name, resource);
  }
  return out;
}
