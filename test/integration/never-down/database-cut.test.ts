import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, drivers, type TestDatabase } from '../../helpers/database.ts';
import { createApi, createPlan, must, newSubscriber } from '../../helpers/plans-traffic.ts';
import { adminAuth, adminCredentials, type GraphQLResponse, type TestPlatform } from '../../helpers/platform.ts';
import { type StartedProcess, startServerProcess } from '../../helpers/process.ts';
import { type CutMode, startTcpRelay, type TcpRelay } from '../../helpers/tcp-relay.ts';
import { eventually, gatewayAnswers, parseMetrics, type Recorder, send, startRecorder } from '../../helpers/traffic.ts';

// The platform runs as `npm start` does, in its own process, so that a fault that ends the process is seen as an
// exit; Postgres is reached through a relay the test cuts while a burst of GraphQL writes is in flight.

/** The GraphQL helpers of test/helpers/platform.ts, for the platform in the child process. */
function overHttp(managementPort: number): TestPlatform {
  const baseUrl = `http://127.0.0.1:${managementPort}`;
  return {
    baseUrl,
    graphql: async <T,>(query: string, variables: Record<string, unknown> = {}, auth: string | null = adminAuth) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (auth) headers.authorization = auth;
      const res = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      return { status: res.status, ...((await res.json()) as Omit<GraphQLResponse<T>, 'status'>) };
    },
  } as TestPlatform;
}

type Outcome = 'acknowledged' | 'unavailable' | { unexpected: string };

const burstSize = 40;
const inFlight = 8;

describe.each(drivers.filter((driver) => driver === 'postgres'))('the platform while its Postgres connection is cut (%s)', (driver) => {
  describe.each<CutMode>(['reset', 'refuse', 'blackhole'])('%s', (mode) => {
    let database: TestDatabase;
    let direct: postgres.Sql;
    let relay: TcpRelay;
    let upstream: Recorder;
    let dataDir: string;
    let server: StartedProcess;
    let t: TestPlatform;
    const keys: { revoked: { key: string; id: string }; kept: string } = { revoked: { key: '', id: '' }, kept: '' };

    beforeAll(async () => {
      database = await createTestDatabase(driver);
      direct = postgres(database.url!, { max: 1, onnotice: () => {} });
      relay = await startTcpRelay({ host: '127.0.0.1', port: Number(new URL(database.url!).port || 5432) });
      upstream = await startRecorder('kept-serving');
      dataDir = mkdtempSync(join(tmpdir(), 'apip-never-down-'));
      server = await startServerProcess({
        DATABASE_URL: relay.urlThrough(database.url!),
        DATA_DIR: dataDir,
        ADMIN_USERNAME: adminCredentials.username,
        ADMIN_PASSWORD: adminCredentials.password,
        MANAGEMENT_PORT: '0', GATEWAY_PORT: '0', XDS_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      });
      t = overHttp(server.ports.management);
      const api = await createApi(t, 'kept', { context: '/kept/$version', upstreamUrl: upstream.url });
      const plan = await createPlan(t, api, 'Keys', { type: 'API_KEY' });
      const revoked = await newSubscriber(t, 'to-revoke', plan);
      const kept = await newSubscriber(t, 'to-keep', plan);
      keys.revoked = { key: revoked.key!, id: revoked.keyId! };
      keys.kept = kept.key!;
      await gatewayAnswers(server.ports.gateway!, '/kept/v1/items', 200, { headers: { 'x-api-key': keys.kept } });
    }, 120_000);

    afterAll(async () => {
      await relay?.restore();
      await server?.stop();
      await direct?.end();
      await relay?.close();
      await upstream?.close();
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    /** One createApi of two operations: two tables, so a half-written change would show. */
    async function write(i: number): Promise<Outcome> {
      try {
        const res = await t.graphql<{ createApi: { __typename: string } }>(
          'mutation($input: CreateApiInput!) { createApi(input: $input) { __typename } }',
          {
            input: {
              metadata: { name: `burst-${i}` },
              spec: {
                displayName: `burst ${i}`, version: 'v1', context: `/burst-${i}`, upstream: { main: { url: upstream.url } },
                operations: [{ method: 'GET', path: '/a' }, { method: 'POST', path: '/b' }],
              },
            },
          },
        );
        if (res.status === 200 && res.data?.createApi.__typename === 'CreateApiPayload') return 'acknowledged';
        if (res.status === 503 && res.errors?.[0]?.extensions?.code === 'SERVICE_UNAVAILABLE') return 'unavailable';
        return { unexpected: JSON.stringify(res).slice(0, 300) };
      } catch (error: unknown) {
        return { unexpected: String(error) };
      }
    }

    it('stays up, serves traffic and keeps every acknowledged write when the connection is cut mid-burst', async () => {
      const outcomes = new Map<number, Outcome>();
      let next = 0;
      let cutDone: Promise<void> | null = null;
      const gatewayDuringOutage: number[] = [];
      const worker = async () => {
        while (next < burstSize) {
          const i = next++;
          outcomes.set(i, await write(i));
          // Mid-burst: after a few writes went through, with others still in flight.
          if (outcomes.size === 8 && !cutDone) {
            cutDone = (async () => {
              for (let n = 0; n < 10; n++) {
                // A reset is over at once (new connections go through), so it is repeated to catch writes mid-transaction.
                if (n === 0 || mode === 'reset') await relay.cut(mode);
                const answer = await send(server.ports.gateway!, '/kept/v1/items', { headers: { 'x-api-key': keys.kept } }).catch(() => null);
                gatewayDuringOutage.push(answer?.status ?? 0);
                await new Promise((resolve) => setTimeout(resolve, 150));
              }
              await relay.restore();
            })();
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      await cutDone;

      expect(server.child.exitCode, server.stderr().slice(-2000)).toBeNull();
      expect([...outcomes.values()].filter((o) => typeof o === 'object')).toEqual([]);
      expect(gatewayDuringOutage).toEqual(Array(10).fill(200));

      const rows = await direct<{ handle: string; operations: number }[]>`
        select a.handle, (select count(*)::int from operations o where o.api_id = a.id) as operations
        from apis a where a.handle like 'burst-%'`;
      const stored = new Map(rows.map((row) => [row.handle, row.operations]));
      for (const [i, outcome] of outcomes) if (outcome === 'acknowledged') expect(stored.get(`burst-${i}`), `burst-${i}`).toBe(2);
      // A refused write may have committed before the connection went (its answer was lost), but never in part.
      expect(rows.filter((row) => row.operations !== 2)).toEqual([]);
    }, 120_000);

    it('delivers a revocation made after recovery to the gateway within 1 s', async () => {
      const revoke = () => must(t, 'revokeApiKey', 'RevokeApiKeyInput', 'apiKey { status }', { id: keys.revoked.id });
      // The first writes after the outage may still find no connection (503); the promise starts at the acknowledgement.
      await eventually(() => revoke().then(() => true), (ok) => ok, { timeoutMs: 15_000, intervalMs: 200, what: 'the revocation to be accepted' });
      await gatewayAnswers(server.ports.gateway!, '/kept/v1/items', 401, { headers: { 'x-api-key': keys.revoked.key }, timeoutMs: 1000 }).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${server.stdout().slice(-4000)}`);
      });
      expect((await send(server.ports.gateway!, '/kept/v1/items', { headers: { 'x-api-key': keys.kept } })).status).toBe(200);
      expect(server.child.exitCode).toBeNull();
    }, 60_000);

    it('threw no uncaught exception, as both /metrics endpoints report', async () => {
      const management = await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: adminAuth } }).then((res) => res.text());
      const gateway = await fetch(`http://127.0.0.1:${server.ports.gatewayAdmin}/metrics`).then((res) => res.text());
      for (const text of [management, gateway]) {
        const samples = parseMetrics(text).filter((sample) => sample.name === 'apip_unexpected_errors_total');
        expect(samples.map((sample) => sample.labels.source).sort()).toEqual(['uncaught_exception', 'unhandled_rejection']);
        // postgres.js's reset-in-a-transaction TypeError is fixed at its source (db/abandon-lost-transactions.ts).
        // Its unhandled ECONNRESET rejections remain (counted, logged once, harmless): not asserted here.
        expect(samples.find((sample) => sample.labels.source === 'uncaught_exception')?.value).toBe(0);
      }
    });
  });
});
