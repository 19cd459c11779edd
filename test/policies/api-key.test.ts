import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { apiKey, jsonOf, loadPolicy, localReplyOf, sendRequest, sha256Hex } from '../helpers/policies.ts';

const ROUTE = 'reading-list/GET/books';
const QUERY_ROUTE = 'reading-list/GET/books/{id}';
const PREFIX_ROUTE = 'reading-list/POST/books';
const NOW = Date.parse('2026-04-01T10:30:00Z');

const valid = apiKey('valid');
const revoked = apiKey('revoked');
const expired = apiKey('expired');
const future = apiKey('future');
const propagated = apiKey('propagated');

function configuration() {
  return {
    stripIdentityHeaders: true,
    keySets: {
      'reading-list': [
        { sha256: sha256Hex(valid), status: 'active', applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'Gold' },
        { sha256: sha256Hex(revoked), status: 'revoked', applicationId: 'app-2' },
        { sha256: sha256Hex(expired), status: 'active', expiresAt: NOW - 1, applicationId: 'app-3' },
        { sha256: sha256Hex(future), status: 'active', expiresAt: NOW + 60_000, applicationId: 'app-4' },
        { sha256: sha256Hex(propagated), status: 'active', applicationId: 'app-5', propagateCredential: true },
      ],
    },
    routes: {
      [ROUTE]: { keySets: ['reading-list'], key: 'X-API-Key', in: 'header' },
      [QUERY_ROUTE]: { keySets: ['reading-list'], key: 'apikey', in: 'query' },
      [PREFIX_ROUTE]: { keySets: ['reading-list'], key: 'authorization', in: 'header', valuePrefix: 'ApiKey ' },
    },
  };
}

async function load() {
  return loadPolicy('api-key', configuration(), { clock: createManualClock(NOW) });
}

describe('api-key policy', () => {
  it('continues with identity headers when the header key is valid', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', valid]] });
    expect(outcome).toEqual({ action: 'continue' });
    expect(headers.get('x-apip-application-id')).toBe('app-1');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-1');
    expect(headers.get('x-apip-plan')).toBe('Gold');
  });

  it('removes the credential header before the upstream when propagation is off', async () => {
    const plugin = await load();
    const { headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', valid]] });
    expect(headers.get('x-api-key')).toBeUndefined();
  });

  it('keeps the credential when the key propagates it', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', propagated]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-api-key')).toBe(propagated);
  });

  it('replaces forged identity headers when the client sends them', async () => {
    const plugin = await load();
    const { headers } = sendRequest(plugin, {
      route: ROUTE,
      headers: [['x-api-key', valid], ['x-apip-plan', 'Platinum'], ['x-apip-application-id', 'evil'], ['x-apip-other', 'x']],
    });
    expect(headers.get('x-apip-plan')).toBe('Gold');
    expect(headers.get('x-apip-application-id')).toBe('app-1');
    expect(headers.get('x-apip-other')).toBeUndefined();
  });

  it('strips forged identity headers when the route has no api-key settings', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, { route: 'other/GET/x', headers: [['x-apip-subscription-id', 'evil']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-subscription-id')).toBeUndefined();
  });

  it('returns 401 missing when no key is presented', async () => {
    const plugin = await load();
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome);
    expect(reply.status).toBe(401);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Missing API key.' });
    expect(reply.headers).toContainEqual(['content-type', 'application/json']);
  });

  it('returns the same 401 when the key is unknown, revoked or expired', async () => {
    const plugin = await load();
    const bodies = [apiKey('unknown'), revoked, expired].map((key) => {
      const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', key]] }).outcome);
      expect(reply.status).toBe(401);
      return jsonOf(reply);
    });
    expect(bodies).toEqual([
      { status: 'error', message: 'Invalid API key.' },
      { status: 'error', message: 'Invalid API key.' },
      { status: 'error', message: 'Invalid API key.' },
    ]);
  });

  it('rejects a key once the host clock passes its expiry', async () => {
    const clock = createManualClock(NOW);
    const plugin = await loadPolicy('api-key', configuration(), { clock });
    expect(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', future]] }).outcome.action).toBe('continue');
    clock.advance(60_000);
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', future]] }).outcome).status).toBe(401);
  });

  it('accepts a key from the query and removes it from the path when configured for query', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, {
      route: QUERY_ROUTE,
      path: `/books/7?format=json&apikey=${encodeURIComponent(valid)}&x=1`,
    });
    expect(outcome.action).toBe('continue');
    expect(headers.get(':path')).toBe('/books/7?format=json&x=1');
  });

  it('ignores a header key when configured for the query', async () => {
    const plugin = await load();
    const reply = localReplyOf(sendRequest(plugin, { route: QUERY_ROUTE, path: '/books/7', headers: [['apikey', valid]] }).outcome);
    expect(reply.status).toBe(401);
  });

  it('accepts the key after the valuePrefix when the prefix is present', async () => {
    const plugin = await load();
    const ok = sendRequest(plugin, { route: PREFIX_ROUTE, method: 'POST', headers: [['authorization', `ApiKey ${valid}`]] });
    expect(ok.outcome.action).toBe('continue');
    const bare = sendRequest(plugin, { route: PREFIX_ROUTE, method: 'POST', headers: [['authorization', valid]] });
    expect(localReplyOf(bare.outcome).status).toBe(401);
  });

  it('refuses the configuration and fails closed when a digest is malformed', async () => {
    const config = configuration();
    config.keySets['reading-list'].push({ sha256: 'not-hex', status: 'active', applicationId: 'x', subscriptionId: 'y', plan: 'z' });
    const plugin = await loadPolicy('api-key', config);
    expect(plugin.isConfigured).toBe(false);
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', valid]] }).outcome);
    expect(reply.status).toBe(500);
  });

  it('refuses the configuration when a route names an unknown key set', async () => {
    const plugin = await loadPolicy('api-key', { keySets: {}, routes: { [ROUTE]: { keySets: ['nope'], key: 'x-api-key' } } });
    expect(plugin.isConfigured).toBe(false);
  });

  it('refuses configurations that are not JSON objects', async () => {
    for (const text of ['', 'null', '[]', '{"keySets":{},"routes":{}', '{"keySets":{},"routes":{},"routes":{}}']) {
      const plugin = await loadPolicy('api-key', text);
      expect(plugin.isConfigured, text).toBe(false);
    }
  });
});
