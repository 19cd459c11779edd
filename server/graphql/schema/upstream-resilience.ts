// The Api's upstreamResilience: types and inputs (used by apis.ts). Field docs name the Envoy setting each becomes.
import {
  type HealthCheck,
  type OutlierDetection,
  retryConditions,
  type RetryPolicy,
  type StatusRange,
  type UpstreamResilience,
  type UpstreamResilienceInput,
} from '../../domain/apis/index.ts';
import { builder } from '../builder.ts';

export const RetryConditionEnum = builder.enumType('RetryCondition', {
  description: 'When a route retries (Envoy `retry_on`).',
  values: {
    [retryConditions[0]]: { description: 'The connection to the upstream could not be made (`connect-failure`).' },
    [retryConditions[1]]: { description: 'The upstream refused the HTTP/2 stream (`refused-stream`).' },
    [retryConditions[2]]: { description: 'The upstream reset or closed the connection before answering (`reset`).' },
    [retryConditions[3]]: { description: 'The upstream answered 503 (`retriable-status-codes` with 503).' },
    [retryConditions[4]]: { description: 'The upstream answered 502, 503 or 504 (`gateway-error`).' },
  } as const,
});

const StatusRangeRef = builder.objectRef<StatusRange>('StatusRange').implement({
  description: 'Inclusive HTTP status range.',
  fields: (t) => ({ start: t.exposeInt('start'), end: t.exposeInt('end') }),
});

const HealthCheckRef = builder.objectRef<HealthCheck>('HealthCheck').implement({
  description: 'Active HTTP health check of every endpoint (Envoy cluster `health_checks[].http_health_check`).',
  fields: (t) => ({
    path: t.exposeString('path'),
    host: t.exposeString('host', { nullable: true, description: 'Host header of the check; null: the cluster name.' }),
    intervalSeconds: t.exposeInt('intervalSeconds'),
    timeoutSeconds: t.exposeInt('timeoutSeconds'),
    unhealthyThreshold: t.exposeInt('unhealthyThreshold', { description: 'Failed checks in a row before the endpoint takes no traffic.' }),
    healthyThreshold: t.exposeInt('healthyThreshold', { description: 'Passed checks in a row before it takes traffic again.' }),
    expectedStatuses: t.field({ type: [StatusRangeRef], resolve: (h) => h.expectedStatuses }),
  }),
});

const OutlierDetectionRef = builder.objectRef<OutlierDetection>('OutlierDetection').implement({
  description: 'Passive ejection of endpoints that keep failing (Envoy cluster `outlier_detection`).',
  fields: (t) => ({
    consecutive5xx: t.exposeInt('consecutive5xx'),
    consecutiveGatewayFailure: t.exposeInt('consecutiveGatewayFailure', { description: '502/503/504 or connect failures in a row.' }),
    intervalSeconds: t.exposeInt('intervalSeconds'),
    baseEjectionSeconds: t.exposeInt('baseEjectionSeconds', { description: 'An ejection lasts this × the times the endpoint was ejected.' }),
    maxEjectionPercent: t.exposeInt('maxEjectionPercent', { description: 'At most this share of the endpoints is ejected (at least one).' }),
  }),
});

const RetryPolicyRef = builder.objectRef<RetryPolicy>('RetryPolicy').implement({
  description: 'Retries of every route of the API (Envoy route `retry_policy`, cluster `retry_budget`).',
  fields: (t) => ({
    on: t.field({ type: [RetryConditionEnum], resolve: (r) => r.on }),
    numRetries: t.exposeInt('numRetries'),
    perTryTimeoutMs: t.exposeInt('perTryTimeoutMs', { nullable: true, description: 'null: only the route timeout.' }),
    budgetPercent: t.exposeInt('budgetPercent', { description: 'Share of active requests that may be retries.' }),
  }),
});

export const UpstreamResilienceRef = builder.objectRef<UpstreamResilience>('UpstreamResilience').implement({
  description: 'Health checks, outlier detection and retries of the API’s upstreams (docs/gateway.md "Upstream resilience").',
  fields: (t) => ({
    healthCheck: t.field({ type: HealthCheckRef, nullable: true, resolve: (r) => r.healthCheck }),
    outlierDetection: t.field({ type: OutlierDetectionRef, nullable: true, resolve: (r) => r.outlierDetection }),
    retry: t.field({ type: RetryPolicyRef, nullable: true, resolve: (r) => r.retry }),
  }),
});

const StatusRangeInput = builder.inputType('StatusRangeInput', { fields: (t) => ({ start: t.int(), end: t.int() }) });

const HealthCheckInput = builder.inputType('HealthCheckInput', {
  fields: (t) => ({
    path: t.string({ description: "Starts with '/'." }),
    host: t.string({ required: false }),
    intervalSeconds: t.int({ required: false, description: '≥ 1. Default 10.' }),
    timeoutSeconds: t.int({ required: false, description: 'Less than intervalSeconds. Default 5.' }),
    unhealthyThreshold: t.int({ required: false, description: '≥ 1. Default 3.' }),
    healthyThreshold: t.int({ required: false, description: '≥ 1. Default 2.' }),
    expectedStatuses: t.field({ type: [StatusRangeInput], required: false, description: 'Default 200-399.' }),
  }),
});

const OutlierDetectionInput = builder.inputType('OutlierDetectionInput', {
  fields: (t) => ({
    consecutive5xx: t.int({ required: false, description: '≥ 1. Default 5.' }),
    consecutiveGatewayFailure: t.int({ required: false, description: '≥ 1. Default 5.' }),
    intervalSeconds: t.int({ required: false, description: '≥ 1. Default 10.' }),
    baseEjectionSeconds: t.int({ required: false, description: '≥ 1. Default 30.' }),
    maxEjectionPercent: t.int({ required: false, description: '0-100. Default 10.' }),
  }),
});

const RetryPolicyInput = builder.inputType('RetryPolicyInput', {
  fields: (t) => ({
    on: t.field({ type: [RetryConditionEnum], required: false, description: 'Default CONNECT_FAILURE, UNAVAILABLE_503.' }),
    numRetries: t.int({ required: false, description: '0-10. Default 1.' }),
    perTryTimeoutMs: t.int({ required: false }),
    budgetPercent: t.int({ required: false, description: '0-100. Default 20.' }),
  }),
});

export const UpstreamResilienceInputRef = builder.inputType('UpstreamResilienceInput', {
  fields: (t) => ({
    healthCheck: t.field({ type: HealthCheckInput, required: false }),
    outlierDetection: t.field({ type: OutlierDetectionInput, required: false }),
    retry: t.field({ type: RetryPolicyInput, required: false }),
  }),
});

/** GraphQL input -> domain input (same shape; the domain validates ranges). */
export function toUpstreamResilienceInput(input: typeof UpstreamResilienceInputRef.$inferInput | null | undefined): UpstreamResilienceInput | null | undefined {
  return input as UpstreamResilienceInput | null | undefined;
}
