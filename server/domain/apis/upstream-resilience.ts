import type { FieldIssue } from '../errors.ts';
import { isRecord } from '../../json/is-record.ts';

/**
 * Per API upstream resilience: active HTTP health checks, outlier detection and the retry policy of its routes.
 * Each part is optional; a part given is stored with every field filled in (Envoy-like defaults below), so what a
 * client reads back is what the data planes do. Translated to Envoy's Cluster `health_checks`, `outlier_detection`,
 * `circuit_breakers.thresholds[].retry_budget` and Route `retry_policy` (server/xds/translate/).
 */

/** Inclusive status range, e.g. 200-399 (Envoy's Int64Range is half-open; the translator adds 1). */
export interface StatusRange {
  start: number;
  end: number;
}

export interface HealthCheck {
  /** Path requested from every endpoint, e.g. `/healthz`. */
  path: string;
  /** Host header of the check; null: the cluster name (Envoy's default). */
  host: string | null;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Failed checks in a row before an endpoint is taken out. */
  unhealthyThreshold: number;
  /** Passed checks in a row before it is taken back. */
  healthyThreshold: number;
  expectedStatuses: StatusRange[];
}

export interface OutlierDetection {
  /** 5xx answers in a row (connect failures and resets count, as in Envoy) before ejection. */
  consecutive5xx: number;
  /** 502/503/504 answers or connect failures in a row before ejection. */
  consecutiveGatewayFailure: number;
  intervalSeconds: number;
  /** An ejection lasts this × the number of times the endpoint was ejected. */
  baseEjectionSeconds: number;
  /** At most this share of a cluster's endpoints is ejected at once (at least one, as in Envoy). */
  maxEjectionPercent: number;
}

export const retryConditions = ['CONNECT_FAILURE', 'REFUSED_STREAM', 'RESET', 'UNAVAILABLE_503', 'GATEWAY_ERROR'] as const;
export type RetryCondition = (typeof retryConditions)[number];

export interface RetryPolicy {
  on: RetryCondition[];
  numRetries: number;
  /** Timeout of each try; null: the route timeout only. */
  perTryTimeoutMs: number | null;
  /** Share of the cluster's active requests that may be retries (Envoy `retry_budget.budget_percent`). */
  budgetPercent: number;
}

export interface UpstreamResilience {
  healthCheck: HealthCheck | null;
  outlierDetection: OutlierDetection | null;
  retry: RetryPolicy | null;
}

export interface UpstreamResilienceInput {
  healthCheck?: Partial<HealthCheck> | null;
  outlierDetection?: Partial<OutlierDetection> | null;
  retry?: Partial<RetryPolicy> | null;
}

export const noResilience: UpstreamResilience = { healthCheck: null, outlierDetection: null, retry: null };

export const healthCheckDefaults: Omit<HealthCheck, 'path'> = {
  host: null,
  intervalSeconds: 10,
  timeoutSeconds: 5,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
  expectedStatuses: [{ start: 200, end: 399 }],
};

/** Envoy's own defaults (outlier_detection.proto), except that ejection is always enforced. */
export const outlierDetectionDefaults: OutlierDetection = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  intervalSeconds: 10,
  baseEjectionSeconds: 30,
  maxEjectionPercent: 10,
};

/** Envoy's num_retries default (1) and retry_budget default (20 %); retry on connect failure and 503. */
export const retryDefaults: RetryPolicy = {
  on: ['CONNECT_FAILURE', 'UNAVAILABLE_503'],
  numRetries: 1,
  perTryTimeoutMs: null,
  budgetPercent: 20,
};

function checkInt(value: unknown, path: string, min: number, max: number, issues: FieldIssue[]): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    issues.push({ path, message: `${path.split('.').pop()} must be an integer from ${min} to ${max}` });
  }
}

function checkHealthCheck(value: unknown, at: string, issues: FieldIssue[]): void {
  if (!isRecord(value)) {
    issues.push({ path: at, message: 'healthCheck must be an object' });
    return;
  }
  if (typeof value.path !== 'string' || !value.path.startsWith('/') || /\s/.test(value.path)) {
    issues.push({ path: `${at}.path`, message: "path must start with '/' and hold no whitespace" });
  }
  if (value.host !== undefined && value.host !== null && (typeof value.host !== 'string' || !/^[A-Za-z0-9.:[\]-]{1,253}$/.test(value.host))) {
    issues.push({ path: `${at}.host`, message: 'host must be a host name' });
  }
  checkInt(value.intervalSeconds, `${at}.intervalSeconds`, 1, 3600, issues);
  checkInt(value.timeoutSeconds, `${at}.timeoutSeconds`, 1, 3600, issues);
  checkInt(value.unhealthyThreshold, `${at}.unhealthyThreshold`, 1, 100, issues);
  checkInt(value.healthyThreshold, `${at}.healthyThreshold`, 1, 100, issues);
  const interval = typeof value.intervalSeconds === 'number' ? value.intervalSeconds : healthCheckDefaults.intervalSeconds;
  const timeout = typeof value.timeoutSeconds === 'number' ? value.timeoutSeconds : healthCheckDefaults.timeoutSeconds;
  if (timeout >= interval) issues.push({ path: `${at}.timeoutSeconds`, message: `timeoutSeconds must be less than intervalSeconds (${interval})` });
  const statuses = value.expectedStatuses;
  if (statuses === undefined || statuses === null) return;
  if (!Array.isArray(statuses) || statuses.length === 0) {
    issues.push({ path: `${at}.expectedStatuses`, message: 'expectedStatuses must be a non-empty list of {start, end}' });
    return;
  }
  statuses.forEach((range: unknown, i) => {
    const path = `${at}.expectedStatuses[${i}]`;
    if (!isRecord(range)) return issues.push({ path, message: 'a status range must be {start, end}' });
    checkInt(range.start, `${path}.start`, 100, 599, issues);
    checkInt(range.end, `${path}.end`, 100, 599, issues);
    if (typeof range.start !== 'number' || typeof range.end !== 'number') issues.push({ path, message: 'a status range needs start and end' });
    else if (range.end < range.start) issues.push({ path: `${path}.end`, message: 'end must not be less than start' });
  });
}

function checkOutlierDetection(value: unknown, at: string, issues: FieldIssue[]): void {
  if (!isRecord(value)) {
    issues.push({ path: at, message: 'outlierDetection must be an object' });
    return;
  }
  checkInt(value.consecutive5xx, `${at}.consecutive5xx`, 1, 1000, issues);
  checkInt(value.consecutiveGatewayFailure, `${at}.consecutiveGatewayFailure`, 1, 1000, issues);
  checkInt(value.intervalSeconds, `${at}.intervalSeconds`, 1, 3600, issues);
  checkInt(value.baseEjectionSeconds, `${at}.baseEjectionSeconds`, 1, 86400, issues);
  checkInt(value.maxEjectionPercent, `${at}.maxEjectionPercent`, 0, 100, issues);
}

function checkRetry(value: unknown, at: string, issues: FieldIssue[]): void {
  if (!isRecord(value)) {
    issues.push({ path: at, message: 'retry must be an object' });
    return;
  }
  if (value.on !== undefined && value.on !== null) {
    if (!Array.isArray(value.on) || value.on.length === 0) issues.push({ path: `${at}.on`, message: 'on must be a non-empty list of retry conditions' });
    else value.on.forEach((c: unknown, i) => {
      if (!(retryConditions as readonly unknown[]).includes(c)) issues.push({ path: `${at}.on[${i}]`, message: `a retry condition is one of ${retryConditions.join(', ')}` });
    });
  }
  checkInt(value.numRetries, `${at}.numRetries`, 0, 10, issues);
  checkInt(value.perTryTimeoutMs, `${at}.perTryTimeoutMs`, 1, 3_600_000, issues);
  checkInt(value.budgetPercent, `${at}.budgetPercent`, 0, 100, issues);
}

/** Every problem of an `upstreamResilience` input (arbitrary JSON), paths under `at`. */
export function upstreamResilienceIssues(value: unknown, at: string): FieldIssue[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) return [{ path: at, message: 'upstreamResilience must be an object' }];
  const issues: FieldIssue[] = [];
  if (value.healthCheck != null) checkHealthCheck(value.healthCheck, `${at}.healthCheck`, issues);
  if (value.outlierDetection != null) checkOutlierDetection(value.outlierDetection, `${at}.outlierDetection`, issues);
  if (value.retry != null) checkRetry(value.retry, `${at}.retry`, issues);
  return issues;
}

/** Drops undefined and null fields so that defaults apply to them. */
function given<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** A validated input with every default filled in: what is stored. */
export function normalizeUpstreamResilience(input: UpstreamResilienceInput | null | undefined): UpstreamResilience {
  if (!input) return noResilience;
  return {
    healthCheck: input.healthCheck ? { ...healthCheckDefaults, path: '/', ...given(input.healthCheck) } : null,
    outlierDetection: input.outlierDetection ? { ...outlierDetectionDefaults, ...given(input.outlierDetection) } : null,
    retry: input.retry ? { ...retryDefaults, ...given(input.retry), on: [...new Set(input.retry.on ?? retryDefaults.on)] } : null,
  };
}
