import { describe, expect, it } from 'vitest';
import type { HeaderList } from '../../server/gateway/proxy-wasm/types.ts';
import { headerOf, loadPolicy, localReplyOf } from '../helpers/policies.ts';
import type { Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';

const ROUTE = 'cors-api/GET/{country_code}/{city}';

const entry = {
  allowedOrigins: ['http://example.com', 'https://*.example.com', 'http://localhost:5000'],
  allowedMethods: ['GET', 'POST'],
  allowedHeaders: ['Content-Type'],
  exposedHeaders: ['X-Content-Type-Options'],
};

function send(plugin: Plugin, method: string, headers: HeaderList, upstream: HeaderList = [[':status', '200']]) {
  const stream = plugin.createHttpContext({ routeName: ROUTE, sourceAddress: '127.0.0.1:50000' });
  const request = stream.onRequestHeaders([[':method', method], [':path', '/cors/v1.0/us/seattle'], [':authority', 'gw.test'], [':scheme', 'http'], ...headers], true);
  if (request.action !== 'continue') {
    stream.onDone();
    return { request, response: null };
  }
  const response = stream.onResponseHeaders(upstream, true);
  const responseHeaders = stream.responseHeaders;
  stream.onDone();
  return { request, response, responseHeaders };
}

describe('cors policy', () => {
  describe('preflight', () => {
    it('answers 204 with the allow headers when origin, method and headers are allowed', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { ...entry, maxAge: 600, allowCredentials: true } } });
      const { request } = send(plugin, 'OPTIONS', [['origin', 'http://example.com'], ['access-control-request-method', 'POST'], ['access-control-request-headers', 'content-type']]);
      const reply = localReplyOf(request);
      expect(reply.status).toBe(204);
      expect(reply.body.byteLength).toBe(0);
      expect(headerOf(reply, 'access-control-allow-origin')).toBe('http://example.com');
      expect(headerOf(reply, 'access-control-allow-methods')).toBe('GET,POST');
      expect(headerOf(reply, 'access-control-allow-headers')).toBe('Content-Type');
      expect(headerOf(reply, 'access-control-max-age')).toBe('600');
      expect(headerOf(reply, 'access-control-allow-credentials')).toBe('true');
    });

    it('matches a * in an origin pattern against part of the host', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: entry } });
      const allowed = localReplyOf(send(plugin, 'OPTIONS', [['origin', 'https://app.eu.example.com'], ['access-control-request-method', 'GET']]).request);
      expect(headerOf(allowed, 'access-control-allow-origin')).toBe('https://app.eu.example.com');
      for (const origin of ['https://example.com', 'https://evil.com/.example.com', 'http://a.example.com', 'http://example.com.evil.net']) {
        const refused = localReplyOf(send(plugin, 'OPTIONS', [['origin', origin], ['access-control-request-method', 'GET']]).request);
        expect(headerOf(refused, 'access-control-allow-origin'), origin).toBeUndefined();
      }
    });

    it('answers 204 without any CORS header when the origin, the method or a header is not allowed', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: entry } });
      const cases: HeaderList[] = [
        [['origin', 'http://evil.com'], ['access-control-request-method', 'GET'], ['access-control-request-headers', 'Content-Type']],
        [['origin', 'http://example.com'], ['access-control-request-method', 'PUT'], ['access-control-request-headers', 'Content-Type']],
        [['origin', 'http://example.com'], ['access-control-request-method', 'GET'], ['access-control-request-headers', 'Authorization']],
        [['origin', 'http://example.com'], ['access-control-request-method', 'GET'], ['access-control-request-headers', 'content-type, authorization']],
        [],
      ];
      for (const headers of cases) {
        const reply = localReplyOf(send(plugin, 'OPTIONS', headers).request);
        expect(reply.status).toBe(204);
        expect(reply.headers.filter(([name]) => name.startsWith('access-control-')), JSON.stringify(headers)).toEqual([]);
      }
    });

    it('allows several requested headers in any case and spacing, answering their configured names', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { ...entry, allowedHeaders: ['Content-Type', 'X-Trace'] } } });
      const reply = localReplyOf(send(plugin, 'OPTIONS', [['origin', 'http://example.com'], ['access-control-request-method', 'GET'], ['access-control-request-headers', 'x-trace ,CONTENT-TYPE']]).request);
      expect(headerOf(reply, 'access-control-allow-headers')).toBe('X-Trace,Content-Type');
      const trailing = localReplyOf(send(plugin, 'OPTIONS', [['origin', 'http://example.com'], ['access-control-request-method', 'GET'], ['access-control-request-headers', 'x-trace,']]).request);
      expect(headerOf(trailing, 'access-control-allow-headers')).toBeUndefined();
    });

    it('answers each preflight with its own origin and requested headers, however long', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { allowedOrigins: ['https://*.example.com'], allowedMethods: ['GET'], allowedHeaders: ['*'], exposedHeaders: [], maxAge: 60 } } });
      const longOrigin = `https://${'o'.repeat(600)}.example.com`;
      const longHeaders = Array.from({ length: 120 }, (_, i) => `x-h${i}`).join(',');
      for (const [origin, requested] of [[longOrigin, longHeaders], ['https://a.example.com', 'x-a'], [longOrigin, longHeaders]] as const) {
        const reply = localReplyOf(send(plugin, 'OPTIONS', [['origin', origin], ['access-control-request-method', 'GET'], ['access-control-request-headers', requested]]).request);
        expect(reply.status).toBe(204);
        expect(reply.headers).toEqual([
          ['access-control-allow-origin', origin], ['access-control-allow-headers', requested],
          ['access-control-allow-methods', 'GET'], ['access-control-max-age', '60'],
        ]);
      }
    });

    it('passes a refused preflight on to the upstream when forwardPreflight is set', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { ...entry, forwardPreflight: true } } });
      expect(send(plugin, 'OPTIONS', [['origin', 'http://evil.com'], ['access-control-request-method', 'GET']]).request.action).toBe('continue');
    });

    it('allows any origin, method and requested headers with wildcards', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { allowedOrigins: ['*'], allowedMethods: ['*'], allowedHeaders: ['*'], exposedHeaders: [] } } });
      const reply = localReplyOf(send(plugin, 'OPTIONS', [['origin', 'http://any.test'], ['access-control-request-method', 'PATCH'], ['access-control-request-headers', 'x-a, x-b']]).request);
      expect(headerOf(reply, 'access-control-allow-origin')).toBe('*');
      expect(headerOf(reply, 'access-control-allow-methods')).toBe('*');
      expect(headerOf(reply, 'access-control-allow-headers')).toBe('x-a, x-b');
    });
  });

  describe('actual requests', () => {
    it('adds allow-origin, vary, expose-headers and credentials to the response when the origin is allowed', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { ...entry, allowCredentials: true } } });
      const { request, responseHeaders } = send(plugin, 'GET', [['origin', 'http://example.com']], [[':status', '200'], ['vary', 'Accept-Encoding']]);
      expect(request.action).toBe('continue');
      expect(responseHeaders!.get('access-control-allow-origin')).toBe('http://example.com');
      expect(responseHeaders!.get('vary')).toBe('Accept-Encoding,Origin');
      expect(responseHeaders!.get('access-control-expose-headers')).toBe('X-Content-Type-Options');
      expect(responseHeaders!.get('access-control-allow-credentials')).toBe('true');
    });

    it('removes the upstream CORS headers when the origin is not allowed or absent', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: entry } });
      for (const headers of [[['origin', 'http://evil.com']], []] as HeaderList[]) {
        const { responseHeaders } = send(plugin, 'GET', headers, [[':status', '200'], ['access-control-allow-origin', '*'], ['x-up', '1']]);
        expect(responseHeaders!.get('access-control-allow-origin')).toBeUndefined();
        expect(responseHeaders!.get('x-up')).toBe('1');
      }
    });

    it('answers * to any origin when every origin is allowed', async () => {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: { allowedOrigins: ['*'], allowedMethods: ['GET'], allowedHeaders: [], exposedHeaders: [] } } });
      const { responseHeaders } = send(plugin, 'GET', [['origin', 'http://anysite.com']]);
      expect(responseHeaders!.get('access-control-allow-origin')).toBe('*');
    });
  });

  it('refuses a configuration it cannot serve and fails closed', async () => {
    const refused = [
      { ...entry, allowedOrigins: [] },
      { ...entry, allowedOrigins: ['^https://[^.]+\\.example\\.com$'] },
      { ...entry, allowedOrigins: ['*'], allowCredentials: true },
      { ...entry, allowedMethods: ['FETCH'] },
      { ...entry, maxAge: -1 },
      { ...entry, allowedHeaders: ['bad header'] },
    ];
    for (const config of refused) {
      const plugin = await loadPolicy('cors', { routes: { [ROUTE]: config } });
      expect(plugin.isConfigured, JSON.stringify(config)).toBe(false);
      expect(localReplyOf(send(plugin, 'GET', []).request).status).toBe(500);
    }
  });
});
