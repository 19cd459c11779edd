import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../../server/domain/apis/index.ts';
import type { DomainContext } from '../../../server/domain/context.ts';
import { type SnapshotPipeline, SnapshotRunner, type SnapshotRunnerOptions } from '../../../server/xds/runner.ts';
import { SnapshotCache } from '../../../server/xds/snapshot-cache.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';
import { apiInput, clusterNames, type FakeModel, fakePipeline, nextSnapshot } from './fake-pipeline.ts';

describe.each(drivers)('SnapshotRunner on %s', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let ctx: DomainContext;
  const runners: SnapshotRunner<FakeModel>[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });

  async function startRunner(
    pipeline: SnapshotPipeline<FakeModel>,
    overrides: Partial<SnapshotRunnerOptions<FakeModel>> = {},
  ): Promise<{ runner: SnapshotRunner<FakeModel>; cache: SnapshotCache }> {
    const cache = new SnapshotCache();
    const runner = new SnapshotRunner<FakeModel>({ db: database.db, changes: ctx.changes, cache, pipeline, logger, now: ctx.now, ...overrides });
    runners.push(runner);
    await runner.start();
    return { runner, cache };
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    ctx = domainContext(database);
  });

  afterAll(async () => {
    for (const runner of runners) await runner.close();
    await database.drop();
  });

  it('publishes the first snapshot before start() returns', async () => {
    const { cache } = await startRunner(fakePipeline());
    expect(cache.current()).not.toBeNull();
  });

  it('publishes a new snapshot version after a change made through a domain function', async () => {
    const { cache } = await startRunner(fakePipeline());
    const before = cache.current()?.version;
    const published = nextSnapshot(cache);
    await createApi(ctx, apiInput('runner-change'));
    const snapshot = await published;
    expect(snapshot.version).not.toBe(before);
    expect(clusterNames(snapshot)).toContain('runner-change');
  });

  it('turns a burst of change events into one snapshot', async () => {
    const loads = { count: 0 };
    const { runner } = await startRunner(fakePipeline({ loads }), { debounceMs: 20 });
    loads.count = 0;
    for (let i = 0; i < 5; i += 1) ctx.changes.publish([{ entityType: 'api', entityId: `burst-${i}`, action: 'update' }]);
    await runner.idle();
    expect(loads.count).toBe(1);
  });

  it('keeps the last good snapshot and reports the problems when validation fails', async () => {
    const { runner, cache } = await startRunner(fakePipeline({ invalid: 'runner-invalid' }));
    const good = cache.current();
    await createApi(ctx, apiInput('runner-invalid'));
    await runner.idle();
    expect(cache.current()).toBe(good);
    expect(runner.problems()).toEqual([{ path: 'runner-invalid', message: 'rejected' }]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 50, msg: 'generated configuration is invalid, keeping the last good snapshot' }));
  });

  it('keeps the last good snapshot while the model cannot be loaded, then recovers', async () => {
    const failLoads = { count: 0 };
    const { runner, cache } = await startRunner(fakePipeline({ failLoads }), { retryMs: 10 });
    const good = cache.current();
    failLoads.count = 2;
    const published = nextSnapshot(cache);
    await createApi(ctx, apiInput('runner-recovered'));
    await runner.idle();
    expect(cache.current()).toBe(good);
    expect(clusterNames(await published)).toContain('runner-recovered');
  });

  it('rebuilds on its timer so an expiry reaches the data plane without a write', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const { cache } = await startRunner(fakePipeline({ expiresAt: now + 1000 }), { now: () => new Date(now), refreshIntervalMs: 25 });
    expect(clusterNames(cache.current())).toContain('temporary');
    const published = nextSnapshot(cache);
    now += 1000;
    expect(clusterNames(await published)).not.toContain('temporary');
  });

  it('rebuilds at the instant the pipeline says the model changes, with no write and no periodic refresh', async () => {
    const start = Date.now();
    const expiresAt = start + 150;
    const pipeline: SnapshotPipeline<FakeModel> = {
      ...fakePipeline({ expiresAt }),
      nextChangeAt: async (_db, now) => (now.getTime() < expiresAt ? new Date(expiresAt) : null),
    };
    // An hour between safety refreshes: only the scheduled rebuild can drop the expired entry within the test.
    const { cache } = await startRunner(pipeline, { now: () => new Date(), refreshIntervalMs: 3_600_000 });
    expect(clusterNames(cache.current())).toContain('temporary');
    expect(clusterNames(await nextSnapshot(cache))).not.toContain('temporary');
  });
});
