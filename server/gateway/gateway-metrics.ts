// Gateway metrics in the Prometheus text format (version 0.0.4), served on the admin port's /metrics:
// requests by API, route, status and decision; a latency histogram per API and route; the snapshot in use.
// https://prometheus.io/docs/instrumenting/exposition_formats/
import { unexpectedErrorLines } from '../unexpected-errors.ts';
import { apiOfRouteName } from '../xds/names.ts';

/** How a request was answered: forwarded upstream, by a policy's local reply, or by the gateway itself
 *  (no route, no upstream, timeout). */
export type Decision = 'forwarded' | 'local_reply' | 'gateway';

// Seconds; the low buckets resolve the gateway's own overhead, the high ones slow upstreams.
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface RequestSeries {
  readonly api: string;
  readonly route: string;
  readonly status: number;
  readonly decision: Decision;
  count: number;
}

interface LatencySeries {
  readonly api: string;
  readonly route: string;
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Request counters and latency histograms as plain data: what a worker thread reports to the main thread, which
 *  adds up every worker's (mergeMetricsStates) and renders the sum. */
export interface MetricsState {
  requests: { api: string; route: string; status: number; decision: Decision; count: number }[];
  latency: { api: string; route: string; counts: number[]; sum: number; count: number }[];
}

/** The configuration counters of a gateway (one per gateway, however many workers serve it). */
export interface ConfigCounters {
  snapshotVersion: string;
  swaps: number;
  rejected: number;
}

const decisionIndex: Record<Decision, number> = { forwarded: 0, local_reply: 1, gateway: 2 };

/** The series of one route, looked up once per request (by route name, a string the configuration holds, so its
 *  hash is cached): the API label is computed once, and a request's series is found by a number key. */
export class RouteSeries {
  readonly api: string;
  /** Requests by `status * 4 + decision`. */
  readonly byOutcome = new Map<number, RequestSeries>();
  latency: LatencySeries | null = null;

  constructor(readonly route: string) {
    this.api = apiOfRouteName(route) ?? '';
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class GatewayMetrics {
  private readonly routes = new Map<string, RouteSeries>();
  /** Every series in the order it first appeared (the exposition order). */
  private readonly requests: RequestSeries[] = [];
  private readonly latency: LatencySeries[] = [];
  private snapshotVersion = '';
  private swaps = 0;
  private rejected = 0;

  /** The series of `route` ('' for requests without a route). */
  forRoute(route: string): RouteSeries {
    let series = this.routes.get(route);
    if (series === undefined) {
      series = new RouteSeries(route);
      this.routes.set(route, series);
    }
    return series;
  }

  observe(routeSeries: RouteSeries, status: number, decision: Decision, seconds: number): void {
    const key = status * 4 + decisionIndex[decision];
    const series = routeSeries.byOutcome.get(key);
    if (series === undefined) {
      const created: RequestSeries = { api: routeSeries.api, route: routeSeries.route, status, decision, count: 1 };
      routeSeries.byOutcome.set(key, created);
      this.requests.push(created);
    } else {
      series.count += 1;
    }
    let histogram = routeSeries.latency;
    if (histogram === null) {
      histogram = { api: routeSeries.api, route: routeSeries.route, counts: buckets.map(() => 0), sum: 0, count: 0 };
      routeSeries.latency = histogram;
      this.latency.push(histogram);
    }
    histogram.sum += seconds;
    histogram.count += 1;
    const counts = histogram.counts;
    for (let i = 0; i < buckets.length; i++) {
      if (seconds <= (buckets[i] ?? Infinity)) {
        counts[i] = (counts[i] ?? 0) + 1;
        break;
      }
    }
  }

  configApplied(version: string): void {
    this.snapshotVersion = version;
    this.swaps += 1;
  }

  configRejected(): void {
    this.rejected += 1;
  }

  state(): MetricsState {
    return {
      requests: this.requests.map(({ api, route, status, decision, count }) => ({ api, route, status, decision, count })),
      latency: this.latency.map(({ api, route, counts, sum, count }) => ({ api, route, counts: [...counts], sum, count })),
    };
  }

  render(): string {
    return renderMetrics(this.state(), { snapshotVersion: this.snapshotVersion, swaps: this.swaps, rejected: this.rejected });
  }
}

/** The sum of several workers' states, series in the order they first appear. */
export function mergeMetricsStates(states: readonly MetricsState[]): MetricsState {
  const requests = new Map<string, MetricsState['requests'][number]>();
  const latency = new Map<string, MetricsState['latency'][number]>();
  for (const state of states) {
    for (const s of state.requests) {
      const key = JSON.stringify([s.api, s.route, s.status, s.decision]);
      const merged = requests.get(key);
      if (merged === undefined) requests.set(key, { ...s });
      else merged.count += s.count;
    }
    for (const h of state.latency) {
      const key = JSON.stringify([h.api, h.route]);
      const merged = latency.get(key);
      if (merged === undefined) latency.set(key, { ...h, counts: [...h.counts] });
      else {
        merged.sum += h.sum;
        merged.count += h.count;
        h.counts.forEach((n, i) => { merged.counts[i] = (merged.counts[i] ?? 0) + n; });
      }
    }
  }
  return { requests: [...requests.values()], latency: [...latency.values()] };
}

/** The Prometheus text of a state and the gateway's configuration counters; `extra` lines are appended as given. */
export function renderMetrics(state: MetricsState, config: ConfigCounters, extra: readonly string[] = []): string {
  const { snapshotVersion, swaps, rejected } = config;
  const lines: string[] = [];
  lines.push('# HELP apip_gateway_requests_total Requests answered by the embedded gateway.');
  lines.push('# TYPE apip_gateway_requests_total counter');
  for (const s of state.requests) {
    lines.push(`apip_gateway_requests_total{api="${escapeLabel(s.api)}",route="${escapeLabel(s.route)}",status="${s.status}",decision="${s.decision}"} ${s.count}`);
  }
  lines.push('# HELP apip_gateway_request_duration_seconds Time from request start to response end.');
  lines.push('# TYPE apip_gateway_request_duration_seconds histogram');
  for (const h of state.latency) {
    const labels = `api="${escapeLabel(h.api)}",route="${escapeLabel(h.route)}"`;
    let cumulative = 0;
    buckets.forEach((bound, i) => {
      cumulative += h.counts[i] ?? 0;
      lines.push(`apip_gateway_request_duration_seconds_bucket{${labels},le="${bound}"} ${cumulative}`);
    });
    lines.push(`apip_gateway_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
    lines.push(`apip_gateway_request_duration_seconds_sum{${labels}} ${h.sum}`);
    lines.push(`apip_gateway_request_duration_seconds_count{${labels}} ${h.count}`);
  }
  lines.push('# HELP apip_gateway_snapshot_info The xDS snapshot version being served.');
  lines.push('# TYPE apip_gateway_snapshot_info gauge');
  if (snapshotVersion !== '') lines.push(`apip_gateway_snapshot_info{version="${escapeLabel(snapshotVersion)}"} 1`);
  lines.push('# HELP apip_gateway_config_applied_total Snapshots built and swapped in.');
  lines.push('# TYPE apip_gateway_config_applied_total counter');
  lines.push(`apip_gateway_config_applied_total ${swaps}`);
  lines.push('# HELP apip_gateway_config_rejected_total Snapshots that could not be built (the last good one stays).');
  lines.push('# TYPE apip_gateway_config_rejected_total counter');
  lines.push(`apip_gateway_config_rejected_total ${rejected}`);
  // Process-wide: the gateway shares its process's fault policy (server/process-faults.ts); rendered on the main
  // thread, which holds that policy, in either thread model.
  lines.push(...unexpectedErrorLines());
  lines.push(...extra);
  return `${lines.join('\n')}\n`;
}
