import { listenerName, routeConfigurationName } from '../../../server/xds/names.ts';
import type { EnvoyResources } from '../../../server/envoy/resources.ts';

/**
 * A small but real Envoy configuration in proto3 JSON, as the translator emits it: one listener (HCM over RDS),
 * one route configuration routing to each upstream, one STRICT_DNS cluster per upstream and one EDS cluster
 * with its ClusterLoadAssignment. `upstreams` become cluster names.
 */
export function sampleResources(upstreams: readonly string[], options: { port?: number } = {}): EnvoyResources {
  const names = [...upstreams].sort();
  return {
    listener: [
      {
        name: listenerName,
        address: { socketAddress: { address: '0.0.0.0', portValue: options.port ?? 8080 } },
        filterChains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typedConfig: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                  statPrefix: 'apip',
                  rds: { routeConfigName: routeConfigurationName, configSource: { ads: {}, resourceApiVersion: 'V3' } },
                  httpFilters: [
                    {
                      name: 'envoy.filters.http.router',
                      typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                    },
                  ],
                  streamIdleTimeout: '300s',
                },
              },
            ],
          },
        ],
      },
    ],
    routeConfiguration: [
      {
        name: routeConfigurationName,
        virtualHosts: [
          {
            name: 'vhost/*',
            domains: ['*'],
            routes: names.map((cluster) => ({
              name: `${cluster}/GET/`,
              match: { prefix: `/${cluster}` },
              route: { cluster, timeout: '15s' },
            })),
          },
        ],
      },
    ],
    cluster: [
      {
        name: 'eds/backend',
        type: 'EDS',
        connectTimeout: '0.250s',
        edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
      },
      ...names.map((cluster) => ({
        name: cluster,
        type: 'STRICT_DNS',
        connectTimeout: '5s',
        perConnectionBufferLimitBytes: 32768,
        loadAssignment: {
          clusterName: cluster,
          endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9000 } } } }] }],
        },
      })),
    ].sort((a, b) => a.name.localeCompare(b.name)),
    clusterLoadAssignment: [
      {
        clusterName: 'eds/backend',
        endpoints: [
          {
            lbEndpoints: names.map((cluster, index) => ({
              endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9100 + index } }, hostname: cluster },
              loadBalancingWeight: 1 + index,
            })),
          },
        ],
      },
    ],
  };
}
