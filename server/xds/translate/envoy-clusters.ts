import type { IrCluster, IrSnapshot } from '../ir.ts';
import type { EnvoyResource } from '../../envoy/resources.ts';
import { protoDuration } from './durations.ts';
import { adsConfigSource } from './envoy-listener.ts';

/** Debian's CA bundle; override with `upstreamTrustedCa`. */
export const defaultTrustedCa = '/etc/ssl/certs/ca-certificates.crt';

function lbEndpoint(cluster: IrCluster): Record<string, unknown> {
  return {
    endpoint: {
      address: { socketAddress: { address: cluster.endpoint.host, portValue: cluster.endpoint.port } },
      // Used by auto_host_rewrite: "the hostname associated with this endpoint … can be used for features that
      // require a hostname, like auto_host_rewrite". https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/endpoint/v3/endpoint_components.proto#envoy-v3-api-field-config-endpoint-v3-endpoint-hostname
      hostname: cluster.endpoint.hostHeader,
    },
  };
}

export function loadAssignment(cluster: IrCluster): EnvoyResource {
  return { clusterName: cluster.name, endpoints: [{ lbEndpoints: [lbEndpoint(cluster)] }] };
}

/**
 * TLS to https upstreams: SNI (host names only: RFC 6066 forbids IP literals in SNI) and certificate
 * verification against the CA bundle and the upstream's name; without a validation context Envoy would accept
 * any certificate. https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/common.proto#envoy-v3-api-msg-extensions-transport-sockets-tls-v3-certificatevalidationcontext
 */
function tlsTransportSocket(cluster: IrCluster, trustedCa: string): Record<string, unknown> {
  const { host, isIp } = cluster.endpoint;
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(isIp ? {} : { sni: host }),
      commonTlsContext: {
        validationContext: {
          trustedCa: { filename: trustedCa },
          matchTypedSubjectAltNames: [{ sanType: isIp ? 'IP_ADDRESS' : 'DNS', matcher: { exact: host } }],
        },
      },
    },
  };
}

/**
 * Active HTTP health checks. `no_traffic_interval` is the interval too: Envoy would otherwise check a cluster that
 * has had no traffic only every 60 s, and the embedded gateway checks at `interval` always.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/health_check.proto
 */
function healthChecks(check: NonNullable<IrCluster['healthCheck']>): Record<string, unknown>[] {
  const interval = protoDuration(check.intervalMs);
  return [{
    timeout: protoDuration(check.timeoutMs),
    interval,
    unhealthyThreshold: check.unhealthyThreshold,
    healthyThreshold: check.healthyThreshold,
    noTrafficInterval: interval,
    httpHealthCheck: { ...(check.host === null ? {} : { host: check.host }), path: check.path, expectedStatuses: check.expectedStatuses },
  }];
}

/**
 * Outlier detection on consecutive 5xx and gateway failures only, both enforced (Envoy enforces
 * consecutive_gateway_failure 0 % by default); success-rate and failure-percentage ejection stay off (their
 * enforcing_* default is 0 / 100 with a minimum of hosts this model never reaches).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto
 */
function outlierDetection(o: NonNullable<IrCluster['outlierDetection']>): Record<string, unknown> {
  return {
    consecutive5xx: o.consecutive5xx,
    interval: protoDuration(o.intervalMs),
    baseEjectionTime: protoDuration(o.baseEjectionMs),
    maxEjectionPercent: o.maxEjectionPercent,
    enforcingConsecutive5xx: 100,
    enforcingSuccessRate: 0,
    consecutiveGatewayFailure: o.consecutiveGatewayFailure,
    enforcingConsecutiveGatewayFailure: 100,
  };
}

/**
 * Retries bounded by a share of the active requests instead of the fixed max_retries (3); min_retry_concurrency
 * is Envoy's default, written out. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/circuit_breaker.proto#envoy-v3-api-msg-config-cluster-v3-circuitbreakers-thresholds-retrybudget
 */
function retryBudget(percent: number): Record<string, unknown> {
  return { thresholds: [{ retryBudget: { budgetPercent: { value: percent }, minRetryConcurrency: 3 } }] };
}

/**
 * A cluster per IR cluster. The endpoint's kind picks the discovery type, because Envoy requires it:
 * "the cluster type determines whether the address must be an IP (STATIC or EDS clusters) or a hostname resolved by
 * DNS (STRICT_DNS or LOGICAL_DNS clusters)" (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/address.proto#envoy-v3-api-msg-config-core-v3-socketaddress).
 * IP literals: EDS, with a ClusterLoadAssignment resource; host names: STRICT_DNS with an inline load_assignment
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/service_discovery#strict-dns).
 */
export function buildClusters(ir: IrSnapshot, trustedCa: string): { clusters: EnvoyResource[]; loadAssignments: EnvoyResource[] } {
  const platformClusters = ir.tracing === undefined ? [ir.controlPlane.cluster] : [ir.controlPlane.cluster, ir.tracing.cluster];
  const all = [...ir.clusters, ...platformClusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const clusters: EnvoyResource[] = [];
  const loadAssignments: EnvoyResource[] = [];
  // Most clusters share their connect timeout (the default): one string per distinct value.
  const timeouts = new Map<number, string>();
  for (const cluster of all) {
    // Keys in the order of the proto3 JSON the golden files fix: name, discovery, connectTimeout, transportSocket.
    const resource: EnvoyResource = { name: cluster.name };
    if (cluster.endpoint.isIp) {
      resource.type = 'EDS';
      resource.edsClusterConfig = { edsConfig: adsConfigSource() };
      loadAssignments.push(loadAssignment(cluster));
    } else {
      resource.type = 'STRICT_DNS';
      resource.dnsLookupFamily = 'V4_PREFERRED';
      resource.loadAssignment = loadAssignment(cluster);
    }
    let timeout = timeouts.get(cluster.connectTimeoutMs);
    if (timeout === undefined) timeouts.set(cluster.connectTimeoutMs, (timeout = protoDuration(cluster.connectTimeoutMs)));
    resource.connectTimeout = timeout;
    if (cluster.retryBudgetPercent !== undefined) resource.circuitBreakers = retryBudget(cluster.retryBudgetPercent);
    if (cluster.tls) resource.transportSocket = tlsTransportSocket(cluster, trustedCa);
    if (cluster.healthCheck) resource.healthChecks = healthChecks(cluster.healthCheck);
    if (cluster.outlierDetection) resource.outlierDetection = outlierDetection(cluster.outlierDetection);
    clusters.push(resource);
  }
  return { clusters, loadAssignments };
}
