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
    if (cluster.tls) resource.transportSocket = tlsTransportSocket(cluster, trustedCa);
    clusters.push(resource);
  }
  return { clusters, loadAssignments };
}
