import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { latencyBucketOf } from '../../../server/analytics/latency-histogram.ts';
import { DroppedRecords } from '../../../server/analytics/dropped-records.ts';
import { AnalyticsRecorder } from '../../../server/analytics/recorder.ts';
import type { RequestRecord } from '../../../server/analytics/request-record.ts';
import type { RequestStatsIncrement } from '../../../server/domain/analytics.ts';

async function eventually(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const logger = pino({ level: 'silent' });

function req(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return { startedAt: t0 + 1_000, api: 'books', status: 200, durationMs: 10, applicationId: 'app_1', plan: 'plan_1', ...overrides };
}

describe('AnalyticsRecorder', () => {
  let now = t0;
  let batches: RequestStatsIncrement[][] = [];
  let failing = false;
  const recorders: AnalyticsRecorder[] = [];

  function recorder(options: { maxPendingKeys?: number; flushIntervalMs?: number; maxKeysPerMinute?: number; dropped?: DroppedRecords } = {}): AnalyticsRecorder {
    batches = [];
    failing = false;
    now = t0 + 30_000;
    const r = new AnalyticsRecorder({
      sink: async (rows) => {
        if (failing) throw new Error('database down');
        batches.push(rows.map((row) => ({ ...row, latencyBuckets: [...row.latencyBuckets] })));
      },
      logger,
      flushIntervalMs: 0,
      now: () => now,
      ...options,
    });
    recorders.push(r);
    return r;
  }
  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.close();
  });

  it('counts requests, client errors and server errors per (minute, API, plan, application)', async () => {
    const r = recorder();
    r.record(req({ status: 200 }));
    r.record(req({ status: 404 }));
    r.record(req({ status: 429 }));
    r.record(req({ status: 503 }));
    r.record(req({ applicationId: null, plan: 'plan_keyless' }));
    r.record(req({ api: 'films' }));
    await r.flush({ all: true });
    const rows = batches.flat();
    expect(rows).toHaveLength(3);
    expect(rows.find((row) => row.apiHandle === 'books' && row.applicationId === 'app_1')).toMatchObject({
      minute: new Date(t0), planId: 'plan_1', requests: 4, clientErrors: 2, serverErrors: 1,
    });
    expect(rows.find((row) => row.applicationId === null)).toMatchObject({ apiHandle: 'books', planId: 'plan_keyless', requests: 1 });
    expect(rows.find((row) => row.apiHandle === 'films')).toMatchObject({ requests: 1, clientErrors: 0, serverErrors: 0 });
  });

  it('fills the latency histogram with one count per request', async () => {
    const r = recorder();
    for (const durationMs of [3, 3, 250]) r.record(req({ durationMs }));
    await r.flush({ all: true });
    const [row] = batches.flat();
    expect(row?.latencyBuckets[latencyBucketOf(3)]).toBe(2);
    expect(row?.latencyBuckets[latencyBucketOf(250)]).toBe(1);
    expect(row?.latencyBuckets.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('counts a request in the minute it started in', async () => {
    const r = recorder();
    r.record(req({ startedAt: t0 + 59_999 }));
    r.record(req({ startedAt: t0 + 60_000 }));
    await r.flush({ all: true });
    expect(batches.flat().map((row) => row.minute.getTime()).sort()).toEqual([t0, t0 + 60_000]);
  });

  it('does not count requests that matched no API', async () => {
    const r = recorder();
    r.record(req({ api: null, status: 404 }));
    expect(r.pendingKeys).toBe(0);
    await r.flush({ all: true });
    expect(batches).toEqual([]);
  });

  it('flushes only closed minutes unless asked for all', async () => {
    const r = recorder();
    r.record(req({ startedAt: t0 + 1_000 }));
    now = t0 + 61_000;
    r.record(req({ startedAt: t0 + 60_500 }));
    await r.flush();
    expect(batches.flat().map((row) => row.minute.getTime())).toEqual([t0]);
    expect(r.pendingKeys).toBe(1);
    await r.flush({ all: true });
    expect(batches.flat().map((row) => row.minute.getTime())).toEqual([t0, t0 + 60_000]);
    expect(r.pendingKeys).toBe(0);
  });

  it('sends a late request of a flushed minute as a new increment of that minute', async () => {
    const r = recorder();
    r.record(req());
    now = t0 + 70_000;
    await r.flush();
    r.record(req({ durationMs: 65_000 }));
    await r.flush();
    expect(batches.map((b) => b.map((row) => [row.minute.getTime(), row.requests]))).toEqual([[[t0, 1]], [[t0, 1]]]);
  });

  it('keeps a failed batch and sends it, merged with newer records, with the next flush', async () => {
    const r = recorder();
    r.record(req());
    failing = true;
    await expect(r.flush({ all: true })).rejects.toThrow('database down');
    r.record(req({ status: 500 }));
    failing = false;
    await r.flush({ all: true });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(1);
    expect(batches[0]?.[0]).toMatchObject({ requests: 2, serverErrors: 1 });
  });

  it('drops records of new keys beyond the backlog limit and keeps counting known keys', async () => {
    const r = recorder({ maxPendingKeys: 2 });
    r.record(req({ api: 'a' }));
    r.record(req({ api: 'b' }));
    r.record(req({ api: 'c' }));
    r.record(req({ api: 'a' }));
    await r.flush({ all: true });
    expect(batches.flat().map((row) => [row.apiHandle, row.requests]).sort()).toEqual([['a', 2], ['b', 1]]);
  });

  it('flushes closed minutes by itself every interval, retrying after a failure without an unhandled rejection', async () => {
    const r = recorder({ flushIntervalMs: 5 });
    failing = true;
    r.record(req());
    now = t0 + 61_000;
    // Several intervals fail (each logged, none rejected unhandled), then the sink recovers.
    await new Promise((resolve) => setTimeout(resolve, 30));
    failing = false;
    await eventually(() => batches.length > 0);
    expect(batches.flat()).toMatchObject([{ minute: new Date(t0), requests: 1 }]);
  });

  it('keeps at most maxKeysPerMinute keys of one minute per flush window, counts the rest as dropped, and takes new keys after the flush', async () => {
    const dropped = new DroppedRecords();
    const r = recorder({ maxKeysPerMinute: 2, dropped });
    for (const application of ['app_1', 'app_2', 'app_3', 'app_4', 'app_1']) r.record(req({ applicationId: application }));
    // Another minute has its own cap.
    r.record(req({ startedAt: t0 - 59_000, applicationId: 'app_3' }));
    await r.flush({ all: true });
    expect(batches.flat().map((row) => [row.minute.getTime(), row.applicationId, row.requests])).toEqual([
      [t0, 'app_1', 2],
      [t0, 'app_2', 1],
      [t0 - 60_000, 'app_3', 1],
    ]);
    expect(dropped.count('minute_key_cap')).toBe(2);
    r.record(req({ applicationId: 'app_3' }));
    await r.flush({ all: true });
    expect(batches[1]?.map((row) => row.applicationId)).toEqual(['app_3']);
  });

  it('drops records that started more than a day ago or more than 5 minutes ahead', async () => {
    const dropped = new DroppedRecords();
    const r = recorder({ dropped });
    r.record(req({ startedAt: now - 25 * 60 * 60_000 }));
    r.record(req({ startedAt: now + 6 * 60_000 }));
    r.record(req({ startedAt: now - 23 * 60 * 60_000 }));
    await r.flush({ all: true });
    expect(batches.flat()).toHaveLength(1);
    expect(dropped.count('out_of_window')).toBe(2);
  });

  it('flushes everything pending on close', async () => {
    const r = recorder();
    r.record(req());
    await r.close();
    expect(batches.flat()).toHaveLength(1);
  });
});
