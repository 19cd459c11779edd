// The process-wide count of exceptions nothing handled (server/process-faults.ts counts them), rendered on the
// management /metrics and the gateway admin /metrics alike. A leaf module: the gateway may import it.

/** Where an unexpected exception surfaced: a closed set, so the label's cardinality is fixed. */
export type UnexpectedErrorSource = 'uncaught_exception' | 'unhandled_rejection';

const counts: Record<UnexpectedErrorSource, number> = { uncaught_exception: 0, unhandled_rejection: 0 };

export function countUnexpectedError(source: UnexpectedErrorSource): void {
  counts[source] += 1;
}

/** `apip_unexpected_errors_total{source}` in the Prometheus text format, both sources always present. */
export function unexpectedErrorLines(): string[] {
  return [
    '# HELP apip_unexpected_errors_total Exceptions no code handled; the process kept running (see docs/operations.md).',
    '# TYPE apip_unexpected_errors_total counter',
    ...Object.entries(counts).map(([source, count]) => `apip_unexpected_errors_total{source="${source}"} ${count}`),
  ];
}
