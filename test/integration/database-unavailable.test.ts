import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../server/domain/db-errors.ts';
import { createTestDatabase, drivers, type TestDatabase } from '../helpers/database.ts';
import { adminAuth, basicAuth, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

/** A TCP server that accepts connections and never says a word: a database host that hangs. */
async function startBlackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('isDatabaseUnavailable, on real postgres.js failures', () => {
  it('recognises a connection refused and a connect timeout, not a query error', async () => {
    const hole = await startBlackHole();
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const hanging = postgres(`postgres://postgres@127.0.0.1:${hole.port}/test`, { max: 1, connect_timeout: 1, onnotice: () => {} });
    const refused = postgres(`postgres://postgres@127.0.0.1:${closedPort}/test`, { max: 1, connect_timeout: 1, onnotice: () => {} });
    try {
      const timeout = await hanging`select 1`.catch((error: unknown) => error);
      const refusal = await refused`select 1`.catch((error: unknown) => error);
      expect(isDatabaseUnavailable(timeout)).toBe(true);
      expect(isDatabaseUnavailable(refusal)).toBe(true);
      expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
      expect(isDatabaseUnavailable(new TypeError('a bug'))).toBe(false);
    } finally {
      await hanging.end({ timeout: 0 });
      await refused.end({ timeout: 0 });
      await hole.close();
    }
  });
});

/** A relay to Postgres that can be switched to hang: new connections are accepted and never answered. */
async function startSwitchableRelay(target: URL): Promise<{ port: number; hang(): void; forward(): void; close(): Promise<void> }> {
  let hanging = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (hanging) return;
    const upstream = connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hang: () => {
      hanging = true;
      for (const socket of sockets) socket.destroy();
    },
    forward: () => {
      hanging = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(drivers.filter((driver) => driver === 'postgres'))('the management API while Postgres hangs (%s)', (driver) => {
  let database: TestDatabase;
  let relay: Awaited<ReturnType<typeof startSwitchableRelay>>;
  let platform: TestPlatform;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    relay = await startSwitchableRelay(new URL(database.url!));
    const viaRelay = new URL(database.url!);
    viaRelay.hostname = '127.0.0.1';
    viaRelay.port = String(relay.port);
    // The platform reaches the suite's database through the relay; the in-memory PGlite the helper would open
    // for its default driver is never used because databaseUrl wins.
    platform = await startTestPlatform('pglite', { databaseUrl: viaRelay.toString(), embeddedGateway: false, gatewayAdminPort: null });
  });

  afterAll(async () => {
    relay?.forward();
    await platform?.close();
    await relay?.close();
    await database?.drop();
  });

  const createApplication = (name: string) =>
    platform.graphql<{ createApplication: { __typename: string } }>(
      'mutation($input: CreateApplicationInput!) { createApplication(input: $input) { __typename } }',
      { input: { name } },
    );

  it('answers 503 with Retry-After over REST and SERVICE_UNAVAILABLE over GraphQL, then recovers', async () => {
    expect((await createApplication('before')).data?.createApplication.__typename).toBe('CreateApplicationPayload');

    relay.hang();
    const graphql = await createApplication('while-down');
    expect(graphql.status).toBe(503);
    expect(graphql.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    // Credentials not yet cached: authentication itself reads the database, before yoga.
    const uncached = await platform.graphql('{ __typename }', {}, basicAuth('admin', 'not-the-cached-password'));
    expect(uncached.status).toBe(503);
    expect(uncached.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');

    const rest = await fetch(`${platform.baseUrl}/api/management/v0.9/subscription-plans`, {
      method: 'POST',
      headers: { authorization: adminAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ planName: 'Gold', displayName: 'Gold', throttleLimitCount: 10, throttleLimitUnit: 'Min' }),
    });
    expect(rest.status).toBe(503);
    expect(rest.headers.get('retry-after')).toBe('5');
    expect(await rest.json()).toEqual({ status: 'error', message: 'Service unavailable: the database cannot be reached. Retry later.' });

    relay.forward();
    expect((await createApplication('after')).data?.createApplication.__typename).toBe('CreateApplicationPayload');
    // Nothing half-written: the refused write left no application behind.
    const names = await platform.graphql<{ applications: { edges: { node: { name: string } }[] } }>('{ applications(first: 10) { edges { node { name } } } }');
    expect(names.data?.applications.edges.map((e) => e.node.name).sort()).toEqual(['after', 'before']);
  });
});
