// Which endpoints of one cluster take traffic: not those the active health check failed, nor those outlier
// detection ejected; and Envoy's panic mode: while fewer than `healthy_panic_threshold` percent (default 50) of
// the endpoints are healthy, traffic goes to all of them, health ignored (with 0 there is no panic mode and a
// cluster without healthy endpoints answers 503 `no healthy upstream`).
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/panic_threshold
import type { Endpoint } from './endpoint.ts';
import { RoundRobin } from './weighted-choice.ts';

export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

export class EndpointHealth {
  private readonly failedCheck = new Set<Endpoint>();
  private readonly ejected = new Set<Endpoint>();
  private readonly all: RoundRobin<Endpoint>;
  private healthy: RoundRobin<Endpoint>;

  constructor(readonly endpoints: readonly Endpoint[], private readonly panicThresholdPercent: number) {
    this.all = new RoundRobin(endpoints);
    this.healthy = this.all;
  }

  isHealthy(endpoint: Endpoint): boolean {
    return !this.failedCheck.has(endpoint) && !this.ejected.has(endpoint);
  }

  get ejectedCount(): number {
    return this.ejected.size;
  }

  /** The active health check's verdict. */
  setCheckFailed(endpoint: Endpoint, failed: boolean): void {
    if (failed === this.failedCheck.has(endpoint)) return;
    if (failed) this.failedCheck.add(endpoint);
    else this.failedCheck.delete(endpoint);
    this.rebuild();
  }

  /** Outlier detection's verdict. */
  setEjected(endpoint: Endpoint, ejected: boolean): void {
    if (ejected === this.ejected.has(endpoint)) return;
    if (ejected) this.ejected.add(endpoint);
    else this.ejected.delete(endpoint);
    this.rebuild();
  }

  /** The next endpoint; another than `avoid` when there is one (a retry's previous host). */
  pick(avoid?: Endpoint): Endpoint | undefined {
    const n = this.endpoints.length;
    const isPanic = this.healthy.size * 100 < this.panicThresholdPercent * n;
    const choice = isPanic ? this.all : this.healthy;
    let endpoint = choice.next();
    // As Envoy's previous_hosts retry predicate with host_selection_retry_max_attempts: a few more draws.
    for (let i = 0; avoid !== undefined && endpoint === avoid && i < choice.size; i++) endpoint = choice.next();
    return endpoint;
  }

  private rebuild(): void {
    this.healthy = new RoundRobin(this.endpoints.filter((e) => this.isHealthy(e)));
  }
}
