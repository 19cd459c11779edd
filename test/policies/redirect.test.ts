import { describe, expect, it } from 'vitest';
import { headerOf, loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';

const ROUTE = 'redirect-api/GET/go';

async function locationOf(entry: Record<string, unknown>, request: { path: string; host?: string; scheme?: string }) {
  const plugin = await loadPolicy('redirect', { routes: { [ROUTE]: entry } });
  expect(plugin.isConfigured).toBe(true);
  const stream = plugin.createHttpContext({ routeName: ROUTE, sourceAddress: '127.0.0.1:50000' });
  const outcome = stream.onRequestHeaders(
    [[':method', 'GET'], [':path', request.path], [':authority', request.host ?? 'localhost:8080'], [':scheme', request.scheme ?? 'http']],
    true,
  );
  stream.onDone();
  const reply = localReplyOf(outcome);
  return { status: reply.status, location: headerOf(reply, 'location'), body: reply.body.byteLength };
}

describe('redirect policy', () => {
  it('redirects 302 to another host keeping scheme, port, path and query when only the hostname is set', async () => {
    const r = await locationOf({ statusCode: 302, hostname: 'example.org', matchedPrefix: '/ctx/v1/go' }, { path: '/ctx/v1/go?a=1&b=2' });
    expect(r).toEqual({ status: 302, location: 'http://example.org:8080/ctx/v1/go?a=1&b=2', body: 0 });
  });

  it('drops the port when the scheme changes and no port is set', async () => {
    const r = await locationOf({ statusCode: 301, scheme: 'https', matchedPrefix: '/ctx/v1/go' }, { path: '/ctx/v1/go' });
    expect(r.status).toBe(301);
    expect(r.location).toBe('https://localhost/ctx/v1/go');
  });

  it('replaces the whole path in full mode', async () => {
    const r = await locationOf({ statusCode: 302, hostname: 'example.org', path: { mode: 'full', value: '/v2/target' }, matchedPrefix: '/ctx/v1/go' }, { path: '/ctx/v1/go' });
    expect(r.location).toBe('http://example.org:8080/v2/target');
  });

  it('replaces the matched prefix in prefix mode', async () => {
    const r = await locationOf({ statusCode: 307, path: { mode: 'prefix', value: '/new' }, matchedPrefix: '/ctx/v1/users' }, { path: '/ctx/v1/users/42?x=y' });
    expect(r).toEqual({ status: 307, location: 'http://localhost:8080/new/42?x=y', body: 0 });
  });

  it('builds every component from the configuration when all are set', async () => {
    const r = await locationOf(
      { statusCode: 308, scheme: 'https', hostname: 'newhost.example.com', port: 8443, path: { mode: 'full', value: '/moved' }, matchedPrefix: '/ctx/v1/go' },
      { path: '/ctx/v1/go' },
    );
    expect(r.location).toBe('https://newhost.example.com:8443/moved');
  });

  it('omits the scheme default port and keeps a Host without a port as it is', async () => {
    expect((await locationOf({ statusCode: 302, scheme: 'http', port: 80, matchedPrefix: '/go' }, { path: '/go', host: 'api.test' })).location).toBe('http://api.test/go');
    expect((await locationOf({ statusCode: 302, scheme: 'https', matchedPrefix: '/go' }, { path: '/go', host: '[::1]:8080' })).location).toBe('https://[::1]/go');
  });

  it('keeps a long path and query whole, and each request its own Location on one module', async () => {
    // Locations of a few KB, then a short one, on the same plugin: the reply is assembled per request.
    const plugin = await loadPolicy('redirect', { routes: { [ROUTE]: { statusCode: 302, path: { mode: 'prefix', value: '/new/' }, matchedPrefix: '/go' } } });
    const long = `/go/${'a'.repeat(3000)}?q=${'b'.repeat(2000)}`;
    for (const [path, location] of [
      [long, `http://api.example.test/new/${'a'.repeat(3000)}?q=${'b'.repeat(2000)}`],
      ['/go/x', 'http://api.example.test/new/x'],
      ['/go', 'http://api.example.test/new/'],
      [long, `http://api.example.test/new/${'a'.repeat(3000)}?q=${'b'.repeat(2000)}`],
    ] as const) {
      const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, path }).outcome);
      expect(reply.headers).toEqual([['location', location]]);
    }
  });

  it('lets requests of other routes continue', async () => {
    const plugin = await loadPolicy('redirect', { routes: { [ROUTE]: { statusCode: 302, hostname: 'example.org', matchedPrefix: '/go' } } });
    expect(sendRequest(plugin, { route: 'redirect-api/GET/other' }).outcome.action).toBe('continue');
  });

  it('refuses a configuration it cannot serve and fails closed', async () => {
    const refused = [
      { statusCode: 200, matchedPrefix: '/go' },
      { statusCode: 302, scheme: 'ftp', matchedPrefix: '/go' },
      { statusCode: 302, port: 0, matchedPrefix: '/go' },
      { statusCode: 302, hostname: 'bad host', matchedPrefix: '/go' },
      { statusCode: 302, path: { mode: 'full', value: 'no-slash' }, matchedPrefix: '/go' },
      { statusCode: 302, path: { mode: 'other', value: '/x' }, matchedPrefix: '/go' },
      { statusCode: 302 },
    ];
    for (const entry of refused) {
      const plugin = await loadPolicy('redirect', { routes: { [ROUTE]: entry } });
      expect(plugin.isConfigured, JSON.stringify(entry)).toBe(false);
      expect(localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome).status).toBe(500);
    }
  });
});
