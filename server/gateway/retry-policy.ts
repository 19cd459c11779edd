// Route `retry_policy` and cluster `retry_budget`, as Envoy's router applies them: a try that fails on a
// configured condition is retried, up to num_retries, each try bounded by per_try_timeout (and all of them by the
// route timeout), while the cluster's retry budget allows: active retries < max(budget_percent % of the cluster's
// active requests, min_retry_concurrency). Without a budget, Envoy's default circuit breaker allows 3 concurrent
// retries. A retry goes to another endpoint when the cluster has one (Envoy's previous_hosts predicate).
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_connection_management#retry-plugin-configuration
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on
import { durationMs } from './duration.ts';
import { arrayAt, ConfigError, type JsonObject, numberAt, objectAt, stringAt } from './json-fields.ts';

export interface RetryPolicy {
  readonly onConnectFailure: boolean;
  readonly onReset: boolean;
  readonly onRefusedStream: boolean;
  /** `5xx`: any 5xx answer, and connect failures, resets and per-try timeouts. */
  readonly on5xx: boolean;
  /** `gateway-error`: 502, 503, 504, and connect failures, resets and per-try timeouts. */
  readonly onGatewayError: boolean;
  /** `retriable-status-codes`: these statuses. */
  readonly statuses: ReadonlySet<number>;
  readonly numRetries: number;
  /** 0: none. */
  readonly perTryTimeoutMs: number;
}

const known = new Set(['connect-failure', 'reset', 'refused-stream', '5xx', 'gateway-error', 'retriable-status-codes']);

/** A route action's `retryPolicy`; null when absent. */
export function readRetryPolicy(action: JsonObject, where: string): RetryPolicy | null {
  const policy = objectAt(action, 'retryPolicy', where);
  if (policy === undefined) return null;
  const at = `${where}.retryPolicy`;
  const on = new Set((stringAt(policy, 'retryOn', at) ?? '').split(',').map((c) => c.trim()).filter((c) => c !== ''));
  for (const condition of on) if (!known.has(condition)) throw new ConfigError(`${at}.retryOn: ${condition} is not supported`);
  const codes = policy.retriableStatusCodes;
  if (codes !== undefined && (!Array.isArray(codes) || !codes.every((c) => typeof c === 'number'))) throw new ConfigError(`${at}.retriableStatusCodes must be numbers`);
  return {
    onConnectFailure: on.has('connect-failure'),
    onReset: on.has('reset'),
    onRefusedStream: on.has('refused-stream'),
    on5xx: on.has('5xx'),
    onGatewayError: on.has('gateway-error'),
    statuses: new Set(on.has('retriable-status-codes') ? (codes as number[] | undefined) ?? [] : []),
    numRetries: numberAt(policy, 'numRetries', at) ?? 1,
    perTryTimeoutMs: durationMs(policy.perTryTimeout, 0),
  };
}

/** Whether an answer with `status` is retried. */
export function isRetriableStatus(policy: RetryPolicy, status: number): boolean {
  if (policy.statuses.has(status)) return true;
  if (policy.on5xx && status >= 500) return true;
  return policy.onGatewayError && status >= 502 && status <= 504;
}

/** Whether a try that failed before its answer started (upstream-request.ts `UpstreamFailure` kind) is retried;
 *  `isPerTryTimeout`: its own timeout, not the route's. */
export function isRetriableFailure(policy: RetryPolicy, kind: 'connect' | 'reset' | 'timeout' | 'invalid', isPerTryTimeout: boolean): boolean {
  switch (kind) {
    // Envoy's RetryStateImpl: `5xx`, `gateway-error` and `reset` retry any reset before the response (a connect
    // failure and a per-try timeout included); `connect-failure` only connect failures.
    case 'connect': return policy.onConnectFailure || policy.on5xx || policy.onGatewayError || policy.onReset;
    case 'reset': return policy.onReset || policy.on5xx || policy.onGatewayError;
    case 'timeout': return isPerTryTimeout && (policy.on5xx || policy.onGatewayError || policy.onReset);
    case 'invalid': return false;
  }
}

/** Envoy's default `max_retries` circuit breaker: concurrent retries per cluster without a budget. */
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_MIN_RETRY_CONCURRENCY = 3;

/** Active requests and retries of one cluster, and whether one more retry fits. */
export class RetryBudget {
  activeRequests = 0;
  activeRetries = 0;

  constructor(private readonly budgetPercent: number | null, private readonly minConcurrency: number) {}

  allows(): boolean {
    if (this.budgetPercent === null) return this.activeRetries < this.minConcurrency;
    return this.activeRetries < Math.max((this.budgetPercent * this.activeRequests) / 100, this.minConcurrency);
  }
}

/** The default-priority thresholds' `retry_budget` (or `max_retries`) of a cluster's `circuit_breakers`. */
export function readRetryBudget(cluster: JsonObject, where: string): RetryBudget {
  const breakers = objectAt(cluster, 'circuitBreakers', where);
  const thresholds = breakers === undefined ? [] : arrayAt(breakers, 'thresholds', `${where}.circuitBreakers`);
  const at = `${where}.circuitBreakers.thresholds`;
  const defaults = thresholds.find((t) => (stringAt(t, 'priority', at) ?? 'DEFAULT') === 'DEFAULT');
  const budget = defaults === undefined ? undefined : objectAt(defaults, 'retryBudget', at);
  if (budget === undefined) return new RetryBudget(null, (defaults === undefined ? undefined : numberAt(defaults, 'maxRetries', at)) ?? DEFAULT_MAX_RETRIES);
  const percent = objectAt(budget, 'budgetPercent', `${at}.retryBudget`);
  return new RetryBudget(
    // Envoy's defaults: 20 % and 3.
    (percent === undefined ? undefined : numberAt(percent, 'value', `${at}.retryBudget.budgetPercent`)) ?? 20,
    numberAt(budget, 'minRetryConcurrency', `${at}.retryBudget`) ?? DEFAULT_MIN_RETRY_CONCURRENCY,
  );
}

/** The next try's timeout: its per-try timeout when that ends first, else what is left of the route's
 *  (`routeDeadline` in performance.now() time; 0: the route has no timeout). */
export function nextTryTimeout(routeDeadline: number, perTryMs: number): { timeoutMs: number; isPerTry: boolean } {
  const left = routeDeadline === 0 ? 0 : Math.max(1, Math.round(routeDeadline - performance.now()));
  const isPerTry = perTryMs > 0 && (left === 0 || perTryMs < left);
  return { timeoutMs: isPerTry ? perTryMs : left, isPerTry };
}
