import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import { deleteRequestStatsBefore } from '../domain/analytics.ts';

export interface RetentionOptions {
  db: Database;
  /** Days of request_stats kept; 0 = forever (nothing is started). */
  days: number;
  logger: Logger;
  now: () => Date;
  /** @default 1 h */
  intervalMs?: number;
}

export interface Retention {
  /** Deletes the rows past the horizon now; the number deleted. */
  run(): Promise<number>;
  close(): void;
}

/**
 * Keeps request_stats within its horizon: what data planes report cannot grow the table forever. Runs once now
 * (rows of a long stop go at start) and then hourly.
 */
export async function startRequestStatsRetention(options: RetentionOptions): Promise<Retention> {
  const logger = options.logger.child({ component: 'analytics-retention' });
  const run = async (): Promise<number> => {
    if (options.days === 0) return 0;
    const cutoff = new Date(options.now().getTime() - options.days * 24 * 60 * 60_000);
    const deleted = await deleteRequestStatsBefore(options.db, cutoff);
    if (deleted > 0) logger.info({ deleted, before: cutoff.toISOString() }, 'old request statistics deleted');
    return deleted;
  };
  await run();
  const timer = options.days === 0
    ? null
    : setInterval(() => void run().catch((error: unknown) => logger.warn({ err: error }, 'request statistics retention failed')), options.intervalMs ?? 60 * 60_000);
  timer?.unref();
  return { run, close: () => { if (timer) clearInterval(timer); } };
}
