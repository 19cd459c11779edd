import { describe, expect, it } from 'vitest';
import { messageToJson } from '../../../server/envoy/proto-json.ts';
import { adsProtoRoot } from '../../../server/envoy/protos.ts';
import { createResourceCodec } from '../../../server/envoy/resource-codec.ts';
import { typeUrls } from '../../../server/envoy/resources.ts';
import {
  edsCluster, listener, loadAssignment, methodIs, route, routeConfiguration, staticCluster, wasmFilter,
} from '../../fixtures/gateway/envoy-resources.ts';
import { encodeResource } from '../../fixtures/gateway/proto-encode.ts';

const fixtures: [string, Record<string, unknown>][] = [
  [typeUrls.listener, listener([wasmFilter({ module: 'api-key', baseUrl: 'http://127.0.0.1:9090', sha256: 'a'.repeat(64), configuration: { routes: {} } })])],
  [typeUrls.routeConfiguration, routeConfiguration([{
    name: 'default', domains: ['*'],
    routes: [
      route({ name: 'books/GET/books/{id}', match: { safeRegex: { regex: '^/books/[^/]+$' }, headers: [methodIs('GET')] }, cluster: 'books', timeout: '1.500s', regexRewrite: { regex: '^/books', substitution: '/v1/books' } }),
      route({ name: 'books/GET/books', match: { prefix: '/books', caseSensitive: false }, weightedClusters: [{ name: 'a', weight: 80 }, { name: 'b', weight: 20 }], prefixRewrite: '/', autoHostRewrite: true }),
    ],
  }])],
  [typeUrls.cluster, staticCluster('books', [{ address: 'example.com', port: 443, weight: 3 }], { type: 'STRICT_DNS', tls: { sni: 'example.com' } })],
  [typeUrls.cluster, edsCluster('eds')],
  // Upstream resilience, with the two `_5xx` fields under their proto3 JSON names (consecutive5xx).
  [typeUrls.cluster, {
    ...staticCluster('resilient', [{ address: '127.0.0.1', port: 8080 }]),
    circuitBreakers: { thresholds: [{ retryBudget: { budgetPercent: { value: 25 }, minRetryConcurrency: 3 } }] },
    healthChecks: [{ timeout: '1s', interval: '2s', unhealthyThreshold: 2, healthyThreshold: 1, noTrafficInterval: '2s', httpHealthCheck: { path: '/healthz', expectedStatuses: [{ start: '200', end: '400' }] } }],
    outlierDetection: { consecutive5xx: 3, interval: '10s', baseEjectionTime: '15s', maxEjectionPercent: 50, enforcingConsecutive5xx: 100, consecutiveGatewayFailure: 5, enforcingConsecutiveGatewayFailure: 100 },
  }],
  [typeUrls.clusterLoadAssignment, loadAssignment('eds', [{ address: '127.0.0.1', port: 8081, hostname: 'local' }])],
];

describe('proto-json', () => {
  it.each(fixtures)('decodes %s to the same proto3 JSON the fixture was encoded from', (typeUrl, json) => {
    const root = adsProtoRoot();
    const bytes = encodeResource(root, typeUrl, json);
    const any = { type_url: typeUrl, value: bytes };
    const decoded = messageToJson(root.lookupType('google.protobuf.Any'), any, root) as Record<string, unknown>;
    expect(decoded).toEqual({ '@type': typeUrl, ...json });
  });

  it.each(fixtures)('encodes %s from proto3 JSON and decodes it back unchanged', (typeUrl, json) => {
    const codec = createResourceCodec(adsProtoRoot());
    expect(codec.decode(typeUrl, codec.encode(typeUrl, json))).toEqual(json);
  });

  it('rejects a fixture field Envoy does not know when encoding', () => {
    expect(() => encodeResource(adsProtoRoot(), typeUrls.cluster, { name: 'x', connectTimeoutMs: 5 })).toThrow(/unknown field connectTimeoutMs/);
  });
});
