/**
 * postgres.js's `backoff` for every pool of ours: seconds a closed connection waits before it reconnects, given how
 * many connection attempts of the pool failed in a row. postgres.js's default grows as 3^n/100 s up to 20 s, and
 * a query that finds its connection closed waits that long even when the database is back; after an outage of a
 * few seconds that was 10-20 s (a revocation made after recovery took 14.3 s to reach the gateway). Capped at
 * 0.5 s: an attempt against a down database costs one refused or timed-out connect, which is cheap, and recovery
 * is noticed within half a second. Jittered so the pool's connections do not retry in step.
 */
export function reconnectBackoffSeconds(failedAttempts: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** failedAttempts, 0.5);
}
