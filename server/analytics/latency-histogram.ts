/**
 * Fixed log-scale latency buckets, identical on every data plane and in every stored row, so histograms of
 * different minutes, gateways and replicas merge by adding counts and percentiles are computed after merging
 * (averaging per-minute percentiles would be wrong).
 *
 * Bucket 0 holds [0, 1) ms; bucket k (1…64) holds [2^((k-1)/4), 2^(k/4)) ms, four buckets per doubling, so a
 * bucket is at most 19 % wide; the last bucket holds everything from 65 536 ms on.
 */
const bucketsPerDoubling = 4;
const doublings = 16;

/** Number of buckets in every histogram. */
export const latencyBucketCount = 1 + bucketsPerDoubling * doublings + 1;

const lastBucket = latencyBucketCount - 1;

/** The bucket a duration falls in; negative or NaN durations count as 0 ms. */
export function latencyBucketOf(durationMs: number): number {
  if (!(durationMs >= 1)) return 0;
  const k = Math.floor(Math.log2(durationMs) * bucketsPerDoubling) + 1;
  return Math.min(k, lastBucket);
}

/** [lower, upper) of a bucket in ms; the last bucket's upper bound is Infinity. */
export function latencyBucketBounds(bucket: number): [number, number] {
  if (bucket <= 0) return [0, 1];
  const lower = 2 ** ((bucket - 1) / bucketsPerDoubling);
  return [lower, bucket >= lastBucket ? Number.POSITIVE_INFINITY : 2 ** (bucket / bucketsPerDoubling)];
}

export function emptyLatencyHistogram(): number[] {
  return new Array<number>(latencyBucketCount).fill(0);
}

/** Adds `from` into `into` (lengths may differ if the bucket count ever grows; missing buckets count 0). */
export function addLatencyHistogram(into: number[], from: readonly number[]): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
}

/**
 * The q-quantile (0 < q ≤ 1) in ms, interpolated linearly inside the bucket that holds it (as Prometheus'
 * histogram_quantile does); the open last bucket answers its lower bound. null for an empty histogram.
 */
export function latencyPercentile(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let bucket = 0; bucket < buckets.length; bucket++) {
    const n = buckets[bucket] ?? 0;
    if (n === 0 || seen + n < rank) {
      seen += n;
      continue;
    }
    const [lower, upper] = latencyBucketBounds(bucket);
    if (upper === Number.POSITIVE_INFINITY) return lower;
    return lower + ((upper - lower) * (rank - seen)) / n;
  }
  return latencyBucketBounds(buckets.length - 1)[0];
}
