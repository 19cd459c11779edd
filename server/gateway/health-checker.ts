// Active HTTP health checks of one cluster's endpoints, as Envoy's `http_health_check`: every `interval` a GET of
// `path` (Host: `host`, else the cluster name; User-Agent Envoy/HC) on a kept-alive connection per endpoint; a
// status in `expected_statuses` (default [200, 201)) within `timeout` passes. `unhealthy_threshold` failures in a
// row take the endpoint out, `healthy_threshold` passes in a row bring it back. Envoy does not route to a new
// cluster's endpoints before their first check (the cluster warms); here a new configuration's endpoints take
// traffic until their first check, and that first check decides at once either way, as Envoy's does.
// One checker per configuration (config-holder.ts starts it on swap and stops it on disposal); with N gateway
// workers each runs its own (N checks per interval; Envoy runs them once, on its main thread).
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/health_checking
import { Client } from 'undici';
import type { ConnectionSettings, Endpoint } from './endpoint.ts';
import { durationMs } from './duration.ts';
import type { EndpointHealth } from './endpoint-health.ts';
import { arrayAt, ConfigError, type JsonObject, numberAt, objectAt, stringAt } from './json-fields.ts';
import { endpointTarget } from './endpoint-target.ts';

export interface HealthCheckSpec {
  readonly path: string;
  readonly host: string | undefined;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  /** Half-open [start, end). */
  readonly expectedStatuses: readonly { start: number; end: number }[];
}

/** The cluster's first `health_checks` entry, which must be an `http_health_check`; null when none. */
export function readHealthCheck(cluster: JsonObject, where: string): HealthCheckSpec | null {
  const checks = arrayAt(cluster, 'healthChecks', where);
  if (checks.length === 0) return null;
  if (checks.length > 1) throw new ConfigError(`${where}.healthChecks: one health check is supported`);
  const check = checks[0] as JsonObject;
  const at = `${where}.healthChecks[0]`;
  const http = objectAt(check, 'httpHealthCheck', at);
  if (http === undefined) throw new ConfigError(`${at}: only httpHealthCheck is supported`);
  const path = stringAt(http, 'path', `${at}.httpHealthCheck`);
  if (path === undefined || !path.startsWith('/')) throw new ConfigError(`${at}.httpHealthCheck.path must start with /`);
  const intervalMs = durationMs(check.interval, NaN);
  const timeoutMs = durationMs(check.timeout, NaN);
  if (!(intervalMs > 0) || !(timeoutMs > 0)) throw new ConfigError(`${at}: interval and timeout are required and positive`);
  const ranges = arrayAt(http, 'expectedStatuses', `${at}.httpHealthCheck`).map((r, i) => {
    const start = numberAt(r, 'start', `${at}.httpHealthCheck.expectedStatuses[${i}]`);
    const end = numberAt(r, 'end', `${at}.httpHealthCheck.expectedStatuses[${i}]`);
    if (start === undefined || end === undefined || end <= start) throw new ConfigError(`${at}.httpHealthCheck.expectedStatuses[${i}] needs start < end`);
    return { start, end };
  });
  return {
    path,
    host: stringAt(http, 'host', `${at}.httpHealthCheck`),
    intervalMs,
    timeoutMs,
    unhealthyThreshold: numberAt(check, 'unhealthyThreshold', at) ?? 1,
    healthyThreshold: numberAt(check, 'healthyThreshold', at) ?? 1,
    expectedStatuses: ranges.length === 0 ? [{ start: 200, end: 201 }] : ranges,
  };
}

interface EndpointCheck {
  readonly endpoint: Endpoint;
  readonly client: Client;
  readonly path: string;
  passes: number;
  failures: number;
  isFirst: boolean;
  isRunning: boolean;
}

export class HealthChecker {
  private readonly checks: EndpointCheck[];
  private timer: NodeJS.Timeout | undefined;
  private isStopped = false;
  private readonly host: string;

  constructor(
    cluster: ConnectionSettings & { readonly name: string },
    private readonly spec: HealthCheckSpec,
    private readonly health: EndpointHealth,
  ) {
    this.host = spec.host ?? cluster.name;
    this.checks = health.endpoints.map((endpoint) => {
      const target = endpointTarget(cluster, endpoint);
      const client = new Client(target.origin, { connect: target.connect, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
      return { endpoint, client, path: spec.path, passes: 0, failures: 0, isFirst: true, isRunning: false };
    });
  }

  /** Checks every endpoint now, then every interval. */
  start(): void {
    if (this.timer !== undefined || this.isStopped) return;
    this.timer = setInterval(() => this.round(), this.spec.intervalMs);
    this.timer.unref();
    this.round();
  }

  stop(): void {
    this.isStopped = true;
    clearInterval(this.timer);
    for (const check of this.checks) void check.client.destroy().catch(() => undefined);
  }

  private round(): void {
    for (const check of this.checks) {
      // A check still waiting for its answer (bounded by the timeout) is not doubled.
      if (!check.isRunning) void this.checkOne(check);
    }
  }

  private async checkOne(check: EndpointCheck): Promise<void> {
    check.isRunning = true;
    let passed = false;
    try {
      const response = await check.client.request({
        method: 'GET',
        path: check.path,
        headers: { host: this.host, 'user-agent': 'Envoy/HC' },
        signal: AbortSignal.timeout(this.spec.timeoutMs),
      });
      await response.body.dump();
      passed = this.spec.expectedStatuses.some((r) => response.statusCode >= r.start && response.statusCode < r.end);
    } catch {
      passed = false;
    } finally {
      check.isRunning = false;
    }
    if (this.isStopped) return;
    this.record(check, passed);
  }

  private record(check: EndpointCheck, passed: boolean): void {
    const isFirst = check.isFirst;
    check.isFirst = false;
    if (passed) {
      check.failures = 0;
      check.passes += 1;
      if (isFirst || check.passes >= this.spec.healthyThreshold) this.health.setCheckFailed(check.endpoint, false);
    } else {
      check.passes = 0;
      check.failures += 1;
      if (isFirst || check.failures >= this.spec.unhealthyThreshold) this.health.setCheckFailed(check.endpoint, true);
    }
  }
}
