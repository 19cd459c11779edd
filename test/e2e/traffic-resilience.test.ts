import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSettings } from '../../server/domain/context.ts';
import { type AdsClient, adsClientCredentials, createAdsClient } from '../../server/gateway/ads-client.ts';
import { createGateway, type Gateway } from '../../server/gateway/gateway.ts';
import { createPlatform, type Platform } from '../../server/platform.ts';
import { createTestDatabase, drivers, type TestDatabase } from '../helpers/database.ts';
import { adminCredentials, loopbackHosts, type TestPlatform } from '../helpers/platform.ts';
import {
  createApiOverGraphql, eventually, gatewayAnswers, type Recorder, send, startRecorder, startTcpRelay, type TcpRelay,
} from '../helpers/traffic.ts';

const silent = pino({ level: 'silent' });

describe.each(drivers)('traffic: a standalone gateway while the control plane and its database are down (%s)', (driver) => {
  let upstream: Recorder;
  let database: TestDatabase;
  let dataDir: string;
  let relay: TcpRelay | null = null;
  let databaseUrl: string | undefined;
  let controlPlane: Platform | null = null;
  let xdsPort = 0;
  let client: AdsClient;
  let gateway: Gateway;

  /** A control plane without an embedded gateway on the suite's database (through the relay for Postgres). */
  async function startControlPlane(port: number): Promise<Platform> {
    return createPlatform(
      {
        ...loopbackHosts,
        managementPort: 0,
        gatewayPort: 0,
        xdsPort: port,
        embeddedGateway: false,
        gatewayAdminPort: null,
        dataDir,
        databaseUrl,
        admin: adminCredentials,
        logLevel: 'silent',
        settings: { ...defaultSettings },
      },
      { logger: silent },
    );
  }

  /** The GraphQL helpers of test/helpers/platform.ts, for a platform started here. */
  function asTestPlatform(platform: Platform): TestPlatform {
    const baseUrl = `http://127.0.0.1:${platform.ports.management}`;
    const auth = `Basic ${Buffer.from(`${adminCredentials.username}:${adminCredentials.password}`).toString('base64')}`;
    return {
      platform,
      baseUrl,
      graphql: async <T,>(query: string, variables: Record<string, unknown> = {}) => {
        const res = await fetch(`${baseUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body: JSON.stringify({ query, variables }),
        });
        return { status: res.status, ...((await res.json()) as { data?: T }) };
      },
      close: () => platform.close(),
    };
  }

  beforeAll(async () => {
    upstream = await startRecorder('resilient');
    database = await createTestDatabase(driver);
    dataDir = mkdtempSync(join(tmpdir(), 'apip-resilience-'));
    if (database.url) {
      const direct = new URL(database.url);
      relay = await startTcpRelay({ host: direct.hostname, port: Number(direct.port || 5432) });
      const viaRelay = new URL(database.url);
      viaRelay.hostname = '127.0.0.1';
      viaRelay.port = String(relay.port);
      databaseUrl = viaRelay.toString();
    }
    controlPlane = await startControlPlane(0);
    xdsPort = controlPlane.ports.xds ?? 0;
    // The gateway's certificate outlives the control plane: the restarted one reads the same CA from DATA_DIR/pki.
    const certificate = await controlPlane.pki.issue('resilient-gateway', 1);
    client = createAdsClient({
      address: `127.0.0.1:${xdsPort}`,
      logger: silent,
      credentials: adsClientCredentials(certificate),
      node: { id: 'resilient-gateway', cluster: 'apip-gateway' },
      backoff: { initialMs: 50, maxMs: 250 },
    });
    gateway = await createGateway({ source: client, port: 0, adminPort: null, host: '127.0.0.1', logger: silent });
  });
  afterAll(async () => {
    client.close();
    await gateway.close();
    await controlPlane?.close();
    await relay?.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
    await upstream.close();
  });

  it('serves an API created on the control plane through the gateway fed over ADS', async () => {
    await createApiOverGraphql(asTestPlatform(controlPlane!), 'before-outage', {
      // No plan: configuration delivery is under test, so the API is open by choice.
      accessMode: 'OPEN',
      context: '/before/$version',
      upstreamUrl: upstream.url,
      operations: [{ method: 'GET', path: '/items/{id}' }],
    });
    await gatewayAnswers(gateway.port, '/before/v1/items/1', 200);
  });

  it('keeps serving the last configuration while the database is unreachable and the control plane is closed', async () => {
    const servedVersion = gateway.version;
    if (relay) {
      await relay.cut();
      // The outage is real: a write on the control plane does not succeed (it fails, or is still waiting on
      // the database when we stop waiting after 3 s).
      const attempt = await fetch(`http://127.0.0.1:${controlPlane!.ports.management}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${adminCredentials.username}:${adminCredentials.password}`).toString('base64')}` },
        body: JSON.stringify({
          query: 'mutation($input: CreateApiInput!) { createApi(input: $input) { __typename } }',
          variables: { input: { metadata: { name: 'during-outage' }, accessMode: 'OPEN', spec: { displayName: 'x', version: 'v1', context: '/during', upstream: { main: { url: upstream.url } }, operations: [{ method: 'GET', path: '/x' }] } } },
        }),
        signal: AbortSignal.timeout(3000),
      }).then((res) => res.text(), (error: unknown) => String(error));
      expect(attempt).not.toContain('CreateApiPayload');
      expect((await send(gateway.port, '/before/v1/items/2')).status).toBe(200);
    }
    await controlPlane!.close();
    controlPlane = null;
    await eventually(async () => client.isConnected, (connected) => !connected, { timeoutMs: 5000, what: 'the ADS stream to drop' });
    for (let i = 0; i < 5; i++) {
      const answer = await send(gateway.port, `/before/v1/items/${i}`);
      expect(answer.status).toBe(200);
      expect(upstream.last().url).toBe(`/items/${i}`);
    }
    expect(gateway.version).toBe(servedVersion);
  });

  it('receives a change made after a new control plane starts on the same database and xDS port', async () => {
    await relay?.restore();
    controlPlane = await startControlPlane(xdsPort);
    await eventually(async () => client.isConnected, (connected) => connected, { timeoutMs: 5000, what: 'the ADS stream to reconnect' });
    await createApiOverGraphql(asTestPlatform(controlPlane), 'after-recovery', {
      // No plan: configuration delivery is under test, so the API is open by choice.
      accessMode: 'OPEN',
      context: '/after/$version',
      upstreamUrl: upstream.url,
      operations: [{ method: 'GET', path: '/items' }],
    });
    await gatewayAnswers(gateway.port, '/after/v1/items', 200);
    // What was made before the outage is still there: it came from the database, not from memory.
    expect((await send(gateway.port, '/before/v1/items/9')).status).toBe(200);
  });
});
