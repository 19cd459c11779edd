import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../server/gateway/json-fields.ts';
import { compileRouteTable, type RouteRequest } from '../../../server/gateway/route-table.ts';
import { methodIs, route, routeConfiguration } from '../../fixtures/gateway/envoy-resources.ts';

function request(path: string, init: { authority?: string; method?: string; headers?: Record<string, string> } = {}): RouteRequest {
  const headers: Record<string, string> = { ':method': init.method ?? 'GET', ...init.headers };
  return { authority: init.authority ?? 'api.example.com', path, header: (name) => headers[name] };
}

const hostRoute = (name: string) => route({ name, match: { prefix: '/' }, cluster: name });

describe('route table: virtual hosts', () => {
  const table = compileRouteTable(routeConfiguration([
    { name: 'exact', domains: ['api.example.com'], routes: [hostRoute('exact')] },
    { name: 'suffix-long', domains: ['*.eu.example.com'], routes: [hostRoute('suffix-long')] },
    { name: 'suffix', domains: ['*.example.com'], routes: [hostRoute('suffix')] },
    { name: 'prefix', domains: ['sandbox-*'], routes: [hostRoute('prefix')] },
    { name: 'any', domains: ['*'], routes: [hostRoute('any')] },
  ]));
  const vhost = (authority: string) => table.match(request('/x', { authority }))?.virtualHost;

  it('prefers an exact domain, ignoring case and port', () => {
    expect(vhost('API.example.com:8080')).toBe('exact');
  });

  it('takes the longest suffix wildcard before a shorter one', () => {
    expect(vhost('shop.eu.example.com')).toBe('suffix-long');
    expect(vhost('shop.example.com')).toBe('suffix');
  });

  it('takes a suffix wildcard before a prefix wildcard, and a prefix wildcard before *', () => {
    expect(vhost('sandbox-books')).toBe('prefix');
    expect(vhost('sandbox-books.example.com')).toBe('suffix');
    expect(vhost('other.test')).toBe('any');
  });

  it('never lets a wildcard stand for the empty string', () => {
    expect(vhost('.example.com')).toBe('any');
    expect(vhost('sandbox-')).toBe('any');
  });

  it('answers no match when no domain fits and there is no *', () => {
    const strict = compileRouteTable(routeConfiguration([{ name: 'exact', domains: ['a.test'], routes: [hostRoute('a')] }]));
    expect(strict.match(request('/', { authority: 'b.test' }))).toBeNull();
  });

  it('refuses a domain used by two virtual hosts', () => {
    expect(() => compileRouteTable(routeConfiguration([
      { name: 'one', domains: ['*'], routes: [] },
      { name: 'two', domains: ['*'], routes: [] },
    ]))).toThrow(ConfigError);
  });
});

describe('route table: routes', () => {
  const table = compileRouteTable(routeConfiguration([{
    name: 'default',
    domains: ['*'],
    routes: [
      route({ name: 'exact', match: { path: '/books', headers: [methodIs('GET')] }, cluster: 'c' }),
      route({ name: 'regex', match: { safeRegex: { regex: '/books/[^/]+' }, headers: [methodIs('GET')] }, cluster: 'c' }),
      route({ name: 'post', match: { path: '/books', headers: [methodIs('POST')] }, cluster: 'c' }),
      route({ name: 'header', match: { prefix: '/admin', headers: [{ name: 'x-role', stringMatch: { prefix: 'adm' } }] }, cluster: 'c' }),
      route({ name: 'not-beta', match: { prefix: '/admin', headers: [{ name: 'x-beta', presentMatch: true, invertMatch: true }] }, cluster: 'c' }),
      route({ name: 'query', match: { prefix: '/search', queryParameters: [{ name: 'q', stringMatch: { exact: 'x' } }] }, cluster: 'c' }),
      route({ name: 'insensitive', match: { prefix: '/Docs', caseSensitive: false }, cluster: 'c' }),
      route({ name: 'catch-all', match: { prefix: '/' }, cluster: 'c' }),
    ],
  }]));
  const name = (path: string, init?: Parameters<typeof request>[1]) => table.match(request(path, init))?.route.name;

  it('matches an exact path without its query string', () => {
    expect(name('/books?page=2')).toBe('exact');
  });

  it('matches a safe_regex against the whole path only', () => {
    expect(name('/books/42')).toBe('regex');
    expect(name('/books/42/pages')).toBe('catch-all');
  });

  it('selects by :method', () => {
    expect(name('/books', { method: 'POST' })).toBe('post');
    expect(name('/books', { method: 'DELETE' })).toBe('catch-all');
  });

  it('takes the first matching route in order', () => {
    expect(name('/admin', { headers: { 'x-role': 'admin' } })).toBe('header');
    expect(name('/admin', { headers: { 'x-role': 'user' } })).toBe('not-beta');
    expect(name('/admin', { headers: { 'x-role': 'user', 'x-beta': '1' } })).toBe('catch-all');
  });

  it('matches query parameters', () => {
    expect(name('/search?q=x')).toBe('query');
    expect(name('/search?q=y')).toBe('catch-all');
  });

  it('matches a prefix case-insensitively when case_sensitive is false', () => {
    expect(name('/docs/intro')).toBe('insensitive');
  });

  it('reports how much of the path a prefix consumed', () => {
    expect(table.match(request('/DOCS/a'))?.matchedPrefixLength).toBe(5);
  });

  it('refuses a route without a path specifier', () => {
    expect(() => compileRouteTable(routeConfiguration([{ name: 'v', domains: ['*'], routes: [route({ name: 'bad', match: {}, cluster: 'c' })] }]))).toThrow(/needs one of prefix/);
  });

  it('collects request_headers_to_remove of the configuration, virtual host and route, lower-cased', () => {
    const table = compileRouteTable({
      ...routeConfiguration([{ name: 'v', domains: ['*'], routes: [{ ...hostRoute('r'), requestHeadersToRemove: ['X-Route'] }] }]),
      requestHeadersToRemove: ['X-HTTP-Method-Override'],
    });
    expect([...table.match(request('/'))?.route.removeHeaders ?? []]).toEqual(['x-http-method-override', 'x-route']);
    expect(compileRouteTable(routeConfiguration([{ name: 'v', domains: ['*'], routes: [hostRoute('r')] }])).match(request('/'))?.route.removeHeaders).toBeNull();
  });

  it('refuses to remove Host or a pseudo-header, as Envoy does', () => {
    for (const name of ['host', ':path']) {
      expect(() => compileRouteTable({ ...routeConfiguration([{ name: 'v', domains: ['*'], routes: [hostRoute('r')] }]), requestHeadersToRemove: [name] })).toThrow(/may not be removed/);
    }
  });
});

describe('route table: direct responses (as Envoy’s router answers them)', () => {
  const json = { header: { key: 'Content-Type', value: 'application/json' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' };
  const direct = (extra: Record<string, unknown>) =>
    compileRouteTable(routeConfiguration([{ name: 'v', domains: ['*'], routes: [{ name: 'closed', match: { prefix: '/' }, ...extra }] }])).match(request('/x'))?.route.action;

  it('answers its status and body with the route’s response_headers_to_add, lower-cased', () => {
    expect(direct({ directResponse: { status: 403, body: { inlineString: '{"status":"error"}' } }, responseHeadersToAdd: [json] })).toEqual({
      kind: 'direct',
      status: 403,
      body: '{"status":"error"}',
      headers: [['content-type', 'application/json']],
    });
  });

  it('labels a body text/plain when no header sets a content type, and an empty body not at all', () => {
    expect(direct({ directResponse: { status: 404, body: { inlineString: 'gone' } } })).toMatchObject({ headers: [['content-type', 'text/plain']] });
    expect(direct({ directResponse: { status: 204 }, responseHeadersToAdd: [json] })).toMatchObject({ body: '', headers: [] });
  });

  it('refuses a status outside [200, 600), header formatters, and response headers on a forwarding route', () => {
    expect(() => direct({ directResponse: { status: 199 } })).toThrow(ConfigError);
    expect(() => direct({ directResponse: {} })).toThrow(/status/);
    expect(() => direct({ directResponse: { status: 403 }, responseHeadersToAdd: [{ header: { key: 'x-id', value: '%REQ(x-id)%' } }] })).toThrow(/formatters/);
    expect(() => direct({ route: { cluster: 'c' }, responseHeadersToAdd: [json] })).toThrow(/directResponse routes only/);
  });
});

describe('route table: filters per route (typed_per_filter_config)', () => {
  const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
  const on = { '@type': FILTER_CONFIG };
  const off = { '@type': FILTER_CONFIG, disabled: true };
  const withEntries = <T extends object>(spec: T, entries: Record<string, unknown>): T => ({ ...spec, typedPerFilterConfig: entries });

  it('takes the route entry over the virtual host entry over the route configuration entry', () => {
    const table = compileRouteTable(withEntries(routeConfiguration([
      withEntries({ name: 'v', domains: ['*'], routes: [
        { ...route({ name: 'overrides', match: { path: '/o' }, cluster: 'c' }), typedPerFilterConfig: { a: on, b: off } },
        hostRoute('inherits'),
      ] }, { b: on }),
    ]), { a: off, c: on }));
    const states = (path: string) => Object.fromEntries(table.match(request(path))?.route.filterStates ?? []);
    expect(states('/o')).toEqual({ a: true, b: false, c: true });
    expect(states('/x')).toEqual({ a: false, b: true, c: true });
  });

  it('refuses filter-specific per-route configuration unless the entry is optional, and an Any that is no FilterConfig', () => {
    const compile = (entry: unknown) => compileRouteTable(routeConfiguration([
      { name: 'v', domains: ['*'], routes: [{ ...hostRoute('r'), typedPerFilterConfig: { a: entry } }] },
    ]));
    const config = { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'x' };
    expect(() => compile({ '@type': FILTER_CONFIG, config })).toThrow(ConfigError);
    expect(() => compile({ '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm' })).toThrow(/not supported/);
    // Optional: ignored (no entry); disabled: the config is ignored.
    expect(compile({ '@type': FILTER_CONFIG, config, isOptional: true }).match(request('/'))?.route.filterStates).toBeNull();
    expect(Object.fromEntries(compile({ '@type': FILTER_CONFIG, config, disabled: true }).match(request('/'))?.route.filterStates ?? [])).toEqual({ a: false });
  });
});
