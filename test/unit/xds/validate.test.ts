import { describe, expect, it } from 'vitest';
import { emptyResources } from '../../../server/envoy/resources.ts';
import { validateMessage, validateResources } from '../../../server/xds/validate.ts';

const cluster = {
  name: 'c',
  type: 'STRICT_DNS',
  connectTimeout: '5s',
  loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'a.example', portValue: 80 } } } }] }] },
};

describe('validateResources (strict Envoy proto check)', () => {
  it('accepts a well-formed cluster', () => {
    expect(validateResources({ ...emptyResources(), cluster: [cluster] })).toEqual([]);
  });

  it('rejects an unknown field', () => {
    const issues = validateResources({ ...emptyResources(), cluster: [{ ...cluster, connectTimeoutMs: 5000 }] });
    expect(issues).toEqual([expect.objectContaining({ resource: 'cluster/c', path: 'connectTimeoutMs' })]);
  });

  it('rejects snake_case names with a hint', () => {
    const issues = validateMessage('envoy.config.cluster.v3.Cluster', { ...cluster, connect_timeout: '1s' });
    expect(issues[0]?.message).toContain('connectTimeout');
  });

  it('rejects a value of the wrong type and an unknown enum value', () => {
    const bad = { ...cluster, connectTimeout: 5, type: 'DNS' };
    const paths = validateMessage('envoy.config.cluster.v3.Cluster', bad).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['connectTimeout', 'type']));
    const port = validateMessage('envoy.config.core.v3.SocketAddress', { address: 'x', portValue: '80' });
    expect(port.map((i) => i.path)).toEqual(['portValue']);
  });

  it('rejects an unresolvable @type and checks the message inside a resolvable one', () => {
    const unknown = { name: 't', typedConfig: { '@type': 'type.googleapis.com/envoy.nope.v3.Nothing' } };
    expect(validateMessage('envoy.config.core.v3.TransportSocket', unknown)[0]?.message).toContain('unresolvable type');
    const inner = { name: 't', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sniName: 'x' } };
    expect(validateMessage('envoy.config.core.v3.TransportSocket', inner).map((i) => i.path)).toEqual(['typedConfig.sniName']);
  });

  it('enforces Envoy validation rules: required oneofs, non-empty names, one member per oneof', () => {
    const noPath = { name: 'r', route: { cluster: 'c' }, match: {} };
    expect(validateMessage('envoy.config.route.v3.Route', noPath).map((i) => i.message)).toEqual([expect.stringContaining('one of prefix, path')]);
    expect(validateMessage('envoy.config.cluster.v3.Cluster', { ...cluster, name: undefined }).length).toBeGreaterThan(0);
    const both = { path: '/a', prefix: '/' };
    expect(validateMessage('envoy.config.route.v3.RouteMatch', both)[0]?.message).toContain('only one of');
  });
});
