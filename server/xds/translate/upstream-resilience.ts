import type { IrCluster, IrRetryPolicy } from '../ir.ts';
import type { DeployedApi } from '../../domain/deployment-model.ts';
import type { RetryCondition } from '../../domain/apis/index.ts';

/** Each condition as Envoy spells it in `retry_on` (x-envoy-retry-on). https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on */
const envoyRetryOn: Record<RetryCondition, string> = {
  CONNECT_FAILURE: 'connect-failure',
  REFUSED_STREAM: 'refused-stream',
  RESET: 'reset',
  UNAVAILABLE_503: 'retriable-status-codes',
  GATEWAY_ERROR: 'gateway-error',
};

/** What an API's clusters carry: health check, outlier detection, retry budget (none when not configured). */
export function clusterResilience(api: DeployedApi): Pick<IrCluster, 'healthCheck' | 'outlierDetection' | 'retryBudgetPercent'> {
  const r = api.upstreamResilience;
  if (!r) return {};
  const out: Pick<IrCluster, 'healthCheck' | 'outlierDetection' | 'retryBudgetPercent'> = {};
  if (r.healthCheck) {
    const h = r.healthCheck;
    out.healthCheck = {
      path: h.path,
      host: h.host,
      intervalMs: h.intervalSeconds * 1000,
      timeoutMs: h.timeoutSeconds * 1000,
      unhealthyThreshold: h.unhealthyThreshold,
      healthyThreshold: h.healthyThreshold,
      // The model's ranges are inclusive; Envoy's Int64Range excludes its end.
      expectedStatuses: h.expectedStatuses.map((s) => ({ start: s.start, end: s.end + 1 })),
    };
  }
  if (r.outlierDetection) {
    const o = r.outlierDetection;
    out.outlierDetection = {
      consecutive5xx: o.consecutive5xx,
      consecutiveGatewayFailure: o.consecutiveGatewayFailure,
      intervalMs: o.intervalSeconds * 1000,
      baseEjectionMs: o.baseEjectionSeconds * 1000,
      maxEjectionPercent: o.maxEjectionPercent,
    };
  }
  if (r.retry) out.retryBudgetPercent = r.retry.budgetPercent;
  return out;
}

/** The API's routes' retry policy, or undefined. */
export function routeRetry(api: DeployedApi): IrRetryPolicy | undefined {
  const retry = api.upstreamResilience?.retry;
  if (!retry) return undefined;
  const on = [...retry.on].sort().map((c) => envoyRetryOn[c]);
  return {
    retryOn: on.join(','),
    retriableStatusCodes: retry.on.includes('UNAVAILABLE_503') ? [503] : [],
    numRetries: retry.numRetries,
    perTryTimeoutMs: retry.perTryTimeoutMs,
  };
}
