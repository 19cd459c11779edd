/** v0.9 instants: UTC ISO-8601 to the second, as the seed writes them (`2026-04-24T07:21:13Z`). */
export function toRestTime(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toRestTimeOrNull(instant: Date | null): string | null {
  return instant === null ? null : toRestTime(instant);
}
