// Pure: the per-scenario results of a differential run → the table per module and the list of differences.
import type { Difference } from './compare.ts';

/** `requests`: the checks of a scenario (each request, then its end state; or its refused configuration). */
export type ScenarioResult =
  | { kind: 'compared'; module: string; name: string; requests: Array<{ request: string; differences: Difference[] }> }
  | { kind: 'failedToLoad'; module: string; name: string; reason: string }
  | { kind: 'skipped'; module: string; name: string; reasons: string[] };

interface Row { scenarios: number; checks: number; same: number; different: number; failedToLoad: number; skipped: number }

export function tally(results: readonly ScenarioResult[]): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const result of results) {
    const row = rows.get(result.module) ?? { scenarios: 0, checks: 0, same: 0, different: 0, failedToLoad: 0, skipped: 0 };
    rows.set(result.module, row);
    row.scenarios += 1;
    if (result.kind === 'failedToLoad') row.failedToLoad += 1;
    else if (result.kind === 'skipped') row.skipped += 1;
    else {
      row.checks += result.requests.length;
      for (const request of result.requests) {
        if (request.differences.length === 0) row.same += 1;
        else row.different += 1;
      }
    }
  }
  return new Map([...rows].sort(([a], [b]) => a.localeCompare(b)));
}

/** The total number of differences: differing requests plus scenarios that failed to load in cpp-host only. */
export function differenceCount(results: readonly ScenarioResult[]): number {
  let count = 0;
  for (const row of tally(results).values()) count += row.different + row.failedToLoad;
  return count;
}

export function formatReport(results: readonly ScenarioResult[], verbose: boolean): string {
  const lines: string[] = [];
  const header = ['module', 'scenarios', 'checks', 'same', 'different', 'failed to load', 'skipped'];
  const table = [header];
  const total: Row = { scenarios: 0, checks: 0, same: 0, different: 0, failedToLoad: 0, skipped: 0 };
  for (const [module, row] of tally(results)) {
    table.push([module, ...[row.scenarios, row.checks, row.same, row.different, row.failedToLoad, row.skipped].map(String)]);
    for (const key of Object.keys(total) as Array<keyof Row>) total[key] += row[key];
  }
  table.push(['total', ...[total.scenarios, total.checks, total.same, total.different, total.failedToLoad, total.skipped].map(String)]);
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0)));
  for (const row of table) lines.push(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '));

  const loadFailures = results.filter((r) => r.kind === 'failedToLoad');
  if (loadFailures.length > 0) {
    lines.push('', 'Failed to load in cpp-host (loaded by our host):');
    for (const r of loadFailures) lines.push(`- [${r.module}] ${r.name}: ${r.reason}`);
  }
  const differing = results.flatMap((r) => (r.kind === 'compared'
    ? r.requests.filter((q) => q.differences.length > 0).map((q) => ({ module: r.module, name: r.name, ...q }))
    : []));
  if (differing.length > 0) {
    lines.push('', 'Differences (ours ≠ cpp-host):');
    for (const d of differing) {
      lines.push(`- [${d.module}] ${d.name}, ${d.request}:`);
      for (const diff of d.differences) lines.push(`    ${diff.field}: ours ${diff.ours} | cpp-host ${diff.theirs}`);
    }
  }
  if (verbose) {
    const skipped = results.filter((r) => r.kind === 'skipped');
    if (skipped.length > 0) {
      lines.push('', 'Skipped (not replayable in wasmcheck):');
      for (const r of skipped) lines.push(`- [${r.module}] ${r.name}: ${r.reasons.join('; ')}`);
    }
  }
  lines.push('', 'checks: each request of a scenario, its end state (metrics, shared data), or its refused configuration.');
  return lines.join('\n');
}
