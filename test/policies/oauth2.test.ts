// The oauth2 module through the proxy-wasm host, against a real RFC 7662 introspection server on 127.0.0.1
// (node:http): every http_call goes over the network through the host's fetch transport.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { createFetchHttpCaller } from '../../server/gateway/proxy-wasm/fetch-http-call.ts';
import type { Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import type { HeaderList, LocalReply } from '../../server/gateway/proxy-wasm/types.ts';
import { captureLogger, headerOf, jsonOf, loadPolicy, policyWasm, requestHeaders } from '../helpers/policies.ts';
import type { HeaderMap } from '../../server/gateway/proxy-wasm/header-map.ts';

const NOW_MS = Date.parse('2026-04-01T10:30:00Z');
const NOW = NOW_MS / 1000;
const CLIENT_ID = 'gateway-client';
const CLIENT_SECRET = 'gateway-secret:with colon';

const ROUTE = 'books/GET/books';
const ANY_SCOPE = 'books/GET/books/{id}';
const ALL_SCOPES = 'books/DELETE/books/{id}';
const OPTIONAL = 'books/GET/public';
const PROPAGATE = 'books/GET/shelves';
const PLAIN = 'books/GET/plain';
const NO_CACHE = 'books/GET/fresh';
const DOWN = 'books/GET/down';
const SLOW = 'books/GET/slow';
const TWO_SERVERS = 'books/GET/two-servers';

/** What the introspection server answers per token; tokens not listed are inactive. */
type Answer = Record<string, unknown> | { status: number; body: string } | 'hang';

interface Introspect {
  token: string;
  hint: string | null;
  authorization: string | undefined;
  contentType: string | undefined;
  path: string | undefined;
}

let server: Server;
let baseUrl = '';
let answers = new Map<string, Answer>();
let calls: Introspect[] = [];
const hanging: ServerResponse[] = [];

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => { body += chunk; });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

beforeAll(async () => {
  policyWasm('oauth2');
  server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const form = new URLSearchParams(body);
      const token = form.get('token') ?? '';
      calls.push({
        token,
        hint: form.get('token_type_hint'),
        authorization: request.headers.authorization,
        contentType: request.headers['content-type'],
        path: request.url,
      });
      const expected = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
      if (request.method !== 'POST' || request.headers.authorization !== expected) {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const answer = answers.get(token) ?? { active: false };
      if (answer === 'hang') {
        hanging.push(response);
        return;
      }
      if ('status' in answer && typeof answer.status === 'number') {
        response.writeHead(answer.status, { 'content-type': 'application/json' }).end(String(answer.body));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const response of hanging) response.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  answers = new Map();
  calls = [];
});

function serverEntry(extra: Record<string, unknown> = {}) {
  return {
    cluster: 'auth-main',
    authority: 'auth.example.test',
    path: '/oauth2/introspect',
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    tokenTypeHint: 'access_token',
    timeoutMs: 2000,
    maxCacheSeconds: 300,
    ...extra,
  };
}

function configuration(cacheSize = 1024) {
  const base = { servers: ['asv_main'], plans: ['pln_gold', 'pln_silver'], clients: 'books' };
  return {
    stripIdentityHeaders: true,
    cacheSize,
    servers: {
      asv_main: serverEntry(),
      asv_nocache: serverEntry({ maxCacheSeconds: 0, tokenTypeHint: null }),
      asv_down: serverEntry({ cluster: 'auth-down' }),
      asv_slow: serverEntry({ timeoutMs: 100, maxCacheSeconds: 0 }),
    },
    clients: {
      books: {
        'app-client': [
          { applicationId: 'app-1', subscriptionId: 'sub-gold', plan: 'pln_gold', active: true },
          { applicationId: 'app-1', subscriptionId: 'sub-silver', plan: 'pln_silver', active: true },
          { applicationId: 'app-1', subscriptionId: 'sub-any', plan: 'pln_any', active: true },
          { applicationId: 'app-1', subscriptionId: 'sub-all', plan: 'pln_all', active: true },
        ],
        'silver-client': [{ applicationId: 'app-2', subscriptionId: 'sub-2', plan: 'pln_silver', active: true }],
        'paused-client': [{ applicationId: 'app-3', subscriptionId: 'sub-3', plan: 'pln_gold', active: false }],
        'other-plan-client': [{ applicationId: 'app-4', subscriptionId: 'sub-4', plan: 'pln_other', active: true }],
        'both-client': [
          { applicationId: 'app-5', subscriptionId: 'sub-down', plan: 'pln_down_only', active: true },
          { applicationId: 'app-5', subscriptionId: 'sub-main', plan: 'pln_main_only', active: true },
        ],
      },
    },
    plans: {
      pln_gold: { rule: 'claims.tier == "gold"', scopes: null, scopesMode: 'any' },
      pln_silver: { rule: null, scopes: null, scopesMode: 'any' },
      pln_any: { rule: null, scopes: ['books:read', 'books:admin'], scopesMode: 'any' },
      pln_all: { rule: null, scopes: ['books:read', 'books:delete'], scopesMode: 'all' },
      pln_other: { rule: null, scopes: null, scopesMode: 'any' },
      // Plans of TWO_SERVERS: each selected only by tokens its own server said active.
      pln_down_only: { server: 'asv_down', rule: null, scopes: null, scopesMode: 'any' },
      pln_main_only: { server: 'asv_main', rule: null, scopes: null, scopesMode: 'any' },
    },
    routes: {
      [ROUTE]: { ...base, claimsToHeaders: [{ claim: 'email', header: 'X-User-Email' }, { claim: 'roles', header: 'x-roles' }] },
      [ANY_SCOPE]: { servers: ['asv_main'], plans: ['pln_any'], clients: 'books' },
      [ALL_SCOPES]: { servers: ['asv_main'], plans: ['pln_all'], clients: 'books' },
      [OPTIONAL]: { ...base, optional: true },
      [PROPAGATE]: { ...base, propagateToken: true, header: 'authorization' },
      [PLAIN]: { servers: ['asv_main'], plans: [], clients: null },
      [NO_CACHE]: { servers: ['asv_nocache'], plans: [], clients: null },
      [DOWN]: { servers: ['asv_down'], plans: [], clients: null },
      [SLOW]: { servers: ['asv_slow'], plans: [], clients: null },
      [TWO_SERVERS]: { servers: ['asv_down', 'asv_main'], plans: ['pln_down_only', 'pln_main_only'], clients: 'books' },
    },
  };
}

async function load(clock: ManualClock, config: unknown = configuration(), logger = captureLogger()): Promise<Plugin> {
  const httpCall = createFetchHttpCaller((cluster) => {
    if (cluster === 'auth-main') return baseUrl;
    // A port nothing listens on: connection refused.
    if (cluster === 'auth-down') return 'http://127.0.0.1:9';
    return undefined;
  });
  return loadPolicy('oauth2', config, { clock, httpCall, logger });
}

interface Outcome {
  status: number;
  reply: LocalReply | null;
  headers: HeaderMap;
  paused: boolean;
}

/** One request through the module; a paused request is awaited until the introspection answer resumes it. */
async function send(plugin: Plugin, route: string, token: string | null, extra: HeaderList = [], scheme = 'Bearer'): Promise<Outcome> {
  const stream = plugin.createHttpContext({ routeName: route, sourceAddress: '127.0.0.1:50000' });
  const headers = requestHeaders({ route, headers: token === null ? extra : [['authorization', `${scheme} ${token}`], ...extra] });
  const first = stream.onRequestHeaders(headers, true);
  const paused = first.action === 'pause';
  const final = first.action === 'pause' ? await first.resume : first;
  stream.onDone();
  if (final.action === 'continue') return { status: 200, reply: null, headers, paused };
  return { status: final.status, reply: final, headers, paused };
}

function active(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { active: true, client_id: 'app-client', sub: 'user-42', scope: 'books:read', exp: NOW + 600, tier: 'gold', ...extra };
}

describe('oauth2 policy', () => {
  let clock: ManualClock;
  let plugin: Plugin;

  beforeEach(async () => {
    clock = createManualClock(NOW_MS);
    plugin = await load(clock);
  });

  it('admits an active token with the first plan whose rule holds and sets identity headers', async () => {
    answers.set('tok-gold', active({ email: 'ann@example.test', roles: ['reader', 'writer'] }));
    const result = await send(plugin, ROUTE, 'tok-gold');
    expect(result.status).toBe(200);
    expect(result.paused).toBe(true);
    expect(result.headers.get('x-apip-application-id')).toBe('app-1');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-gold');
    expect(result.headers.get('x-apip-plan')).toBe('pln_gold');
    expect(result.headers.get('x-apip-user-id')).toBe('user-42');
    expect(result.headers.get('x-user-email')).toBe('ann@example.test');
    expect(result.headers.get('x-roles')).toBe('reader,writer');
    expect(result.headers.get('authorization')).toBeUndefined();
  });

  it('sends an RFC 7662 request: POST form body with token and hint, HTTP Basic client credentials', async () => {
    answers.set('tok+/=é', active());
    await send(plugin, ROUTE, 'tok+/=é');
    expect(calls).toEqual([{
      token: 'tok+/=é',
      hint: 'access_token',
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      contentType: 'application/x-www-form-urlencoded',
      path: '/oauth2/introspect',
    }]);
  });

  it('omits token_type_hint when the server has none', async () => {
    answers.set('tok-plain', active());
    expect((await send(plugin, NO_CACHE, 'tok-plain')).status).toBe(200);
    expect(calls[0]?.hint).toBeNull();
  });

  it('falls through to the next plan when the first plan\u2019s rule is false', async () => {
    answers.set('tok-silver', active({ tier: 'bronze' }));
    const result = await send(plugin, ROUTE, 'tok-silver');
    expect(result.status).toBe(200);
    expect(result.headers.get('x-apip-plan')).toBe('pln_silver');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-silver');
  });

  it('answers 401 No plan matches when no subscribed plan\u2019s rule holds', async () => {
    const config = configuration();
    config.plans.pln_silver.rule = 'header.x-tier == "silver"' as unknown as null;
    plugin = await load(clock, config);
    answers.set('tok-none', active({ tier: 'bronze' }));
    const result = await send(plugin, ROUTE, 'tok-none');
    expect(result.status).toBe(401);
    expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'No plan matches this request.' });
    const silver = await send(plugin, ROUTE, 'tok-none', [['x-tier', 'silver']]);
    expect(silver.status).toBe(200);
    expect(silver.headers.get('x-apip-plan')).toBe('pln_silver');
  });

  it('answers 401 Invalid token when the server says inactive (unknown, revoked or expired at the server)', async () => {
    answers.set('tok-revoked', { active: false });
    const result = await send(plugin, ROUTE, 'tok-revoked');
    expect(result.status).toBe(401);
    expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'Invalid token.' });
    expect(headerOf(result.reply!, 'www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(result.reply!.details).toBe('apip_oauth2_inactive');
    // Inactive answers are not cached.
    await send(plugin, ROUTE, 'tok-revoked');
    expect(calls).toHaveLength(2);
  });

  it('answers 401 Invalid token when an active answer is already past exp', async () => {
    answers.set('tok-old', active({ exp: NOW - 1 }));
    const result = await send(plugin, ROUTE, 'tok-old');
    expect(result.status).toBe(401);
    expect(result.reply!.details).toBe('apip_oauth2_expired');
    await send(plugin, ROUTE, 'tok-old');
    expect(calls).toHaveLength(2);
  });

  it('answers 401 Missing bearer token without a token, or with another scheme', async () => {
    for (const result of [await send(plugin, ROUTE, null), await send(plugin, ROUTE, 'dXNlcjpwdw==', [], 'Basic'), await send(plugin, ROUTE, '', [], 'Bearer')]) {
      expect(result.status).toBe(401);
      expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'Missing bearer token.' });
      expect(headerOf(result.reply!, 'www-authenticate')).toBe('Bearer');
    }
    expect(calls).toHaveLength(0);
  });

  it('answers 401 without introspecting when the token header is repeated, even with the same token twice', async () => {
    answers.set('tok-twice', active());
    for (const second of ['Bearer tok-twice', 'Bearer tok-other', 'Basic dXNlcjpwdw==']) {
      const result = await send(plugin, ROUTE, 'tok-twice', [['authorization', second]]);
      expect(result.status).toBe(401);
      expect(result.reply!.details).toBe('apip_oauth2_ambiguous');
    }
    expect(calls).toHaveLength(0);
  });

  it('reads the scheme case-insensitively', async () => {
    answers.set('tok-case', active());
    expect((await send(plugin, ROUTE, 'tok-case', [], 'bEaReR')).status).toBe(200);
  });

  it('introspects a token once and answers again from the cache', async () => {
    answers.set('tok-cached', active());
    expect((await send(plugin, ROUTE, 'tok-cached')).paused).toBe(true);
    const second = await send(plugin, ROUTE, 'tok-cached');
    expect(second.status).toBe(200);
    expect(second.paused).toBe(false);
    expect(second.headers.get('x-apip-plan')).toBe('pln_gold');
    // The cached answer still goes through this route's plans and scopes.
    expect((await send(plugin, ALL_SCOPES, 'tok-cached')).status).toBe(403);
    expect(calls).toHaveLength(1);
  });

  it('keeps a cached answer no longer than exp, then introspects again', async () => {
    answers.set('tok-exp', active({ exp: NOW + 60 }));
    await send(plugin, ROUTE, 'tok-exp');
    clock.advance(59_000);
    expect((await send(plugin, ROUTE, 'tok-exp')).paused).toBe(false);
    expect(calls).toHaveLength(1);
    clock.advance(1_000);
    answers.set('tok-exp', { active: false });
    const after = await send(plugin, ROUTE, 'tok-exp');
    expect(after.paused).toBe(true);
    expect(after.status).toBe(401);
    expect(calls).toHaveLength(2);
  });

  it('keeps a cached answer no longer than maxCacheSeconds', async () => {
    answers.set('tok-long', active({ exp: NOW + 86_400 }));
    await send(plugin, ROUTE, 'tok-long');
    clock.advance(299_000);
    await send(plugin, ROUTE, 'tok-long');
    expect(calls).toHaveLength(1);
    clock.advance(1_000);
    await send(plugin, ROUTE, 'tok-long');
    expect(calls).toHaveLength(2);
  });

  it('never caches with maxCacheSeconds 0', async () => {
    answers.set('tok-fresh', active());
    await send(plugin, NO_CACHE, 'tok-fresh');
    await send(plugin, NO_CACHE, 'tok-fresh');
    expect(calls).toHaveLength(2);
  });

  it('bounds the cache by cacheSize, first in first out', async () => {
    plugin = await load(clock, configuration(2));
    for (const token of ['t1', 't2', 't3']) answers.set(token, active());
    for (const token of ['t1', 't2', 't3']) await send(plugin, ROUTE, token);
    expect(calls).toHaveLength(3);
    await send(plugin, ROUTE, 't3');
    await send(plugin, ROUTE, 't2');
    expect(calls).toHaveLength(3);
    await send(plugin, ROUTE, 't1');
    expect(calls.map((c) => c.token)).toEqual(['t1', 't2', 't3', 't1']);
  });

  it('fails closed with 503 when the server is down, and does not cache the failure', async () => {
    for (let i = 0; i < 2; i++) {
      const result = await send(plugin, DOWN, 'tok-any');
      expect(result.status).toBe(503);
      expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'Authorization server unavailable.' });
      expect(result.reply!.details).toBe('apip_oauth2_unavailable');
    }
  });

  it('fails closed with 503 when the server does not answer in timeoutMs', async () => {
    answers.set('tok-hang', 'hang');
    const result = await send(plugin, SLOW, 'tok-hang');
    expect(result.status).toBe(503);
  });

  it('fails closed with 503 on an error status or an unparseable answer, and does not cache it', async () => {
    answers.set('tok-500', { status: 500, body: '{"active":true}' });
    answers.set('tok-html', { status: 200, body: '<html>' });
    answers.set('tok-noactive', { status: 200, body: '{"client_id":"app-client"}' });
    for (const token of ['tok-500', 'tok-html', 'tok-noactive', 'tok-500']) {
      expect((await send(plugin, ROUTE, token)).status).toBe(503);
    }
    expect(calls).toHaveLength(4);
    answers.set('tok-500', active());
    expect((await send(plugin, ROUTE, 'tok-500')).status).toBe(200);
  });

  it('answers 503 when the server refuses the gateway\u2019s client credentials', async () => {
    const config = configuration();
    config.servers.asv_main.clientSecret = 'wrong';
    plugin = await load(clock, config);
    answers.set('tok-ok', active());
    expect((await send(plugin, ROUTE, 'tok-ok')).status).toBe(503);
  });

  it('checks scopes in any mode', async () => {
    answers.set('read', active({ scope: 'profile books:read' }));
    answers.set('admin', active({ scope: 'books:admin' }));
    answers.set('none', active({ scope: 'profile' }));
    answers.set('noscope', active({ scope: undefined }));
    expect((await send(plugin, ANY_SCOPE, 'read')).status).toBe(200);
    expect((await send(plugin, ANY_SCOPE, 'admin')).status).toBe(200);
    for (const token of ['none', 'noscope']) {
      const result = await send(plugin, ANY_SCOPE, token);
      expect(result.status).toBe(403);
      expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'Insufficient scope.' });
      expect(headerOf(result.reply!, 'www-authenticate')).toBe('Bearer error="insufficient_scope"');
    }
  });

  it('checks scopes in all mode', async () => {
    answers.set('both', active({ scope: 'books:delete books:read' }));
    answers.set('one', active({ scope: 'books:read' }));
    expect((await send(plugin, ALL_SCOPES, 'both')).status).toBe(200);
    expect((await send(plugin, ALL_SCOPES, 'one')).status).toBe(403);
  });

  it('answers 403 No subscription for an unknown client, a client of other plans, or no client_id', async () => {
    answers.set('stranger', active({ client_id: 'stranger' }));
    answers.set('other', active({ client_id: 'other-plan-client' }));
    answers.set('anonymous', active({ client_id: undefined }));
    for (const token of ['stranger', 'other', 'anonymous']) {
      const result = await send(plugin, ROUTE, token);
      expect(result.status).toBe(403);
      expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'No subscription for this client.' });
    }
  });

  it('answers 403 Subscription is not active for a client whose subscription admits no traffic', async () => {
    answers.set('paused', active({ client_id: 'paused-client' }));
    const result = await send(plugin, ROUTE, 'paused');
    expect(result.status).toBe(403);
    expect(jsonOf(result.reply!)).toEqual({ status: 'error', message: 'Subscription is not active.' });
  });

  it('passes a request without a bearer token on an optional route, but still rejects a bad token', async () => {
    const none = await send(plugin, OPTIONAL, null);
    expect(none.status).toBe(200);
    expect(none.headers.get('x-apip-plan')).toBeUndefined();
    const basic = await send(plugin, OPTIONAL, 'dXNlcjpwdw==', [], 'Basic');
    expect(basic.status).toBe(200);
    expect(basic.headers.get('authorization')).toBe('Basic dXNlcjpwdw==');
    expect((await send(plugin, OPTIONAL, 'tok-bad')).status).toBe(401);
    expect(calls).toHaveLength(1);
  });

  it('skips a request an earlier module admitted (x-apip-plan set after stripping)', async () => {
    // stripIdentityHeaders is on in this configuration, so a forged x-apip-plan is removed and the token is still
    // required; without stripping (not the first module), an earlier module's x-apip-plan means "already admitted".
    expect((await send(plugin, ROUTE, null, [['x-apip-plan', 'forged']])).status).toBe(401);
    const config = { ...configuration(), stripIdentityHeaders: false };
    plugin = await load(clock, config);
    const admitted = await send(plugin, ROUTE, null, [['x-apip-plan', 'pln_key'], ['authorization', 'Bearer not-looked-at']]);
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get('authorization')).toBe('Bearer not-looked-at');
    expect(calls).toHaveLength(0);
  });

  it('keeps the token header with propagateToken', async () => {
    answers.set('tok-prop', active());
    const result = await send(plugin, PROPAGATE, 'tok-prop');
    expect(result.status).toBe(200);
    expect(result.headers.get('authorization')).toBe('Bearer tok-prop');
  });

  it('validates the token alone on a route without clients, with the user from username', async () => {
    answers.set('tok-user', active({ client_id: 'anyone', sub: undefined, username: 'bob' }));
    const result = await send(plugin, PLAIN, 'tok-user');
    expect(result.status).toBe(200);
    expect(result.headers.get('x-apip-user-id')).toBe('bob');
    expect(result.headers.get('x-apip-plan')).toBeUndefined();
  });

  it('asks the route\u2019s next server when the first cannot answer, and selects only that server\u2019s plans', async () => {
    answers.set('tok-both', active({ client_id: 'both-client' }));
    const result = await send(plugin, TWO_SERVERS, 'tok-both');
    expect(result.status).toBe(200);
    // The client subscribes to a plan of each server; asv_main said active, so its plan, although listed second.
    expect(result.headers.get('x-apip-plan')).toBe('pln_main_only');
    expect(result.headers.get('x-apip-subscription-id')).toBe('sub-main');
    expect(calls).toHaveLength(1);
    // Cached under asv_main: no call the second time.
    expect((await send(plugin, TWO_SERVERS, 'tok-both')).headers.get('x-apip-plan')).toBe('pln_main_only');
    expect(calls).toHaveLength(1);
  });

  it('answers 503 when no server says active and one could not answer, 401 when all said inactive', async () => {
    const result = await send(plugin, TWO_SERVERS, 'tok-unknown');
    expect(result.status).toBe(503);
    const config = configuration();
    config.routes[TWO_SERVERS] = { servers: ['asv_nocache', 'asv_main'], plans: ['pln_main_only'], clients: 'books' };
    plugin = await load(clock, config);
    calls = [];
    const inactive = await send(plugin, TWO_SERVERS, 'tok-unknown');
    expect(inactive.status).toBe(401);
    expect(inactive.reply!.details).toBe('apip_oauth2_inactive');
    expect(calls).toHaveLength(2);
  });

  it('passes routes it does not know untouched', async () => {
    const result = await send(plugin, 'other/GET/x', null);
    expect(result.status).toBe(200);
  });

  it('refuses a configuration with dangling references or bad values, then fails closed', async () => {
    const config = configuration() as Record<string, unknown> & ReturnType<typeof configuration>;
    const bad = {
      ...config,
      servers: { ...config.servers, asv_bad: serverEntry({ timeoutMs: 50, maxCacheSeconds: 7200, path: 'no-slash' }) },
      plans: { ...config.plans, pln_rule: { rule: 'claims.tier ==', scopes: null, scopesMode: 'some' } },
      routes: { ...config.routes, 'x/GET/y': { servers: ['asv_missing'], plans: ['pln_missing'], clients: 'missing' } },
    };
    const logger = captureLogger();
    const refused = await load(clock, bad, logger);
    const result = await send(refused, ROUTE, 'anything');
    expect(result.status).toBe(500);
    const refusal = logger.entries.map((e) => String((e.fields as { message?: unknown }).message ?? '')).find((m) => m.includes('configuration refused')) ?? '';
    for (const path of [
      '$.servers["asv_bad"].path', '$.servers["asv_bad"].timeoutMs', '$.servers["asv_bad"].maxCacheSeconds',
      '$.plans["pln_rule"].rule', '$.plans["pln_rule"].scopesMode', '$.routes["x/GET/y"].servers[0]',
      '$.routes["x/GET/y"].plans[0]', '$.routes["x/GET/y"].clients',
    ]) expect(refusal).toContain(path);
    expect(calls).toHaveLength(0);
  });
});
