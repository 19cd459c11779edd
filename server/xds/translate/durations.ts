import { parseDurationMs } from '../../domain/durations.ts';

/** Whole milliseconds of a Go-style duration (server/domain/durations.ts), or null when `value` is not one. */
export function durationWholeMs(value: string): number | null {
  const ms = parseDurationMs(value);
  return ms === null ? null : Math.round(ms);
}

/** google.protobuf.Duration in proto3 JSON: seconds with up to 9 fractional digits and an `s` suffix. */
export function protoDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const rest = ms % 1000;
  return rest === 0 ? `${seconds}s` : `${seconds}.${String(rest).padStart(3, '0')}s`;
}
