import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { gatewayAnswers, type Recorder, send, startRecorder } from '../helpers/traffic.ts';

/**
 * basic-ratelimit and advanced-ratelimit as the reference gateway's v0.9 users configure them
 * (api-platform gateway/it/features/{basic-ratelimit,ratelimit}.feature), over REST and the embedded gateway.
 * Every scenario waits for its API with one request to /health, which the counts include, as the reference's
 * readiness probe does.
 */

const limits = (requests: number, duration = '1h') => ({ name: 'basic-ratelimit', version: 'v1', params: { limits: [{ requests, duration }] } });

function restApi(name: string, context: string, upstream: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
    kind: 'RestApi',
    metadata: { name },
    spec: { displayName: name, version: 'v1.0', context: `${context}/$version`, upstream: { main: { url: upstream } }, ...spec },
  };
}

async function statuses(gw: number, path: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(gw, path, { headers })).status);
  return out;
}

const times = (n: number, status: number) => Array.from({ length: n }, () => status);

describe('REST v0.9 rate limiting through the gateway', () => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('limited');
    t = await startTestPlatform('pglite');
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
  });

  async function deploy(name: string, context: string, spec: Record<string, unknown>): Promise<void> {
    const created = await rest.post('/rest-apis', restApi(name, context, upstream.url, spec));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await gatewayAnswers(gw, `${context}/v1.0/health`, 200);
  }

  describe('basic-ratelimit', () => {
    it('shares one API-level bucket across operations and reports the limit that was hit', async () => {
      // "Mixed attachment returns scope-correct limit headers on 429".
      await deploy('rl-mixed', '/rl-mixed', {
        policies: [limits(5)],
        operations: [
          { method: 'GET', path: '/health', policies: [limits(100)] },
          { method: 'GET', path: '/resource-a' },
          { method: 'GET', path: '/resource-b', policies: [limits(3)] },
        ],
      });
      // API bucket: 1 (probe) + 3.
      expect(await statuses(gw, '/rl-mixed/v1.0/resource-b', 3)).toEqual(times(3, 200));
      // The API-level limit runs first and counts this request (5 of 5); the operation's own 3 refuse it.
      const routeHit = await send(gw, '/rl-mixed/v1.0/resource-b');
      expect(routeHit.status).toBe(429);
      expect(routeHit.headers['x-ratelimit-limit']).toBe('3');
      expect(routeHit.headers['ratelimit-limit']).toBe('3');
      expect(routeHit.headers['x-ratelimit-remaining']).toBe('0');
      expect(routeHit.headers['x-ratelimit-quota']).toBe('default');
      const apiHit = await send(gw, '/rl-mixed/v1.0/resource-a');
      expect(apiHit.status).toBe(429);
      expect(apiHit.headers['x-ratelimit-limit']).toBe('5');
      expect(apiHit.text).toContain('Rate limit exceeded');
      expect(apiHit.headers['retry-after']).toBeDefined();
    });

    it('counts an operation with its own limit against the API bucket too', async () => {
      // "Route-level /books traffic also consumes API-level bucket used by /books/{id}".
      await deploy('rl-books', '/rl-books', {
        policies: [limits(15, '24h')],
        operations: [
          { method: 'GET', path: '/health' },
          { method: 'GET', path: '/books', policies: [limits(50, '24h')] },
          { method: 'GET', path: '/books/{id}' },
        ],
      });
      // API bucket: 1 (probe) + 13 = 14.
      expect(await statuses(gw, '/rl-books/v1.0/books', 13)).toEqual(times(13, 200));
      const first = await send(gw, '/rl-books/v1.0/books/1d4c9647');
      expect(first.status).toBe(200);
      expect(first.headers['x-ratelimit-limit']).toBe('15');
      expect(first.headers['x-ratelimit-remaining']).toBe('0');
      const second = await send(gw, '/rl-books/v1.0/books/1d4c9647');
      expect(second.status).toBe(429);
      expect(second.headers['x-ratelimit-limit']).toBe('15');
      expect(second.headers['x-ratelimit-remaining']).toBe('0');
    });

    it('keeps an operation limit to its own route when the API has none', async () => {
      // "Route-level limit does not throttle unprotected sibling operation when API-level policy is absent".
      await deploy('rl-isolated', '/rl-isolated', {
        operations: [
          { method: 'GET', path: '/health' },
          { method: 'GET', path: '/limited', policies: [limits(3)] },
          { method: 'GET', path: '/other', policies: [limits(3)] },
          { method: 'GET', path: '/open' },
        ],
      });
      expect(await statuses(gw, '/rl-isolated/v1.0/limited', 4)).toEqual([200, 200, 200, 429]);
      expect(await statuses(gw, '/rl-isolated/v1.0/other', 4)).toEqual([200, 200, 200, 429]);
      const open = await send(gw, '/rl-isolated/v1.0/open');
      expect(open.status).toBe(200);
      expect(open.headers['x-ratelimit-limit']).toBeUndefined();
    });

    it('sends X-RateLimit and IETF headers on success', async () => {
      await deploy('rl-headers', '/rl-headers', { operations: [{ method: 'GET', path: '/health', policies: [limits(100)] }] });
      const answer = await send(gw, '/rl-headers/v1.0/health');
      expect(answer.status).toBe(200);
      expect(answer.headers['x-ratelimit-limit']).toBe('100');
      expect(answer.headers['x-ratelimit-remaining']).toBe('98');
      const reset = Number(answer.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 3600);
      expect(answer.headers['ratelimit-policy']).toBe('"default";q=100;w=3600');
      expect(answer.headers.ratelimit).toMatch(/^"default";r=98;t=\d+$/);
      expect(answer.headers['x-ratelimit-quota']).toBeUndefined();
    });
  });

  describe('advanced-ratelimit', () => {
    const advanced = (params: Record<string, unknown>) => ({ name: 'advanced-ratelimit', version: 'v1', params });

    it('counts per header value with named quotas and the reference answers', async () => {
      await deploy('rl-per-user', '/rl-per-user', {
        operations: [
          { method: 'GET', path: '/health' },
          {
            method: 'GET',
            path: '/data',
            policies: [
              advanced({
                keyExtraction: [{ type: 'header', key: 'X-User-ID' }],
                quotas: [
                  { name: 'per-user', limits: [{ limit: 2, duration: '1h' }] },
                  { name: 'burst', limits: [{ limit: 10, duration: '1m' }] },
                ],
              }),
            ],
          },
        ],
      });
      const user = (id: string) => ({ 'x-user-id': id });
      const first = await send(gw, '/rl-per-user/v1.0/data', { headers: user('alice') });
      expect(first.status).toBe(200);
      // The most restrictive quota in X-RateLimit-*, every quota in the IETF fields.
      expect(first.headers['x-ratelimit-limit']).toBe('2');
      expect(first.headers['x-ratelimit-remaining']).toBe('1');
      expect(first.headers['ratelimit-policy']).toBe('"per-user";q=2;w=3600, "burst";q=10;w=60');
      expect(first.headers.ratelimit).toMatch(/^"per-user";r=1;t=\d+, "burst";r=9;t=\d+$/);
      // As the reference: no RateLimit-Limit / -Remaining / -Reset trio (throttle and basic-ratelimit keep theirs).
      expect(first.headers['ratelimit-limit']).toBeUndefined();
      expect(first.headers['ratelimit-remaining']).toBeUndefined();
      expect((await send(gw, '/rl-per-user/v1.0/data', { headers: user('alice') })).status).toBe(200);
      const denied = await send(gw, '/rl-per-user/v1.0/data', { headers: user('alice') });
      expect(denied.status).toBe(429);
      expect(denied.json()).toEqual({ error: 'Too Many Requests', message: 'Rate limit exceeded. Please try again later.' });
      expect(denied.headers['content-type']).toBe('application/json');
      expect(denied.headers['x-ratelimit-quota']).toBe('per-user');
      expect(denied.headers['retry-after']).toBeDefined();
      expect(denied.headers['ratelimit-limit']).toBeUndefined();
      // Another user has a bucket of their own.
      expect(await statuses(gw, '/rl-per-user/v1.0/data', 3, user('bob'))).toEqual([200, 200, 429]);
    });

    it('counts per client address and answers with the configured reply and headers', async () => {
      await deploy('rl-per-ip', '/rl-per-ip', {
        operations: [
          { method: 'GET', path: '/health' },
          {
            method: 'GET',
            path: '/data',
            policies: [
              advanced({
                quotas: [{ name: 'per-ip', limits: [{ limit: 2, duration: '1h' }], keyExtraction: [{ type: 'ip' }] }],
                onRateLimitExceeded: { statusCode: 503, body: 'slow down', bodyFormat: 'plain' },
                headers: { includeXRateLimit: false, includeRetryAfter: false },
              }),
            ],
          },
        ],
      });
      // A forged X-Forwarded-For does not make a new client: the key is the downstream address.
      const passed = await statuses(gw, '/rl-per-ip/v1.0/data', 2, { 'x-forwarded-for': '203.0.113.7' });
      expect(passed).toEqual([200, 200]);
      const denied = await send(gw, '/rl-per-ip/v1.0/data', { headers: { 'x-forwarded-for': '198.51.100.1' } });
      expect(denied.status).toBe(503);
      expect(denied.text).toBe('slow down');
      expect(denied.headers['content-type']).toBe('text/plain');
      expect(denied.headers['x-ratelimit-limit']).toBeUndefined();
      expect(denied.headers['retry-after']).toBeUndefined();
      expect(denied.headers['x-ratelimit-quota']).toBe('per-ip');
      expect(denied.headers['ratelimit-policy']).toBe('"per-ip";q=2;w=3600');
    });

    it('keeps counting across an API update', async () => {
      const spec = (extra: string) => ({
        operations: [
          { method: 'GET', path: '/health' },
          { method: 'GET', path: extra },
          { method: 'GET', path: '/data', policies: [advanced({ quotas: [{ name: 'q', limits: [{ limit: 3, duration: '1h' }] }] })] },
        ],
      });
      await deploy('rl-update', '/rl-update', spec('/a'));
      expect(await statuses(gw, '/rl-update/v1.0/data', 2)).toEqual([200, 200]);
      const updated = await rest.put('/rest-apis/rl-update', restApi('rl-update', '/rl-update', upstream.url, spec('/b')));
      expect(updated.status).toBe(200);
      await gatewayAnswers(gw, '/rl-update/v1.0/b', 200);
      expect(await statuses(gw, '/rl-update/v1.0/data', 2)).toEqual([200, 429]);
    });

    it('refuses at write time what the gateway cannot count, naming the field', async () => {
      const refused = async (params: Record<string, unknown>, field: string) => {
        const answer = await rest.post<{ errors?: { field: string }[] }>(
          '/rest-apis',
          restApi(`rl-refused-${Math.random().toString(36).slice(2, 8)}`, '/rl-refused', upstream.url, {
            operations: [{ method: 'GET', path: '/x', policies: [advanced(params)] }],
          }),
        );
        expect(answer.status).toBe(400);
        expect(answer.body.errors?.map((e) => e.field)).toContain(field);
      };
      const q = (extra: Record<string, unknown>) => ({ quotas: [{ name: 'q', limits: [{ limit: 1, duration: '1m' }], ...extra }] });
      await refused(q({ keyExtraction: [{ type: 'cel', expression: 'request.Path' }] }), 'spec.operations[0].policies[0].params.quotas[0].keyExtraction[0].type');
      await refused(q({ keyExtraction: [{ type: 'metadata', key: 'x' }] }), 'spec.operations[0].policies[0].params.quotas[0].keyExtraction[0].type');
      await refused(q({ keyExtraction: [{ type: 'header' }] }), 'spec.operations[0].policies[0].params.quotas[0].keyExtraction[0].key');
      await refused(q({ costExtraction: { enabled: true, sources: [{ type: 'response_body', jsonPath: '$.n' }] } }), 'spec.operations[0].policies[0].params.quotas[0].costExtraction');
      await refused({ quotas: [{ name: 'q', limits: [{ limit: 5, duration: '1m', burst: 10 }] }] }, 'spec.operations[0].policies[0].params.quotas[0].limits[0].burst');
    });
  });
});
