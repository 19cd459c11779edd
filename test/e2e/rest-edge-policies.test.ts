import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { shapeDrivers } from '../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { freshRestApi } from '../helpers/rest-seed.ts';
import { gatewayAnswers, type Recorder, send, startRecorder } from '../helpers/traffic.ts';

// respond, redirect and cors as a v0.9 client attaches them (the reference's params, API- and operation-level),
// served by the embedded gateway running the compiled modules: what the client gets and what the upstream saw.
describe.each(shapeDrivers)('traffic: respond, redirect and cors policies over REST v0.9 (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;

  /** Creates a RestApi named `name` (context `/<name>/v1.0`) with `spec` over the seed's, upstream the recorder. */
  async function createApi(name: string, spec: Record<string, unknown>): Promise<void> {
    const body = freshRestApi(name, (b) => {
      b.spec = { ...b.spec, policies: [], upstream: { main: { url: upstream.url } }, ...spec };
    });
    const created = await rest.post('/rest-apis', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }

  beforeAll(async () => {
    upstream = await startRecorder('edge');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
  });

  describe('respond', () => {
    it('answers with the operation’s configured status, body and headers without calling the upstream', async () => {
      await createApi('respond-op', {
        operations: [
          { method: 'GET', path: '/health' },
          {
            method: 'POST',
            path: '/things',
            policies: [{
              name: 'respond',
              version: 'v1',
              params: {
                statusCode: 201,
                body: '{"id": 123, "name": "Created Resource"}',
                headers: [{ name: 'Content-Type', value: 'application/json' }, { name: 'Location', value: '/api/resource/123' }],
              },
            }],
          },
          { method: 'DELETE', path: '/things', policies: [{ name: 'respond', version: 'v1', params: { statusCode: 204 } }] },
        ],
      });
      await gatewayAnswers(gw, '/respond-op/v1.0/health', 200);
      const mark = upstream.received.length;
      const created = await send(gw, '/respond-op/v1.0/things', { method: 'POST', body: '{"test":"data"}', headers: { 'content-type': 'application/json' } });
      expect(created.status).toBe(201);
      expect(created.json()).toEqual({ id: 123, name: 'Created Resource' });
      expect(created.headers['content-type']).toBe('application/json');
      expect(created.headers.location).toBe('/api/resource/123');
      const deleted = await send(gw, '/respond-op/v1.0/things', { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers every operation of an API with an API-level reply, and only after authentication admitted the request', async () => {
      await createApi('respond-api', {
        policies: [
          { name: 'basic-auth', version: 'v1', params: { users: [{ username: 'ops', password: 'maintenance-pass' }] } },
          { name: 'respond', version: 'v1', params: { statusCode: 503, body: '{"error": "Service Unavailable"}', headers: [{ name: 'Retry-After', value: '3600' }] } },
        ],
        operations: [{ method: 'GET', path: '/books' }, { method: 'GET', path: '/books/{id}' }],
      });
      const authorization = basicAuth('ops', 'maintenance-pass');
      await gatewayAnswers(gw, '/respond-api/v1.0/books', 503, { headers: { authorization } });
      const mark = upstream.received.length;
      const answer = await send(gw, '/respond-api/v1.0/books/7', { headers: { authorization } });
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('3600');
      expect(answer.text).toBe('{"error": "Service Unavailable"}');
      expect((await send(gw, '/respond-api/v1.0/books')).status).toBe(401);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('refuses a statusCode given as a string, naming the field', async () => {
      const body = freshRestApi('respond-bad', (b) => {
        b.spec.policies = [{ name: 'respond', version: 'v1', params: { statusCode: '200' } }];
      });
      const refused = await rest.post<{ errors: { field: string; message: string }[] }>('/rest-apis', body);
      expect(refused.status).toBe(400);
      expect(refused.body.errors).toContainEqual({ field: 'spec.policies[0].params.statusCode', message: 'Invalid type. Expected: integer, given: string' });
    });
  });

  describe('redirect', () => {
    it('answers 302 with the request’s scheme, port, path and query on the configured host, without calling the upstream', async () => {
      await createApi('redirect-host', {
        operations: [
          { method: 'GET', path: '/probe' },
          { method: 'GET', path: '/go', policies: [{ name: 'redirect', version: 'v0', params: { hostname: 'example.org' } }] },
        ],
      });
      await gatewayAnswers(gw, '/redirect-host/v1.0/probe', 200);
      const mark = upstream.received.length;
      const answer = await send(gw, '/redirect-host/v1.0/go?a=1', { headers: { host: `localhost:${gw}` } });
      expect(answer.status).toBe(302);
      expect(answer.headers.location).toBe(`http://example.org:${gw}/redirect-host/v1.0/go?a=1`);
      expect(upstream.since(mark)).toEqual([]);
    });

    it('redirects every operation of an API with an API-level redirect, replacing the matched prefix', async () => {
      await createApi('redirect-api', {
        policies: [{ name: 'redirect', version: 'v0', params: { statusCode: 308, scheme: 'https', hostname: 'new.example.com', port: 8443, path: { mode: 'prefix', value: '/v2/users' } } }],
        operations: [{ method: 'GET', path: '/users/{id}' }, { method: 'GET', path: '/users' }],
      });
      const answer = await gatewayAnswers(gw, '/redirect-api/v1.0/users/42?full=true', 308);
      expect(answer.headers.location).toBe('https://new.example.com:8443/v2/users/42?full=true');
      expect((await send(gw, '/redirect-api/v1.0/users', { headers: { host: 'localhost' } })).headers.location).toBe('https://new.example.com:8443/v2/users');
    });
  });

  describe('cors', () => {
    const allowedPreflight = { origin: 'http://example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'Content-Type' };

    beforeAll(async () => {
      await createApi('cors-api', {
        policies: [
          { name: 'basic-auth', version: 'v1', params: { users: [{ username: 'web', password: 'browser-pass' }] } },
          {
            name: 'cors',
            version: 'v1',
            params: {
              allowedOrigins: ['http://example.com', 'https://*.example.com'],
              allowedMethods: ['GET', 'POST'],
              allowedHeaders: ['Content-Type', 'Authorization'],
              exposedHeaders: ['X-Custom-Header'],
              allowCredentials: true,
              maxAge: 600,
            },
          },
        ],
        operations: [{ method: 'GET', path: '/{country_code}/{city}' }, { method: 'POST', path: '/alerts/active' }],
      });
      await gatewayAnswers(gw, '/cors-api/v1.0/us/seattle', 200, { headers: { authorization: basicAuth('web', 'browser-pass') } });
    });

    it('answers a preflight to a GET-only path itself, before authentication, with the allow headers', async () => {
      const mark = upstream.received.length;
      const answer = await send(gw, '/cors-api/v1.0/us/seattle', { method: 'OPTIONS', headers: allowedPreflight });
      expect(answer.status).toBe(204);
      expect(answer.headers['access-control-allow-origin']).toBe('http://example.com');
      expect(answer.headers['access-control-allow-methods']).toBe('GET,POST');
      expect(answer.headers['access-control-allow-headers']).toBe('Content-Type');
      expect(answer.headers['access-control-max-age']).toBe('600');
      expect(answer.headers['access-control-allow-credentials']).toBe('true');
      expect(upstream.since(mark)).toEqual([]);
    });

    it('answers a refused preflight and a plain OPTIONS with a bare 204', async () => {
      const mark = upstream.received.length;
      for (const headers of [{ ...allowedPreflight, origin: 'http://evil.com' }, { ...allowedPreflight, 'access-control-request-method': 'PUT' }, {}]) {
        const answer = await send(gw, '/cors-api/v1.0/alerts/active', { method: 'OPTIONS', headers });
        expect(answer.status).toBe(204);
        expect(Object.keys(answer.headers).filter((h) => h.startsWith('access-control-')), JSON.stringify(headers)).toEqual([]);
      }
      expect(upstream.since(mark)).toEqual([]);
    });

    it('adds the CORS headers to the upstream’s answer for an allowed origin, and to an authentication refusal', async () => {
      const mark = upstream.received.length;
      const answer = await send(gw, '/cors-api/v1.0/us/seattle', { headers: { origin: 'https://app.example.com', authorization: basicAuth('web', 'browser-pass') } });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-upstream']).toBe('edge');
      expect(answer.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(answer.headers.vary).toBe('Origin');
      expect(answer.headers['access-control-expose-headers']).toBe('X-Custom-Header');
      expect(answer.headers['access-control-allow-credentials']).toBe('true');
      expect(upstream.since(mark)).toHaveLength(1);
      const refused = await send(gw, '/cors-api/v1.0/us/seattle', { headers: { origin: 'http://example.com' } });
      expect(refused.status).toBe(401);
      expect(refused.headers['access-control-allow-origin']).toBe('http://example.com');
    });

    it('adds no CORS header for a request from another origin or without Origin', async () => {
      for (const headers of [{ origin: 'http://evil.com' }, {}] as Record<string, string>[]) {
        const answer = await send(gw, '/cors-api/v1.0/us/seattle', { headers: { ...headers, authorization: basicAuth('web', 'browser-pass') } });
        expect(answer.status).toBe(200);
        expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      }
    });

    it('answers the preflight on a declared OPTIONS operation as the reference does, adding no route of its own', async () => {
      await createApi('cors-declared', {
        policies: [{ name: 'cors', version: 'v1', params: { allowedOrigins: ['http://example.com'], allowedMethods: ['GET', 'POST'], allowedHeaders: ['Content-Type'] } }],
        operations: [{ method: 'GET', path: '/{country_code}/{city}' }, { method: 'OPTIONS', path: '/{country_code}/{city}' }],
      });
      await gatewayAnswers(gw, '/cors-declared/v1.0/us/seattle', 200);
      const mark = upstream.received.length;
      const answer = await send(gw, '/cors-declared/v1.0/us/seattle', { method: 'OPTIONS', headers: allowedPreflight });
      expect(answer.status).toBe(204);
      expect(answer.headers['access-control-allow-origin']).toBe('http://example.com');
      expect(answer.headers['access-control-allow-methods']).toBe('GET,POST');
      expect(upstream.since(mark)).toEqual([]);
      const routes = t.platform.snapshots.current()!.resources.routeConfiguration.flatMap((c) => JSON.stringify(c).match(/cors-declared\/OPTIONS\/[^"]*/g) ?? []);
      expect(routes).toEqual(['cors-declared/OPTIONS/{country_code}/{city}']);
    });

    it('adds preflight routes only to the paths of operations with an operation-level cors', async () => {
      await createApi('cors-op', {
        operations: [
          { method: 'GET', path: '/open' },
          { method: 'GET', path: '/shared', policies: [{ name: 'cors', version: 'v1', params: { allowedOrigins: ['*'], allowedMethods: ['GET'], forwardPreflight: true } }] },
        ],
      });
      const preflight = await gatewayAnswers(gw, '/cors-op/v1.0/shared', 204, { method: 'OPTIONS', headers: { origin: 'http://any.test', 'access-control-request-method': 'GET' } });
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect((await send(gw, '/cors-op/v1.0/shared', { headers: { origin: 'http://any.test' } })).headers['access-control-allow-origin']).toBe('*');
      expect((await send(gw, '/cors-op/v1.0/open', { method: 'OPTIONS', headers: { origin: 'http://any.test', 'access-control-request-method': 'GET' } })).status).toBe(404);
      // forwardPreflight applies to declared OPTIONS operations: a generated preflight route never reaches the upstream.
      const mark = upstream.received.length;
      const refused = await send(gw, '/cors-op/v1.0/shared', { method: 'OPTIONS', headers: { origin: 'http://any.test', 'access-control-request-method': 'DELETE' } });
      expect(refused.status).toBe(204);
      expect(upstream.since(mark)).toEqual([]);
    });
  });

  it('passes the strict Envoy proto check with the preflight routes and the three modules of this suite', () => {
    const resources = t.platform.snapshots.current()?.resources;
    const routes = JSON.stringify(resources?.routeConfiguration);
    expect(routes).toContain('cors-api/OPTIONS/{country_code}/{city}');
    expect(routes).toContain('cors-op/OPTIONS/shared');
    expect(routes).not.toContain('cors-op/OPTIONS/open');
    expect(validateResources(resources!)).toEqual([]);
  });
});
