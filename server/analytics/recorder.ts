import type { Logger } from 'pino';
import type { RequestStatsIncrement } from '../domain/analytics.ts';
import { addLatencyHistogram, emptyLatencyHistogram, latencyBucketOf } from './latency-histogram.ts';
import { DroppedRecords } from './dropped-records.ts';
import type { RequestRecord } from './request-record.ts';

/** Where closed minutes go (the database, through the domain); must apply one batch atomically. */
export type RequestStatsSink = (increments: readonly RequestStatsIncrement[]) => Promise<void>;

export interface AnalyticsRecorderOptions {
  sink: RequestStatsSink;
  logger: Logger;
  /** How often closed minutes are flushed. 0 = only on flush()/close(). @default 10_000 */
  flushIntervalMs?: number;
  /** Pending (minute, API, plan, application) keys kept while the sink fails; records beyond are dropped. @default 100_000 */
  maxPendingKeys?: number;
  /**
   * Distinct (API, plan, application) keys one minute may gain per flush window: what any set of data planes can
   * make the database store per minute between flushes. Records of further keys are dropped. @default 10_000
   */
  maxKeysPerMinute?: number;
  /** Records that started longer ago than this, or more than 5 minutes ahead, are dropped. @default 24 h */
  maxRecordAgeMs?: number;
  /** Counts what is dropped, by reason. */
  dropped?: DroppedRecords;
  /** @default Date.now */
  now?: () => number;
}

const minuteMs = 60_000;

/** Pending counters of one key; the histogram is ours to add to until it is handed to the sink. */
type Counters = RequestStatsIncrement & { latencyBuckets: number[] };

function keyOf(minute: number, api: string, plan: string | null, application: string | null): string {
  return `${minute}\u0000${api}\u0000${plan ?? ''}\u0000${application ?? ''}`;
}

/**
 * Counts finished requests in memory per (minute, API, plan, application) and hands closed minutes to the sink.
 * Requests that matched no API are not counted here (they have no API to attribute them to; the data planes'
 * own metrics count them). A record arriving for an already flushed minute (a slow request) simply becomes a new
 * increment for it: the sink adds, so nothing is lost or counted twice.
 */
export class AnalyticsRecorder {
  private readonly pending = new Map<string, Counters>();
  private readonly sink: RequestStatsSink;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly maxPendingKeys: number;
  private readonly maxKeysPerMinute: number;
  private readonly maxRecordAgeMs: number;
  private readonly droppedRecords: DroppedRecords;
  /** Pending keys per minute start, for maxKeysPerMinute. */
  private readonly keysPerMinute = new Map<number, number>();
  private readonly timer: NodeJS.Timeout | null;
  private flushing: Promise<void> = Promise.resolve();
  private dropped = 0;

  constructor(options: AnalyticsRecorderOptions) {
    this.sink = options.sink;
    this.logger = options.logger.child({ component: 'analytics' });
    this.now = options.now ?? Date.now;
    this.maxPendingKeys = options.maxPendingKeys ?? 100_000;
    this.maxKeysPerMinute = options.maxKeysPerMinute ?? 10_000;
    this.maxRecordAgeMs = options.maxRecordAgeMs ?? 24 * 60 * minuteMs;
    this.droppedRecords = options.dropped ?? new DroppedRecords();
    const interval = options.flushIntervalMs ?? 10_000;
    // A failed flush is logged and kept for the next one; it must not become an unhandled rejection.
    this.timer = interval > 0 ? setInterval(() => void this.flush().catch(() => {}), interval) : null;
    // Never keep the process alive just to flush; close() flushes what is left.
    this.timer?.unref();
  }

  record(record: RequestRecord): void {
    if (record.api === null || !Number.isFinite(record.startedAt)) return;
    const now = this.now();
    // A start time far from now is a broken clock or an invented record; either would create rows for any minute.
    if (record.startedAt < now - this.maxRecordAgeMs || record.startedAt > now + 5 * minuteMs) {
      this.droppedRecords.add('out_of_window', 1);
      return;
    }
    const minute = record.startedAt - (record.startedAt % minuteMs);
    const key = keyOf(minute, record.api, record.plan, record.applicationId);
    let entry = this.pending.get(key);
    if (!entry) {
      if (this.pending.size >= this.maxPendingKeys) {
        if (this.dropped++ === 0) this.logger.warn({ maxPendingKeys: this.maxPendingKeys }, 'analytics backlog full, dropping records');
        this.droppedRecords.add('backlog_full', 1);
        return;
      }
      const keys = this.keysPerMinute.get(minute) ?? 0;
      if (keys >= this.maxKeysPerMinute) {
        if (this.droppedRecords.count('minute_key_cap') === 0) this.logger.warn({ maxKeysPerMinute: this.maxKeysPerMinute }, 'analytics keys per minute at their cap, dropping records');
        this.droppedRecords.add('minute_key_cap', 1);
        return;
      }
      this.keysPerMinute.set(minute, keys + 1);
      entry = {
        minute: new Date(minute),
        apiHandle: record.api,
        planId: record.plan,
        applicationId: record.applicationId,
        requests: 0,
        clientErrors: 0,
        serverErrors: 0,
        latencyBuckets: emptyLatencyHistogram(),
      };
      this.pending.set(key, entry);
    }
    entry.requests++;
    if (record.status >= 400 && record.status < 500) entry.clientErrors++;
    else if (record.status >= 500 && record.status < 600) entry.serverErrors++;
    entry.latencyBuckets[latencyBucketOf(record.durationMs)]! += 1;
  }

  /** Pending keys (for metrics and tests). */
  get pendingKeys(): number {
    return this.pending.size;
  }

  /**
   * Hands pending counters to the sink: those of closed minutes, or all with `{ all: true }` (shutdown, tests).
   * Flushes run one at a time; a failed batch is merged back and retried by the next flush.
   */
  flush(options: { all?: boolean } = {}): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce(options.all ?? false));
    this.flushing = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush({ all: true }).catch(() => {});
  }

  private async flushOnce(all: boolean): Promise<void> {
    const now = this.now();
    const openMinute = now - (now % minuteMs);
    const batch: Counters[] = [];
    for (const [key, entry] of this.pending) {
      if (!all && entry.minute.getTime() >= openMinute) continue;
      batch.push(entry);
      this.pending.delete(key);
      // The flush window of this minute ends here; a late record starts a new one (the cap bounds each window).
      this.keysPerMinute.delete(entry.minute.getTime());
    }
    if (this.dropped > 0) {
      this.logger.warn({ dropped: this.dropped }, 'analytics records dropped while the backlog was full');
      this.dropped = 0;
    }
    if (batch.length === 0) return;
    try {
      await this.sink(batch);
      this.logger.debug({ rows: batch.length }, 'analytics flushed');
    } catch (error: unknown) {
      for (const entry of batch) this.restore(entry);
      this.logger.warn({ err: error, rows: batch.length }, 'analytics flush failed, will retry');
      throw error;
    }
  }

  private restore(entry: Counters): void {
    const key = keyOf(entry.minute.getTime(), entry.apiHandle, entry.planId, entry.applicationId);
    const current = this.pending.get(key);
    if (!current) {
      this.pending.set(key, entry);
      return;
    }
    current.requests += entry.requests;
    current.clientErrors += entry.clientErrors;
    current.serverErrors += entry.serverErrors;
    addLatencyHistogram(current.latencyBuckets, entry.latencyBuckets);
  }
}
