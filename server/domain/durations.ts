/** Go-style duration as v0.9 writes them: `500ms`, `1m`, `1h30m`. */
export const durationPattern = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

const unitMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds of a Go-style duration, exact (`1.5us` is 0.0015), or null when it is not one. Validation compares
 * the exact value with its bounds; what is written into a configuration is rounded to whole ms by its writer.
 */
export function parseDurationMs(value: string): number | null {
  if (!durationPattern.test(value)) return null;
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (unitMs[m[2] ?? 'ms'] ?? 1);
  return total;
}
