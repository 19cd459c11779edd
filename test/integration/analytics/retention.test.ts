import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRequestStatsRetention } from '../../../server/analytics/retention.ts';
import { apis, requestStats } from '../../../server/db/schema/index.ts';
import { newId } from '../../../server/domain/ids.ts';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';

const now = new Date(Date.UTC(2026, 5, 1, 12, 0, 0));
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);
const logger = pino({ level: 'silent' });

describe.each(drivers)('request_stats retention (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  const apiId = newId('api');

  const row = (minute: Date) => ({ minute, apiId, planId: null, applicationId: null, requests: 1, clientErrors: 0, serverErrors: 0, latencyBuckets: [1] });
  const minutes = async () => (await database.db.select({ minute: requestStats.minute }).from(requestStats)).map((r) => r.minute.getTime()).sort();

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    await database.db.insert(apis).values({ id: apiId, handle: 'books', displayName: 'Books', version: 'v1', context: '/books' });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('deletes rows older than the horizon at start, and again on each run, keeping younger ones', async () => {
    await database.db.insert(requestStats).values([row(daysAgo(45)), row(daysAgo(31)), row(daysAgo(29)), row(daysAgo(0))]);
    const retention = await startRequestStatsRetention({ db: database.db, days: 30, logger, now: () => now });
    try {
      expect(await minutes()).toEqual([daysAgo(29).getTime(), daysAgo(0).getTime()]);
      await database.db.insert(requestStats).values(row(daysAgo(60)));
      expect(await retention.run()).toBe(1);
      expect(await minutes()).toEqual([daysAgo(29).getTime(), daysAgo(0).getTime()]);
    } finally {
      retention.close();
    }
  });

  it('keeps everything when the horizon is 0', async () => {
    await database.db.insert(requestStats).values(row(daysAgo(400)));
    const retention = await startRequestStatsRetention({ db: database.db, days: 0, logger, now: () => now });
    expect(await retention.run()).toBe(0);
    expect(await minutes()).toContain(daysAgo(400).getTime());
    retention.close();
  });
});
