import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { apiKey, jsonOf, loadPolicy, localReplyOf, sendRequest, keyDigestHex, testDigestKeyHex } from '../helpers/policies.ts';

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
    digestKey: testDigestKeyHex,
    keySets: {
      'reading-list': [
        { sha256: keyDigestHex(valid), status: 'active', applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'Gold' },
        { sha256: keyDigestHex(revoked), status: 'revoked', applicationId: 'app-2' },
        { sha256: keyDigestHex(expired), status: 'active', expiresAt: NOW - 1, applicationId: 'app-3' },
        { sha256: keyDigestHex(future), status: 'active', expiresAt: NOW + 60_000, applicationId: 'app-4' },
        { sha256: keyDigestHex(propagated), status: 'active', applicationId: 'app-5', propagateCredential: true },
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

  it('answers 401 to a key given twice, in the query or the header, even when both values are the valid key', async () => {
    const plugin = await load();
    for (const second of [valid, 'other-key']) {
      const query = sendRequest(plugin, { route: QUERY_ROUTE, path: `/books/7?apikey=${encodeURIComponent(valid)}&apikey=${encodeURIComponent(second)}` });
      expect(localReplyOf(query.outcome).status).toBe(401);
      const header = sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', valid], ['x-api-key', second]] });
      expect(localReplyOf(header.outcome).status).toBe(401);
    }
  });

  it('answers 401 to a key given both in its header and in a query parameter of the same name, whatever the values', async () => {
    const plugin = await load();
    for (const other of [valid, 'other-key']) {
      const headerRoute = sendRequest(plugin, { route: ROUTE, path: `/books?X-API-Key=${encodeURIComponent(other)}`, headers: [['x-api-key', valid]] });
      expect(localReplyOf(headerRoute.outcome)).toMatchObject({ status: 401, details: 'apip_api_key_ambiguous' });
      const queryRoute = sendRequest(plugin, { route: QUERY_ROUTE, path: `/books/7?apikey=${encodeURIComponent(valid)}`, headers: [['apikey', other]] });
      expect(localReplyOf(queryRoute.outcome)).toMatchObject({ status: 401, details: 'apip_api_key_ambiguous' });
    }
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

  it('refuses a key whose plain SHA-256 digest is configured: digests are keyed', async () => {
    const config = configuration();
    const plain = apiKey('plain-sha256');
    config.keySets['reading-list'].push({ sha256: createHash('sha256').update(plain).digest('hex'), status: 'active', applicationId: 'x', subscriptionId: 'y', plan: 'z' });
    const plugin = await loadPolicy('api-key', config);
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', plain]] }).outcome).status).toBe(401);
  });

  it('refuses every key when the configuration was digested under another key', async () => {
    const plugin = await loadPolicy('api-key', { ...configuration(), digestKey: 'ab'.repeat(32) });
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-api-key', valid]] }).outcome).status).toBe(401);
  });

  it('refuses the configuration without a 64-hex digest key', async () => {
    for (const digestKey of [undefined, '', 'zz'.repeat(32), 'ab'.repeat(16)]) {
      const plugin = await loadPolicy('api-key', { ...configuration(), digestKey });
      expect(plugin.isConfigured, String(digestKey)).toBe(false);
    }
  });

  it('refuses the configuration when a route names an unknown key set', async () => {
    const plugin = await loadPolicy('api-key', { digestKey: testDigestKeyHex, keySets: {}, routes: { [ROUTE]: { keySets: ['nope'], key: 'x-api-key' } } });
    expect(plugin.isConfigured).toBe(false);
  });

  it('refuses configurations that are not JSON objects', async () => {
    for (const text of ['', 'null', '[]', '{"keySets":{},"routes":{}', '{"keySets":{},"routes":{},"routes":{}}']) {
      const plugin = await loadPolicy('api-key', text);
      expect(plugin.isConfigured, text).toBe(false);
    }
  });
});

describe('api-key policy: plans', () => {
  const GOLD_ROUTE = 'plans/GET/books';
  const OPTIONAL_ROUTE = 'plans/GET/optional';
  const PREFIX_OPTIONAL_ROUTE = 'plans/GET/prefixed';
  const gold = apiKey('gold');
  const silver = apiKey('silver');
  const suspended = apiKey('suspended');
  const suspendedExpired = apiKey('suspended-expired');
  const planless = apiKey('planless');
  const partner = apiKey('partner');

  function plansConfiguration(stripIdentityHeaders = true) {
    return {
      stripIdentityHeaders,
      digestKey: testDigestKeyHex,
      plans: {
        gold: { rule: null },
        silver: { rule: "method != 'DELETE'" },
        partner: { rule: "header.x-partner == 'acme'" },
      },
      keySets: {
        plans: [
          { sha256: keyDigestHex(gold), status: 'active', applicationId: 'app-g', subscriptionId: 'sub-g', plan: 'gold' },
          { sha256: keyDigestHex(silver), status: 'active', applicationId: 'app-s', subscriptionId: 'sub-s', plan: 'silver' },
          { sha256: keyDigestHex(suspended), status: 'suspended', applicationId: 'app-x', subscriptionId: 'sub-x', plan: 'gold' },
          { sha256: keyDigestHex(suspendedExpired), status: 'suspended', expiresAt: NOW - 1, plan: 'gold' },
          { sha256: keyDigestHex(planless), status: 'active', applicationId: 'app-n' },
          { sha256: keyDigestHex(partner), status: 'active', applicationId: 'app-p', subscriptionId: 'sub-p', plan: 'partner' },
        ],
      },
      routes: {
        [GOLD_ROUTE]: { keySets: ['plans'], key: 'x-api-key', plans: ['gold', 'silver'] },
        [OPTIONAL_ROUTE]: { keySets: ['plans'], key: 'x-api-key', optional: true, plans: ['gold', 'silver', 'partner'] },
        [PREFIX_OPTIONAL_ROUTE]: { keySets: ['plans'], key: 'authorization', valuePrefix: 'ApiKey ', optional: true },
      },
    };
  }

  async function loadPlans(stripIdentityHeaders = true) {
    const plugin = await loadPolicy('api-key', plansConfiguration(stripIdentityHeaders), { clock: createManualClock(NOW) });
    expect(plugin.isConfigured).toBe(true);
    return plugin;
  }

  it('continues with the identity of the key when its plan is one of the route plans', async () => {
    const plugin = await loadPlans();
    const { outcome, headers } = sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-api-key', gold]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBe('gold');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-g');
  });

  it('returns 401 Invalid API key when the key belongs to a plan the route does not offer', async () => {
    const plugin = await loadPlans();
    for (const key of [partner, planless]) {
      const reply = localReplyOf(sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-api-key', key]] }).outcome);
      expect(reply.status).toBe(401);
      expect(reply.details).toBe('apip_api_key_invalid');
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Invalid API key.' });
    }
  });

  it('continues when the plan selection rule holds and returns 401 No plan matches when it does not', async () => {
    const plugin = await loadPlans();
    const ok = sendRequest(plugin, { route: GOLD_ROUTE, method: 'GET', headers: [['x-api-key', silver]] });
    expect(ok.outcome.action).toBe('continue');
    expect(ok.headers.get('x-apip-plan')).toBe('silver');
    const refused = sendRequest(plugin, { route: GOLD_ROUTE, method: 'DELETE', headers: [['x-api-key', silver]] });
    const reply = localReplyOf(refused.outcome);
    expect(reply.status).toBe(401);
    expect(reply.details).toBe('apip_plan_no_match');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No plan matches this request.' });
    expect(refused.headers.get('x-apip-plan')).toBeUndefined();
  });

  it('evaluates a rule on request headers', async () => {
    const plugin = await loadPlans();
    const ok = sendRequest(plugin, { route: OPTIONAL_ROUTE, headers: [['x-api-key', partner], ['x-partner', 'acme']] });
    expect(ok.outcome.action).toBe('continue');
    expect(ok.headers.get('x-apip-plan')).toBe('partner');
    const refused = sendRequest(plugin, { route: OPTIONAL_ROUTE, headers: [['x-api-key', partner], ['x-partner', 'other']] });
    expect(localReplyOf(refused.outcome).details).toBe('apip_plan_no_match');
  });

  it('returns 403 Subscription is not active when the key is suspended', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-api-key', suspended]] }).outcome);
    expect(reply.status).toBe(403);
    expect(reply.details).toBe('apip_subscription_inactive');
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Subscription is not active.' });
  });

  it('returns 401 Invalid API key when a suspended key has expired', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-api-key', suspendedExpired]] }).outcome);
    expect(reply.status).toBe(401);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Invalid API key.' });
  });

  it('continues without identity when the route is optional and no key is presented', async () => {
    const plugin = await loadPlans();
    const { outcome, headers } = sendRequest(plugin, { route: OPTIONAL_ROUTE, headers: [['authorization', 'Bearer abc']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBeUndefined();
    expect(headers.get('x-apip-application-id')).toBeUndefined();
    expect(headers.get('authorization')).toBe('Bearer abc');
  });

  it('continues without identity when the route is optional and the header holds another scheme', async () => {
    const plugin = await loadPlans();
    const { outcome, headers } = sendRequest(plugin, { route: PREFIX_OPTIONAL_ROUTE, headers: [['authorization', 'Bearer abc']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('authorization')).toBe('Bearer abc');
    expect(headers.get('x-apip-plan')).toBeUndefined();
  });

  it('still returns 401 when the route is optional and the key is invalid', async () => {
    const plugin = await loadPlans();
    const reply = localReplyOf(sendRequest(plugin, { route: OPTIONAL_ROUTE, headers: [['x-api-key', apiKey('unknown')]] }).outcome);
    expect(reply.status).toBe(401);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Invalid API key.' });
  });

  it('passes a request untouched when an earlier module already set x-apip-plan', async () => {
    const plugin = await loadPlans(false);
    const { outcome, headers } = sendRequest(plugin, {
      route: GOLD_ROUTE,
      headers: [['x-apip-plan', 'jwt-gold'], ['x-apip-application-id', 'app-j'], ['x-api-key', apiKey('unknown')]],
    });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBe('jwt-gold');
    expect(headers.get('x-apip-application-id')).toBe('app-j');
    expect(headers.get('x-api-key')).toBe(apiKey('unknown'));
  });

  it('ignores a client-supplied x-apip-plan when it is the first module', async () => {
    const plugin = await loadPlans(true);
    const reply = localReplyOf(sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-apip-plan', 'gold']] }).outcome);
    expect(reply.status).toBe(401);
    expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Missing API key.' });
  });

  it('lets a key of any plan through when the route plans are null', async () => {
    const config = plansConfiguration();
    const plugin = await loadPolicy('api-key', { ...config, routes: { [GOLD_ROUTE]: { keySets: ['plans'], key: 'x-api-key', plans: null } } });
    expect(plugin.isConfigured).toBe(true);
    const { outcome, headers } = sendRequest(plugin, { route: GOLD_ROUTE, headers: [['x-api-key', planless]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-application-id')).toBe('app-n');
  });

  it('refuses the configuration when plans or route plans are malformed', async () => {
    const cases = [
      { plans: { gold: 'x' } },
      { plans: { gold: { rule: 7 } } },
      { plans: { gold: { rule: "method ==" } } },
      { plans: [] },
      { routes: { [GOLD_ROUTE]: { keySets: ['plans'], key: 'x-api-key', plans: [1] } } },
      { routes: { [GOLD_ROUTE]: { keySets: ['plans'], key: 'x-api-key', plans: 'gold' } } },
      { routes: { [GOLD_ROUTE]: { keySets: ['plans'], key: 'x-api-key', optional: 'yes' } } },
    ];
    for (const change of cases) {
      const plugin = await loadPolicy('api-key', { ...plansConfiguration(), ...change });
      expect(plugin.isConfigured, JSON.stringify(change)).toBe(false);
    }
  });
});
