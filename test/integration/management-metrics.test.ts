import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth, basicAuth, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

describe('GET /metrics on the management API', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
    await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
      input: { username: 'metrics-consumer', password: 'consumer-password', role: 'consumer' },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 401 without credentials and 403 for a consumer', async () => {
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(401);
    const consumer = await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: basicAuth('metrics-consumer', 'consumer-password') } });
    expect(consumer.status).toBe(403);
  });

  it('counts management requests by surface and status and reports the served configuration', async () => {
    await t.graphql('{ me { username } }');
    await fetch(`${t.baseUrl}/api/management/v0.9/rest-apis`, { headers: { authorization: adminAuth } });
    await fetch(`${t.baseUrl}/api/management/v0.9/rest-apis/nope`, { headers: { authorization: adminAuth } });
    const res = await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: adminAuth } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^apip_management_requests_total\{surface="graphql",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^apip_management_requests_total\{surface="rest",status="404"\} 1$/m);
    expect(text).toMatch(/^apip_management_request_duration_seconds_count\{surface="rest"\} [1-9]\d*$/m);
    const version = t.platform.snapshots.current()?.version ?? 'missing';
    expect(text).toContain(`apip_config_info{version="${version}"} 1`);
    expect(text).toMatch(/^apip_config_problems\{severity="error"\} 0$/m);
  });
});
