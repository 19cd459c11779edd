import { describe, expect, it } from 'vitest';
import { compileCluster, indexAssignments } from '../../../server/gateway/clusters.ts';
import { edsCluster, loadAssignment, staticCluster } from '../../fixtures/gateway/envoy-resources.ts';

describe('compileCluster', () => {
  it('takes EDS endpoints from the ClusterLoadAssignment of the same name', () => {
    const cluster = compileCluster(edsCluster('books'), indexAssignments([loadAssignment('books', [{ address: '10.0.0.1', port: 80 }])]));
    expect(cluster.endpoints.map((endpoint) => `${endpoint.address}:${endpoint.port}`)).toEqual(['10.0.0.1:80']);
  });

  it('has no endpoint when the EDS assignment is missing', () => {
    expect(compileCluster(edsCluster('books'), new Map()).pick()).toBeUndefined();
  });

  it('reads TLS with SNI, connect timeout, and uses the DNS name for auto host rewrite', () => {
    const cluster = compileCluster(staticCluster('api', [{ address: 'api.example.com', port: 443 }], { type: 'STRICT_DNS', connectTimeout: '0.250s', tls: { sni: 'api.example.com' } }), new Map());
    expect(cluster.tls).toEqual({ sni: 'api.example.com', verify: false, ca: undefined });
    expect(cluster.connectTimeoutMs).toBe(250);
    expect(cluster.pick()?.hostname).toBe('api.example.com');
  });

  it('picks endpoints by load_balancing_weight', () => {
    const cluster = compileCluster(staticCluster('w', [{ address: 'a', port: 1, weight: 3 }, { address: 'b', port: 1, weight: 1 }]), new Map());
    const picks = Array.from({ length: 8 }, () => cluster.pick()?.address);
    expect(picks.filter((address) => address === 'a')).toHaveLength(6);
  });

  it('skips unhealthy endpoints and uses the lowest priority that has endpoints', () => {
    const cluster = compileCluster({
      name: 'p',
      loadAssignment: {
        clusterName: 'p',
        endpoints: [
          { priority: 1, lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'backup', portValue: 1 } } } }] },
          { lbEndpoints: [
            { endpoint: { address: { socketAddress: { address: 'sick', portValue: 1 } } }, healthStatus: 'UNHEALTHY' },
            { endpoint: { address: { socketAddress: { address: 'main', portValue: 1 } } } },
          ] },
        ],
      },
    }, new Map());
    expect(cluster.endpoints.map((endpoint) => endpoint.address)).toEqual(['main']);
  });

  it('refuses a cluster type it cannot serve', () => {
    expect(() => compileCluster({ name: 'x', type: 'ORIGINAL_DST' }, new Map())).toThrow(/not supported/);
  });
});
