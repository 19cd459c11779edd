import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyLatencyHistogram, latencyBucketOf } from '../../../server/analytics/latency-histogram.ts';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { apis, plans, requestStats } from '../../../server/db/schema/index.ts';
import { addRequestStats, deleteRequestStatsBefore, queryRequestStats, type RequestStatsIncrement } from '../../../server/domain/analytics.ts';
import { createApplication } from '../../../server/domain/applications.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

const t0 = new Date(Date.UTC(2026, 0, 1, 12, 0, 0));
const minute = (n: number) => new Date(t0.getTime() + n * 60_000);
const range = { from: t0, to: minute(60) };

function increment(overrides: Partial<RequestStatsIncrement> & { durations?: number[] }): RequestStatsIncrement {
  const { durations = [10], ...rest } = overrides;
  const latencyBuckets = emptyLatencyHistogram();
  for (const d of durations) latencyBuckets[latencyBucketOf(d)]! += 1;
  return {
    minute: t0, apiHandle: 'books', planId: 'plan_gold', applicationId: null,
    requests: durations.length, clientErrors: 0, serverErrors: 0, latencyBuckets, ...rest,
  };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected the call to be rejected');
}

describe.each(drivers)('request statistics store (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let admin: DomainContext;
  let publisher: DomainContext;
  let cora: DomainContext;
  let dan: DomainContext;
  const booksId = newId('api');
  const filmsId = newId('api');
  let coraApp: string;
  let danApp: string;

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database);
    const actor = async (username: string, role: Actor['role']): Promise<Actor> => {
      const user = await createUser(admin, { username, password: `${username}-password`, role });
      return { userId: user.id, username, role };
    };
    publisher = domainContext(database, await actor('pat', 'publisher'));
    cora = domainContext(database, await actor('cora', 'consumer'));
    dan = domainContext(database, await actor('dan', 'consumer'));
    coraApp = (await createApplication(cora, { name: 'cora-app' })).id;
    danApp = (await createApplication(dan, { name: 'dan-app' })).id;
    await database.db.insert(apis).values([
      { id: booksId, handle: 'books', displayName: 'Books', version: 'v1', context: '/books' },
      { id: filmsId, handle: 'films', displayName: 'Films', version: 'v1', context: '/films' },
    ]);
    // Only plans that exist (of the API reported) are counted: these are the ones the increments name.
    await database.db.insert(plans).values([
      { id: 'plan_gold', apiId: booksId, lineageId: 'plan_gold', name: 'Gold', security: 'API_KEY' },
      { id: 'plan_free', apiId: booksId, lineageId: 'plan_free', name: 'Free', security: 'KEYLESS' },
      { id: 'plan_films', apiId: filmsId, lineageId: 'plan_films', name: 'Films', security: 'KEYLESS' },
    ]);
    // Two gateways flush the same minutes: their increments must add up, keyless rows included.
    await addRequestStats(database.db, [
      increment({ applicationId: coraApp, durations: [5, 5, 5, 5], clientErrors: 1 }),
      increment({ applicationId: null, planId: 'plan_free', durations: [100] }),
      increment({ apiHandle: 'films', applicationId: danApp, planId: 'plan_films', minute: minute(1), durations: [40, 40], serverErrors: 2 }),
    ]);
    await addRequestStats(database.db, [
      increment({ applicationId: coraApp, durations: [5, 5, 5, 5, 5, 2000], serverErrors: 1 }),
      increment({ applicationId: null, planId: 'plan_free', durations: [100, 100] }),
      increment({ applicationId: coraApp, minute: minute(2), durations: [7] }),
    ]);
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('addRequestStats', () => {
    it('adds to the existing row of the same key, counters and histogram alike, also when application and plan are null', async () => {
      const rows = await database.db.select().from(requestStats);
      expect(rows).toHaveLength(4);
      const cora0 = rows.find((r) => r.applicationId === coraApp && r.minute.getTime() === t0.getTime());
      expect(cora0).toMatchObject({ apiId: booksId, requests: 10, clientErrors: 1, serverErrors: 1 });
      expect(cora0?.latencyBuckets[latencyBucketOf(5)]).toBe(9);
      expect(cora0?.latencyBuckets[latencyBucketOf(2000)]).toBe(1);
      expect(rows.find((r) => r.applicationId === null)).toMatchObject({ planId: 'plan_free', requests: 3 });
    });

    it('merges rows whose plan is null into one row too', async () => {
      await addRequestStats(database.db, [increment({ apiHandle: 'films', planId: null, minute: minute(30) })]);
      await addRequestStats(database.db, [increment({ apiHandle: 'films', planId: null, minute: minute(30) })]);
      const [row] = await queryRequestStats(admin, { from: minute(30), to: minute(31), groupBy: ['API', 'PLAN'] });
      expect(row).toMatchObject({ apiId: filmsId, planId: null, requests: 2 });
      expect(await queryRequestStats(admin, { from: minute(30), to: minute(31), groupBy: ['PLAN'] })).toHaveLength(1);
    });

    it('drops increments of handles no API has and reports them', async () => {
      const result = await addRequestStats(database.db, [increment({ apiHandle: 'deleted-api', minute: minute(40) })]);
      expect(result.droppedHandles).toEqual(['deleted-api']);
      expect(await queryRequestStats(admin, { from: minute(40), to: minute(41), groupBy: [] })).toEqual([]);
    });

    it('drops and reports increments naming a plan or an application that does not exist, or a plan of another API', async () => {
      const result = await addRequestStats(database.db, [
        increment({ minute: minute(61), planId: 'plan_invented', durations: [1, 1] }),
        increment({ minute: minute(61), planId: 'plan_films', durations: [1, 1, 1] }),
        increment({ minute: minute(61), applicationId: 'app_invented', durations: [1, 1, 1, 1] }),
        increment({ minute: minute(61), applicationId: coraApp, durations: [1] }),
      ]);
      expect(result.dropped).toEqual({ unknownApi: 0, unknownPlan: 5, unknownApplication: 4 });
      const rows = await queryRequestStats(admin, { from: minute(61), to: minute(62), groupBy: ['PLAN', 'APPLICATION'] });
      expect(rows.map((r) => [r.planId, r.applicationId, r.requests])).toEqual([['plan_gold', coraApp, 1]]);
    });
  });

  describe('deleteRequestStatsBefore', () => {
    it('deletes the rows of minutes before the cutoff and keeps the rest', async () => {
      await addRequestStats(database.db, [increment({ minute: minute(-60 * 24 * 40), applicationId: coraApp })]);
      const before = await database.db.select().from(requestStats);
      expect(await deleteRequestStatsBefore(database.db, minute(-60))).toBe(1);
      const after = await database.db.select().from(requestStats);
      expect(after).toHaveLength(before.length - 1);
      expect(after.every((row) => row.minute.getTime() >= minute(-60).getTime())).toBe(true);
    });
  });

  describe('queryRequestStats', () => {
    it('sums everything in range into one row without groupBy, with error rates and percentiles', async () => {
      const rows = await queryRequestStats(admin, { from: t0, to: minute(3), groupBy: [] });
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row).toMatchObject({ minute: null, apiId: null, planId: null, applicationId: null, requests: 16, clientErrors: 1, serverErrors: 3 });
      expect(row.errorRate).toBeCloseTo(4 / 16);
      expect(row.serverErrorRate).toBeCloseTo(3 / 16);
      // 16 requests: 9 × 5 ms, 1 × 7, 2 × 40, 3 × 100, 1 × 2000 → p50 among the 5 ms ones, p99 in the slow tail.
      expect(row.p50Ms).toBeGreaterThan(5 / 1.19);
      expect(row.p50Ms).toBeLessThan(5 * 1.19);
      expect(row.p99Ms).toBeGreaterThan(2000 / 1.19);
    });

    it('keeps APIs, plans, applications and minutes apart as asked, unknown application as null', async () => {
      const byApp = await queryRequestStats(admin, { from: t0, to: minute(3), groupBy: ['APPLICATION'] });
      expect(byApp.map((r) => [r.applicationId, r.requests])).toEqual(
        [[coraApp, 11], [danApp, 2], [null, 3]].sort((a, b) => String(a[0] ?? '\uffff').localeCompare(String(b[0] ?? '\uffff'))),
      );
      const byApiMinute = await queryRequestStats(admin, { from: t0, to: minute(3), groupBy: ['MINUTE', 'API'] });
      expect(byApiMinute.map((r) => [r.minute?.getTime(), r.apiId, r.requests, r.planId])).toEqual([
        [t0.getTime(), booksId, 13, null],
        [minute(1).getTime(), filmsId, 2, null],
        [minute(2).getTime(), booksId, 1, null],
      ]);
      const byPlan = await queryRequestStats(admin, { from: t0, to: minute(3), groupBy: ['PLAN'], apiId: booksId });
      expect(byPlan.map((r) => [r.planId, r.requests])).toEqual([['plan_free', 3], ['plan_gold', 11]]);
    });

    it('counts only minutes starting in [from, to)', async () => {
      const rows = await queryRequestStats(admin, { from: minute(1), to: minute(2), groupBy: [] });
      expect(rows.map((r) => r.requests)).toEqual([2]);
    });

    it('filters by API, plan and application', async () => {
      expect((await queryRequestStats(admin, { ...range, groupBy: [], apiId: filmsId, planId: 'plan_films' }))[0]?.requests).toBe(2);
      expect((await queryRequestStats(admin, { ...range, groupBy: [], applicationId: coraApp }))[0]?.requests).toBe(11);
    });

    it('shows publishers every application but a consumer only its own applications', async () => {
      expect((await queryRequestStats(publisher, { from: t0, to: minute(3), groupBy: [] }))[0]?.requests).toBe(16);
      const mine = await queryRequestStats(cora, { from: t0, to: minute(3), groupBy: ['APPLICATION'] });
      expect(mine.map((r) => [r.applicationId, r.requests])).toEqual([[coraApp, 11]]);
      expect(await queryRequestStats(cora, { ...range, groupBy: [], applicationId: danApp })).toEqual([]);
      expect(await queryRequestStats(dan, { ...range, groupBy: [], apiId: booksId })).toEqual([]);
    });

    it('refuses an empty or too long range with the path of to', async () => {
      for (const query of [
        { from: minute(5), to: minute(5), groupBy: [] },
        { from: t0, to: new Date(t0.getTime() + 32 * 86_400_000), groupBy: [] },
        { from: t0, to: new Date(t0.getTime() + 25 * 3_600_000), groupBy: ['MINUTE' as const] },
      ]) {
        const error = await caught(queryRequestStats(admin, query));
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['to']);
      }
    });
  });
});
