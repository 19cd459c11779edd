// Management-side metrics in the Prometheus text format (0.0.4), served at /metrics on MANAGEMENT_PORT:
// API requests by surface and status, their latency, and the state of configuration delivery.
// https://prometheus.io/docs/instrumenting/exposition_formats/
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DroppedRecords } from './analytics/dropped-records.ts';
import type { DeploymentStatus } from './domain/deployment-status.ts';
import { unexpectedErrorLines } from './unexpected-errors.ts';

/** Which interface a request used; a closed set, so label cardinality stays bounded whatever the paths. */
export type Surface = 'graphql' | 'rest' | 'policies' | 'metrics' | 'health' | 'other';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function surfaceOf(url: string): Surface {
  if (url.startsWith('/graphql')) return 'graphql';
  if (url.startsWith('/api/management/') || url.startsWith('/rest-apis') || url.startsWith('/subscription')) return 'rest';
  if (url.startsWith('/policies/')) return 'policies';
  if (url.startsWith('/metrics')) return 'metrics';
  if (url.startsWith('/healthz')) return 'health';
  return 'other';
}

export class ManagementMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<Surface, { counts: number[]; sum: number; count: number }>();

  /** Counts the request once its response has finished. */
  observe(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const surface = surfaceOf(req.url ?? '/');
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const key = `${surface}\u0000${res.statusCode}`;
      this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
      let series = this.latency.get(surface);
      if (!series) this.latency.set(surface, (series = { counts: buckets.map(() => 0), sum: 0, count: 0 }));
      buckets.forEach((le, i) => {
        if (seconds <= le) series.counts[i] = (series.counts[i] ?? 0) + 1;
      });
      series.sum += seconds;
      series.count += 1;
    });
  }

  render(deployment: DeploymentStatus, dropped?: DroppedRecords): string {
    const lines: string[] = [
      '# HELP apip_management_requests_total Management API requests by surface and HTTP status.',
      '# TYPE apip_management_requests_total counter',
    ];
    for (const [key, count] of [...this.requests].sort()) {
      const [surface, status] = key.split('\u0000');
      lines.push(`apip_management_requests_total{surface="${surface}",status="${status}"} ${count}`);
    }
    lines.push('# HELP apip_management_request_duration_seconds Management API latency.', '# TYPE apip_management_request_duration_seconds histogram');
    for (const [surface, series] of [...this.latency].sort(([a], [b]) => a.localeCompare(b))) {
      buckets.forEach((le, i) => lines.push(`apip_management_request_duration_seconds_bucket{surface="${surface}",le="${le}"} ${series.counts[i] ?? 0}`));
      lines.push(`apip_management_request_duration_seconds_bucket{surface="${surface}",le="+Inf"} ${series.count}`);
      lines.push(`apip_management_request_duration_seconds_sum{surface="${surface}"} ${series.sum}`);
      lines.push(`apip_management_request_duration_seconds_count{surface="${surface}"} ${series.count}`);
    }
    const errors = deployment.problems.filter((p) => p.severity === 'error').length;
    const rejecting = deployment.dataPlanes.filter((d) => d.resources.some((r) => r.rejection !== null)).length;
    lines.push(
      '# HELP apip_config_info The configuration version being served to data planes.',
      '# TYPE apip_config_info gauge',
      `apip_config_info{version="${(deployment.version ?? '').replace(/["\\\n]/g, '')}"} 1`,
      '# HELP apip_config_problems Translation or validation problems of the latest build, by severity.',
      '# TYPE apip_config_problems gauge',
      `apip_config_problems{severity="error"} ${errors}`,
      `apip_config_problems{severity="warning"} ${deployment.problems.length - errors}`,
      '# HELP apip_xds_data_planes Data planes connected over ADS.',
      '# TYPE apip_xds_data_planes gauge',
      `apip_xds_data_planes ${deployment.dataPlanes.length}`,
      '# HELP apip_xds_data_planes_rejecting Connected data planes whose last answer for some type was a NACK.',
      '# TYPE apip_xds_data_planes_rejecting gauge',
      `apip_xds_data_planes_rejecting ${rejecting}`,
      '# HELP apip_analytics_records_dropped_total Request records from data planes not counted, by reason.',
      '# TYPE apip_analytics_records_dropped_total counter',
      ...(dropped?.entries() ?? []).map(([reason, count]) => `apip_analytics_records_dropped_total{reason="${reason}"} ${count}`),
      ...unexpectedErrorLines(),
    );
    return `${lines.join('\n')}\n`;
  }
}
