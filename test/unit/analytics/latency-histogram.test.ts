import { describe, expect, it } from 'vitest';
import {
  addLatencyHistogram,
  emptyLatencyHistogram,
  latencyBucketBounds,
  latencyBucketCount,
  latencyBucketOf,
  latencyPercentile,
} from '../../../server/analytics/latency-histogram.ts';

function histogramOf(durations: readonly number[]): number[] {
  const h = emptyLatencyHistogram();
  for (const d of durations) h[latencyBucketOf(d)]! += 1;
  return h;
}

describe('latency histogram', () => {
  it('puts every duration in the bucket whose bounds hold it', () => {
    for (const ms of [0, 0.4, 1, 1.5, 2, 3.7, 10, 99.9, 100, 250, 1234.5, 60_000]) {
      const [lower, upper] = latencyBucketBounds(latencyBucketOf(ms));
      expect(ms).toBeGreaterThanOrEqual(lower);
      expect(ms).toBeLessThan(upper);
    }
  });

  it('keeps buckets at most 19 % wide and counts beyond 65.5 s in the last bucket', () => {
    for (let b = 1; b < latencyBucketCount - 1; b++) {
      const [lower, upper] = latencyBucketBounds(b);
      expect(upper / lower).toBeLessThan(1.19);
    }
    expect(latencyBucketOf(10 * 60_000)).toBe(latencyBucketCount - 1);
    expect(latencyBucketBounds(latencyBucketCount - 1)[1]).toBe(Number.POSITIVE_INFINITY);
  });

  it('counts negative and NaN durations as 0 ms', () => {
    expect(latencyBucketOf(-5)).toBe(0);
    expect(latencyBucketOf(Number.NaN)).toBe(0);
  });

  it('estimates p50 and p99 within a bucket width of the exact values', () => {
    const durations = Array.from({ length: 1000 }, (_, i) => i + 1);
    const h = histogramOf(durations);
    expect(latencyPercentile(h, 0.5)).toBeGreaterThan(500 / 1.19);
    expect(latencyPercentile(h, 0.5)).toBeLessThan(500 * 1.19);
    expect(latencyPercentile(h, 0.99)).toBeGreaterThan(990 / 1.19);
    expect(latencyPercentile(h, 0.99)).toBeLessThan(990 * 1.19);
  });

  it('answers a value inside the one bucket when every request took the same time', () => {
    const h = histogramOf(new Array<number>(10).fill(42));
    const [lower, upper] = latencyBucketBounds(latencyBucketOf(42));
    for (const q of [0.5, 0.99]) {
      expect(latencyPercentile(h, q)).toBeGreaterThanOrEqual(lower);
      expect(latencyPercentile(h, q)).toBeLessThan(upper);
    }
  });

  it('sees the slow tail in p99 but not in p50 when 2 of 100 requests are slow', () => {
    const h = histogramOf([...new Array<number>(98).fill(5), 2000, 2000]);
    expect(latencyPercentile(h, 0.5)).toBeLessThan(6);
    expect(latencyPercentile(h, 0.99)).toBeGreaterThan(2000 / 1.19);
  });

  it('gives the same percentiles for merged histograms as for one histogram of all requests', () => {
    const a = [1, 2, 3, 50, 70];
    const b = [4, 5, 400, 800, 900, 1000];
    const merged = histogramOf(a);
    addLatencyHistogram(merged, histogramOf(b));
    const all = histogramOf([...a, ...b]);
    expect(merged).toEqual(all);
    expect(latencyPercentile(merged, 0.99)).toBe(latencyPercentile(all, 0.99));
  });

  it('answers null for an empty histogram and the lower bound for the open last bucket', () => {
    expect(latencyPercentile(emptyLatencyHistogram(), 0.5)).toBeNull();
    expect(latencyPercentile(histogramOf([100_000]), 0.5)).toBe(latencyBucketBounds(latencyBucketCount - 1)[0]);
  });
});
