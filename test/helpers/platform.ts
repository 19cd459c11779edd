import { pino, type Logger } from 'pino';
import { defaultSettings } from '../../server/domain/context.ts';
import type { PlatformConfig } from '../../server/config.ts';
import { createPlatform, type Platform } from '../../server/platform.ts';
import { createTestDatabase, type Driver } from './database.ts';

/** Every port on loopback: tests never expose anything. */
export const loopbackHosts = { managementHost: '127.0.0.1', xdsHost: '127.0.0.1', gatewayHost: '127.0.0.1', gatewayAdminHost: '127.0.0.1' } as const;

export const adminCredentials = { username: 'admin', password: 'admin-password-1' };

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export const adminAuth = basicAuth(adminCredentials.username, adminCredentials.password);

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface TestPlatform {
  platform: Platform;
  /** http://127.0.0.1:<management port> */
  baseUrl: string;
  /** POSTs to /graphql with admin credentials unless `auth` is given (null = none). */
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    auth?: string | null,
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

/** The whole platform on port 0 over a fresh database of the given driver, with a known admin. */
export async function startTestPlatform(
  driver: Driver,
  overrides: Partial<PlatformConfig> = {},
  options: { now?: () => Date; logger?: Logger } = {},
): Promise<TestPlatform> {
  const database = await createTestDatabase(driver);
  const platform = await createPlatform(
    {
      ...loopbackHosts,
      managementPort: 0,
      gatewayPort: 0,
      xdsPort: 0,
      embeddedGateway: true,
      gatewayAdminPort: 0,
      dataDir: database.dataDir,
      databaseUrl: database.url,
      admin: adminCredentials,
      logLevel: 'silent',
      settings: { ...defaultSettings },
      // Suites check basic-auth at the production work factor several times a second; the budget that bounds this
      // on a real data plane has its own tests (test/policies/basic-auth.test.ts).
      basicAuthIterationsPerSecond: 100_000_000,
      // In-thread by default (quicker to start); TEST_GATEWAY_WORKERS=2 runs any suite's traffic on worker threads.
      gatewayWorkers: Number(process.env.TEST_GATEWAY_WORKERS ?? 0),
      ...overrides,
    },
    { ...options, logger: options.logger ?? pino({ level: 'silent' }) },
  );
  const baseUrl = `http://127.0.0.1:${platform.ports.management}`;
  return {
    platform,
    baseUrl,
    graphql: async <T,>(query: string, variables: Record<string, unknown> = {}, auth: string | null = adminAuth) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
      if (auth) headers.authorization = auth;
      const res = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as Omit<GraphQLResponse<T>, 'status'>;
      return { status: res.status, ...body };
    },
    close: async () => {
      await platform.close();
      await database.drop();
    },
  };
}
