import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.ts';
import { createUser, restPrefix } from '../helpers/rest.ts';

describe.each(shapeDrivers)('failed-login throttling on the management API (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver, { loginThrottle: { maxFailures: 3, maxFailuresPerAddress: 6, windowMs: 600_000 } });
  });
  afterAll(async () => {
    await t.close();
  });

  const port = () => t.platform.ports.management;
  const graphql = (auth: string | null, from: string): Promise<RawAnswer> =>
    rawRequest(port(), {
      method: 'POST',
      path: '/graphql',
      localAddress: from,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
  const rest = (auth: string, from: string) => rawRequest(port(), { path: `${restPrefix}/rest-apis`, localAddress: from, headers: { authorization: auth } });
  const metrics = (auth: string, from: string) => rawRequest(port(), { path: '/metrics', localAddress: from, headers: { authorization: auth } });

  it('answers 429 with Retry-After after maxFailures wrong passwords for a user name, from any address and even with the right password', async () => {
    await createUser(t, 'throttled-user', 'publisher');
    const right = basicAuth('throttled-user', 'throttled-user-password');
    const wrong = basicAuth('throttled-user', 'not-the-password');
    for (const from of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) expect((await graphql(wrong, from)).status).toBe(401);
    const refused = await graphql(right, '127.0.0.14');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(500);
    expect(JSON.parse(refused.text).errors[0].extensions.code).toBe('TOO_MANY_REQUESTS');
    // One authenticator: REST and /metrics refuse the name too.
    expect((await rest(right, '127.0.0.15')).status).toBe(429);
    expect((await metrics(right, '127.0.0.15')).status).toBe(429);
  });

  it('counts unknown user names like wrong passwords, and throttles an address trying many names', async () => {
    const from = '127.0.0.21';
    for (let i = 0; i < 6; i++) {
      const res = await rest(basicAuth(`nobody-${i}`, 'guess-1'), from);
      expect(res.status).toBe(401);
      expect(JSON.parse(res.text)).toEqual({ status: 'error', message: 'Authentication required' });
    }
    const refused = await rest(basicAuth('nobody-7', 'guess-1'), from);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    // Another client is not affected.
    expect((await graphql(basicAuth('admin', 'admin-password-1'), '127.0.0.22')).status).toBe(200);
  });

  it('forgets a user name\'s failures when it logs in successfully', async () => {
    await createUser(t, 'forgetful-user', 'consumer');
    const right = basicAuth('forgetful-user', 'forgetful-user-password');
    for (let round = 0; round < 3; round++) {
      // A fresh address per round: the address keeps its failures (only the name is forgiven).
      const from = `127.0.0.3${round}`;
      for (let i = 0; i < 2; i++) expect((await graphql(basicAuth('forgetful-user', `typo-${round}-${i}`), from)).status).toBe(401);
      expect((await graphql(right, from)).status).toBe(200);
    }
  });

  it('does not count requests without credentials', async () => {
    for (let i = 0; i < 10; i++) expect((await graphql(null, '127.0.0.41')).status).toBe(401);
    expect((await graphql(basicAuth('admin', 'admin-password-1'), '127.0.0.41')).status).toBe(200);
  });
});
