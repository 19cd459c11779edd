/** Go-style durations as v0.9 writes them (`500ms`, `1m30s`), the same grammar the domain validates. */
const durationPattern = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const unitMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds (rounded to whole ms), or null when `value` is not a duration. */
export function parseDurationMs(value: string): number | null {
  if (!durationPattern.test(value)) return null;
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (unitMs[m[2] ?? 'ms'] ?? 1);
  return Math.round(total);
}

/** google.protobuf.Duration in proto3 JSON: seconds with up to 9 fractional digits and an `s` suffix. */
export function protoDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const rest = ms % 1000;
  return rest === 0 ? `${seconds}s` : `${seconds}.${String(rest).padStart(3, '0')}s`;
}
