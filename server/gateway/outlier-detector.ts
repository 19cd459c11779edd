// Outlier detection as Envoy's consecutive_5xx and consecutive_gateway_failure detectors: an endpoint that
// answers N 5xx (or N 502/503/504) in a row is ejected at once for base_ejection_time × the times it was ejected
// (capped by max_ejection_time), never more than max_ejection_percent of the cluster's endpoints at a time but
// always at least one. Ejected endpoints come back at the first interval sweep after their time is up, and every
// sweep an endpoint spends in the cluster lowers its ejection multiplier by one. Local failures (connect failure,
// reset, timeout) count as gateway failures (503/504), as Envoy maps them while
// split_external_local_origin_errors is false. Success rate and failure percentage detection are not implemented.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier
import type { Endpoint } from './endpoint.ts';
import { durationMs } from './duration.ts';
import type { EndpointHealth } from './endpoint-health.ts';
import { type JsonObject, numberAt, objectAt } from './json-fields.ts';

export interface OutlierSpec {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  /** Percent chance that a detection ejects (Envoy `enforcing_*`). */
  readonly enforcing5xx: number;
  readonly enforcingGatewayFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
}

/** Cluster `outlier_detection` with Envoy's defaults; null when absent. Both spellings of the `_5xx` fields. */
export function readOutlierDetection(cluster: JsonObject, where: string): OutlierSpec | null {
  const o = objectAt(cluster, 'outlierDetection', where);
  if (o === undefined) return null;
  const at = `${where}.outlierDetection`;
  const num = (key: string, alias: string | null, fallback: number) => numberAt(o, key, at) ?? (alias === null ? undefined : numberAt(o, alias, at)) ?? fallback;
  const baseEjectionMs = durationMs(o.baseEjectionTime, 30_000);
  return {
    consecutive5xx: num('consecutive5xx', 'consecutive_5xx', 5),
    consecutiveGatewayFailure: num('consecutiveGatewayFailure', null, 5),
    enforcing5xx: num('enforcingConsecutive5xx', 'enforcing_consecutive_5xx', 100),
    // Envoy's default for the gateway-failure detector is 0: detected, not enforced.
    enforcingGatewayFailure: num('enforcingConsecutiveGatewayFailure', null, 0),
    intervalMs: durationMs(o.interval, 10_000),
    baseEjectionMs,
    maxEjectionMs: Math.max(durationMs(o.maxEjectionTime, 300_000), baseEjectionMs),
    maxEjectionPercent: num('maxEjectionPercent', null, 10),
  };
}

interface EndpointStats {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** The ejection multiplier. */
  ejections: number;
  /** When the current ejection may end; null while not ejected. */
  ejectedUntil: number | null;
}

export class OutlierDetector {
  private readonly stats = new Map<Endpoint, EndpointStats>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly spec: OutlierSpec,
    private readonly health: EndpointHealth,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    for (const endpoint of health.endpoints) this.stats.set(endpoint, { consecutive5xx: 0, consecutiveGateway: 0, ejections: 0, ejectedUntil: null });
  }

  /** An upstream answered `status`. */
  recordStatus(endpoint: Endpoint, status: number): void {
    const s = this.stats.get(endpoint);
    if (s === undefined) return;
    if (status < 500) {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return;
    }
    s.consecutive5xx += 1;
    if (status >= 502 && status <= 504) s.consecutiveGateway += 1;
    else s.consecutiveGateway = 0;
    this.detect(endpoint, s);
  }

  /** The endpoint could not be connected to, reset the connection or timed out: a gateway failure. */
  recordLocalFailure(endpoint: Endpoint): void {
    const s = this.stats.get(endpoint);
    if (s === undefined) return;
    s.consecutive5xx += 1;
    s.consecutiveGateway += 1;
    this.detect(endpoint, s);
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.sweep(), this.spec.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The interval sweep: ends ejections whose time is up, lowers the multiplier of endpoints in the cluster. */
  sweep(): void {
    const now = this.now();
    for (const [endpoint, s] of this.stats) {
      if (s.ejectedUntil === null) {
        if (s.ejections > 0) s.ejections -= 1;
      } else if (now >= s.ejectedUntil) {
        s.ejectedUntil = null;
        s.consecutive5xx = 0;
        s.consecutiveGateway = 0;
        this.health.setEjected(endpoint, false);
      }
    }
  }

  private detect(endpoint: Endpoint, s: EndpointStats): void {
    if (s.ejectedUntil !== null) return;
    const { spec } = this;
    const by5xx = s.consecutive5xx >= spec.consecutive5xx && this.enforced(spec.enforcing5xx);
    const byGateway = s.consecutiveGateway >= spec.consecutiveGatewayFailure && this.enforced(spec.enforcingGatewayFailure);
    if (!by5xx && !byGateway) return;
    // "will eject at least one host regardless of the value" (outlier_detection.proto max_ejection_percent).
    const allowed = Math.max(1, Math.floor((this.health.endpoints.length * spec.maxEjectionPercent) / 100));
    if (this.health.ejectedCount >= allowed) return;
    s.ejections += 1;
    s.ejectedUntil = this.now() + Math.min(spec.baseEjectionMs * s.ejections, spec.maxEjectionMs);
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    this.health.setEjected(endpoint, true);
  }

  private enforced(percent: number): boolean {
    return percent >= 100 || (percent > 0 && this.random() * 100 < percent);
  }
}
