import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformConfig } from '../../../server/config.ts';
import { changeChannel } from '../../../server/db/change-notify.ts';
import { createApi, undeployApi } from '../../../server/domain/apis/index.ts';
import { type DomainContext, defaultSettings, systemActor } from '../../../server/domain/context.ts';
import { createPlatform, type Platform } from '../../../server/platform.ts';
import { createTestDatabase, drivers, type TestDatabase } from '../../helpers/database.ts';
import { loopbackHosts } from '../../helpers/platform.ts';
import { apiInput, clusterNames, fakePipeline } from './fake-pipeline.ts';

// Control planes of one database share the digest and secrets keys (docs/security.md, "Several replicas").
const replicaKeys = { keyDigestSecret: randomBytes(32), secretsKey: randomBytes(32) };

function config(database: TestDatabase): PlatformConfig {
  return {
    ...replicaKeys,
    ...loopbackHosts,
    managementPort: 0,
    gatewayPort: 0,
    xdsPort: 0,
    embeddedGateway: false,
    gatewayAdminPort: null,
    dataDir: database.dataDir,
    databaseUrl: database.url,
    logLevel: 'silent',
    settings: { ...defaultSettings },
  };
}

async function start(database: TestDatabase, loads = { count: 0 }): Promise<Platform> {
  return createPlatform(config(database), {
    logger: pino({ level: 'silent' }),
    snapshotPipeline: fakePipeline({ loads }),
  });
}

/** A domain context writing through `platform`'s database and change feed, as its GraphQL and REST layers do. */
function domainOf(platform: Platform): DomainContext {
  return { db: platform.database.db, changes: platform.changes, actor: systemActor, now: () => new Date(), settings: { ...defaultSettings }, keys: platform.keys };
}

/** Waits until `platform`'s snapshot satisfies `check` (snapshots arrive asynchronously from another process). */
async function eventually(platform: Platform, check: (clusters: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const clusters = clusterNames(platform.snapshots.current());
    if (check(clusters)) return clusters;
    if (Date.now() > deadline) throw new Error(`snapshot still has [${clusters.join(', ')}] after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(drivers)('snapshot propagation within one control plane on %s', (driver) => {
  let database: TestDatabase;
  let platform: Platform;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    platform = await start(database);
  });

  afterAll(async () => {
    await platform.close();
    await database.drop();
  });

  it('serves a snapshot from start-up and rebuilds it after a committed change', async () => {
    const first = platform.snapshots.current()?.version;
    expect(first).toBeDefined();
    expect(platform.ports.xds).toBeGreaterThan(0);
    await createApi(domainOf(platform), apiInput('local-change'));
    expect(await eventually(platform, (clusters) => clusters.includes('local-change'))).toContain('local-change');
    expect(platform.snapshots.current()?.version).not.toBe(first);
  });
});

// Cross-process propagation needs a shared Postgres; on PGlite (one process) there is nothing to propagate.
describe.each(drivers.filter((driver) => driver === 'postgres'))('snapshot propagation between control planes on %s', (driver) => {
  let database: TestDatabase;
  let first: Platform;
  let second: Platform;
  const firstLoads = { count: 0 };

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    first = await start(database, firstLoads);
    second = await start(database);
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await database.drop();
  });

  it('rebuilds the other control plane’s snapshot after a change committed on one', async () => {
    await createApi(domainOf(first), apiInput('remote-change'));
    expect(await eventually(second, (clusters) => clusters.includes('remote-change'))).toContain('remote-change');
    await undeployApi(domainOf(second), 'remote-change');
    expect(await eventually(first, (clusters) => !clusters.includes('remote-change'))).not.toContain('remote-change');
  });

  it('does not rebuild again for its own notification', async () => {
    await first.rebuildSnapshot();
    firstLoads.count = 0;
    await createApi(domainOf(first), apiInput('own-change'));
    await eventually(second, (clusters) => clusters.includes('own-change'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(firstLoads.count).toBe(1);
  });

  it('still receives changes after its LISTEN connection is killed', async () => {
    const admin = postgres(database.url ?? '', { max: 1, onnotice: () => {} });
    try {
      const killed = await admin`
        select pg_terminate_backend(pid) as done from pg_stat_activity
        where datname = current_database() and application_name = 'apip-change-listener'`;
      expect(killed.length).toBe(2);
      // Wait for both listeners to be back (they re-LISTEN with a short backoff).
      for (let i = 0; i < 100; i += 1) {
        const [row] = await admin`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'apip-change-listener'`;
        if (row?.n === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await createApi(domainOf(first), apiInput('after-reconnect'));
      expect(await eventually(second, (clusters) => clusters.includes('after-reconnect'))).toContain('after-reconnect');
      // The channel name is part of the wire contract between replicas of different versions.
      expect(changeChannel).toBe('apip_changes');
    } finally {
      await admin.end();
    }
  });
});
