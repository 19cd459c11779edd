/**
 * GraphQL read latency on a realistic catalogue (issue 2): 10k APIs × 5 operations, 1k applications,
 * 10k subscriptions; then p50/p99 of one page of 50 APIs with nested plans -> subscriptions -> application,
 * over real HTTP, on PGlite and (with DATABASE_URL) on Postgres.
 *
 *   npx tsx bench/graphql.ts                       # PGlite only
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/graphql.ts
 */
import { pino } from 'pino';
import type { Database } from '../server/db/client.ts';
import { apis, apiUpstreams, applications, operations, plans, subscriptions, users } from '../server/db/schema/index.ts';
import { defaultSettings } from '../server/domain/context.ts';
import { newId } from '../server/domain/ids.ts';
import { createPlatform } from '../server/platform.ts';
import { createTestDatabase, type Driver } from '../test/helpers/database.ts';

const apiCount = 10_000;
const operationsPerApi = 5;
const applicationCount = 1_000;
const iterations = Number(process.env.ITERATIONS ?? 300);
const warmup = 30;
const admin = { username: 'admin', password: 'bench-password-1' };

async function insertChunked<T>(db: Database, rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await insert(rows.slice(i, i + 1000));
  void db;
}

async function seed(db: Database): Promise<void> {
  const ownerId = newId('user');
  await db.insert(users).values({ id: ownerId, username: 'owner', passwordHash: 'x', role: 'consumer' });
  const appIds = Array.from({ length: applicationCount }, () => newId('application'));
  await insertChunked(db, appIds.map((id, i) => ({ id, name: `app-${i}`, ownerId })), (c) => db.insert(applications).values(c));
  const apiIds = Array.from({ length: apiCount }, () => newId('api'));
  await insertChunked(
    db,
    apiIds.map((id, i) => ({ id, handle: `api-${i}`, displayName: `API ${i}`, version: 'v1', context: `/api-${i}/$version` })),
    (c) => db.insert(apis).values(c),
  );
  await insertChunked(
    db,
    apiIds.map((apiId) => ({ apiId, environment: 'main' as const, url: 'http://127.0.0.1:9' })),
    (c) => db.insert(apiUpstreams).values(c),
  );
  const ops = apiIds.flatMap((apiId) =>
    Array.from({ length: operationsPerApi }, (_, j) => ({ id: newId('operation'), apiId, position: j, method: 'GET' as const, path: `/r${j}/{id}` })),
  );
  await insertChunked(db, ops, (c) => db.insert(operations).values(c));
  const planIds = apiIds.map(() => newId('plan'));
  await insertChunked(
    db,
    apiIds.map((apiId, i) => ({ id: planIds[i] ?? '', apiId, lineageId: planIds[i] ?? '', name: 'Gold', security: 'API_KEY' as const, status: 'PUBLISHED' as const })),
    (c) => db.insert(plans).values(c),
  );
  await insertChunked(
    db,
    apiIds.map((apiId, i) => ({ id: newId('subscription'), apiId, planId: planIds[i] ?? null, applicationId: appIds[i % applicationCount] ?? null, status: 'ACCEPTED' as const })),
    (c) => db.insert(subscriptions).values(c),
  );
}

const query = `{
  apis(first: 50) {
    edges { node { handle displayName plans { name status subscriptions { status application { name } } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function run(driver: Driver): Promise<void> {
  const target = await createTestDatabase(driver);
  const platform = await createPlatform(
    {
      managementHost: '127.0.0.1', xdsHost: '127.0.0.1', gatewayHost: '127.0.0.1', gatewayAdminHost: '127.0.0.1', managementPort: 0, gatewayPort: 0, xdsPort: 0, embeddedGateway: false, gatewayAdminPort: null, dataDir: target.dataDir, databaseUrl: target.url,
      admin, logLevel: 'silent', settings: { ...defaultSettings },
    },
    { logger: pino({ level: 'silent' }) },
  );
  try {
    const seedStart = performance.now();
    await seed(platform.database.db);
    const seedMs = performance.now() - seedStart;
    const url = `http://127.0.0.1:${platform.ports.management}/graphql`;
    const headers = {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`,
    };
    const timings: number[] = [];
    for (let i = 0; i < warmup + iterations; i++) {
      const start = performance.now();
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
      const body = (await res.json()) as { data?: { apis: { edges: unknown[] } }; errors?: unknown };
      if (!body.data || body.data.apis.edges.length !== 50) throw new Error(`unexpected response: ${JSON.stringify(body).slice(0, 300)}`);
      if (i >= warmup) timings.push(performance.now() - start);
    }
    timings.sort((a, b) => a - b);
    process.stdout.write(
      `${driver.padEnd(9)} seed ${(seedMs / 1000).toFixed(1)} s | page of 50 APIs -> plans -> subscriptions -> application: ` +
        `p50 ${percentile(timings, 50).toFixed(1)} ms, p99 ${percentile(timings, 99).toFixed(1)} ms (${iterations} requests)\n`,
    );
  } finally {
    await platform.close();
    await target.drop();
  }
}

process.stdout.write(`catalogue: ${apiCount} APIs x ${operationsPerApi} operations, ${applicationCount} applications, ${apiCount} subscriptions\n`);
await run('pglite');
if (process.env.DATABASE_URL) await run('postgres');
