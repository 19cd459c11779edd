import { describe, expect, it } from 'vitest';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

const options = { controlPlaneUrl: 'http://control-plane:9090', listenerPort: 8080, keyDigestSecret: '0123456789abcdef'.repeat(4), modules: {} };

type Json = Record<string, unknown>;

function translated(upstreamResilience: unknown) {
  const model = modelFromYaml({
    apis: [{ handle: 'r', accessMode: 'OPEN', context: '/r', upstream: { main: { url: 'http://10.0.0.1:8080' } }, upstreamResilience, operations: [{ method: 'GET', path: '/x' }] }],
  });
  const { resources } = translate(model, options);
  expect(validateResources(resources)).toEqual([]);
  const cluster = (resources.cluster as Json[]).find((c) => c.name === 'api/r/main')!;
  const [config] = resources.routeConfiguration as Json[];
  const route = (config!.virtualHosts as { routes: Json[] }[]).flatMap((v) => v.routes).find((r) => r.name === 'r/GET/x')!;
  return { cluster, action: route.route as Json };
}

describe('upstream resilience in the generated Envoy configuration', () => {
  it('spells every retry condition as Envoy does and lists 503 as the retriable status', () => {
    const { action } = translated({ retry: { on: ['UNAVAILABLE_503', 'GATEWAY_ERROR', 'REFUSED_STREAM', 'RESET', 'CONNECT_FAILURE'], numRetries: 4, perTryTimeoutMs: 250 } });
    expect(action.retryPolicy).toEqual({
      retryOn: 'connect-failure,gateway-error,refused-stream,reset,retriable-status-codes',
      numRetries: 4,
      perTryTimeout: '0.250s',
      retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
      hostSelectionRetryMaxAttempts: 3,
      retriableStatusCodes: [503],
    });
  });

  it('writes the retry budget on the cluster and enforces both outlier detectors', () => {
    const { cluster } = translated({ retry: { budgetPercent: 35 }, outlierDetection: { consecutiveGatewayFailure: 2 } });
    expect(cluster.circuitBreakers).toEqual({ thresholds: [{ retryBudget: { budgetPercent: { value: 35 }, minRetryConcurrency: 3 } }] });
    expect(cluster.outlierDetection).toMatchObject({ consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100, enforcingConsecutive5xx: 100 });
  });

  it('turns inclusive status ranges into Envoy’s half-open ones', () => {
    const { cluster } = translated({ healthCheck: { path: '/h', expectedStatuses: [{ start: 200, end: 299 }] } });
    const [check] = cluster.healthChecks as Json[];
    expect((check!.httpHealthCheck as Json).expectedStatuses).toEqual([{ start: 200, end: 300 }]);
  });

  it('adds none of these fields to an API without upstreamResilience', () => {
    const { cluster, action } = translated(undefined);
    expect(cluster.healthChecks).toBeUndefined();
    expect(cluster.outlierDetection).toBeUndefined();
    expect(cluster.circuitBreakers).toBeUndefined();
    expect(action.retryPolicy).toBeUndefined();
  });
});
