import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { startChain } from '../fixtures/gateway/filter-chain.ts';
import { apiKey, headerOf, jsonOf, loadPolicy, localReplyOf, requestHeaders, sendRequest, keyDigestHex, testDigestKeyHex } from '../helpers/policies.ts';

const API = 'reading-list-api-v1.0';
const ROUTE = `${API}/GET/books`;
const START = Date.parse('2026-04-01T10:00:00Z');
const GOLD_TOKEN = 'sub-token-abc123xyz';
const BRONZE_TOKEN = 'sub-token-bronze';
const SOFT_TOKEN = 'sub-token-soft';

function configuration() {
  return {
    digestKey: testDigestKeyHex,
    plans: {
      'plan-gold': { name: 'Gold', throttleLimitCount: 1000, throttleLimitUnit: 'Hour', stopOnQuotaReach: true },
      'plan-bronze': { name: 'Bronze', throttleLimitCount: 2, throttleLimitUnit: 'Min', stopOnQuotaReach: true },
      'plan-soft': { name: 'Soft', throttleLimitCount: 1, throttleLimitUnit: 'Day', stopOnQuotaReach: false },
    },
    apis: {
      [API]: {
        subscriptions: [
          { id: 'sub-gold', applicationId: 'app-gold', tokenSha256: keyDigestHex(GOLD_TOKEN), status: 'ACTIVE', plan: 'plan-gold' },
          { id: 'sub-bronze', applicationId: 'app-bronze', tokenSha256: keyDigestHex(BRONZE_TOKEN), status: 'ACTIVE', plan: 'plan-bronze' },
          { id: 'sub-soft', applicationId: 'app-soft', tokenSha256: keyDigestHex(SOFT_TOKEN), status: 'ACTIVE', plan: 'plan-soft' },
          { id: 'sub-off', applicationId: 'app-off', tokenSha256: keyDigestHex('sub-token-off'), status: 'INACTIVE', plan: 'plan-gold' },
        ],
      },
    },
    routes: { [ROUTE]: { api: API } },
  };
}

async function load() {
  return loadPolicy('subscription-validation', configuration(), { clock: createManualClock(START) });
}

/** The configuration with the route's settings replaced by `route` (the API stays the same). */
async function loadRoute(route: Record<string, unknown>) {
  const config = { ...configuration(), routes: { [ROUTE]: { api: API, ...route } } };
  return loadPolicy('subscription-validation', config, { clock: createManualClock(START) });
}

const forbidden = { error: 'forbidden', message: 'Subscription required for this API' };
const noCredential = { error: 'forbidden', message: 'Subscription required for this API: no subscription token or application identity provided' };

describe('subscription-validation policy', () => {
  it('continues with identity headers when the Subscription-Key belongs to an active subscription', async () => {
    const plugin = await load();
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', GOLD_TOKEN]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-gold');
    expect(headers.get('x-apip-application-id')).toBe('app-gold');
    expect(headers.get('x-apip-plan')).toBe('Gold');
    expect(headers.get('subscription-key')).toBeUndefined();
  });

  it('returns 403 when the subscription is inactive', async () => {
    const plugin = await load();
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', 'sub-token-off']] }).outcome);
    expect(reply.status).toBe(403);
    expect(jsonOf(reply)).toEqual(forbidden);
  });

  it("returns the reference's 403 when the token is unknown, and says why when there is no credential at all", async () => {
    const plugin = await load();
    const unknown = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', 'nope']] }).outcome);
    expect(unknown.status).toBe(403);
    expect(headerOf(unknown, 'content-type')).toBe('application/json');
    expect(jsonOf(unknown)).toEqual(forbidden);
    const missing = localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome);
    expect(missing.status).toBe(403);
    expect(jsonOf(missing)).toEqual(noCredential);
  });

  it('reads the token from the header subscriptionKeyHeader names, and strips it', async () => {
    const plugin = await loadRoute({ header: 'x-sub-token' });
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-sub-token', GOLD_TOKEN]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-gold');
    expect(headers.get('x-sub-token')).toBeUndefined();
    // The default header is then not read.
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', GOLD_TOKEN]] }).outcome).status).toBe(403);
  });

  it('reads the token from the configured cookie when the header is absent, and removes only that cookie', async () => {
    const plugin = await loadRoute({ cookie: 'sub_token' });
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['cookie', `theme=dark; Sub_Token=${GOLD_TOKEN}; lang=en`]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-gold');
    expect(headers.get('cookie')).toBe('theme=dark; lang=en');
    // The only cookie: the Cookie header goes.
    const alone = sendRequest(plugin, { route: ROUTE, headers: [['cookie', `sub_token=${GOLD_TOKEN}`]] });
    expect(alone.outcome.action).toBe('continue');
    expect(alone.headers.get('cookie')).toBeUndefined();
    // The header wins over the cookie, and a bad header token is not rescued by a good cookie.
    const both = sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', 'nope'], ['cookie', `sub_token=${GOLD_TOKEN}`]] });
    expect(localReplyOf(both.outcome).status).toBe(403);
    // Without a cookie setting, cookies are not read.
    const plain = await load();
    expect(jsonOf(localReplyOf(sendRequest(plain, { route: ROUTE, headers: [['cookie', `sub_token=${GOLD_TOKEN}`]] }).outcome))).toEqual(noCredential);
  });

  it('does nothing when enabled is false', async () => {
    const plugin = await loadRoute({ enabled: false });
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', 'nope']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('subscription-key')).toBe('nope');
    expect(headers.get('x-apip-subscription-id')).toBeUndefined();
  });

  it('finds the subscription from the identity an auth policy set earlier in the chain', async () => {
    const key = apiKey('chain');
    const auth = await loadPolicy('api-key', {
      stripIdentityHeaders: true,
      digestKey: testDigestKeyHex,
      keySets: { [API]: [{ sha256: keyDigestHex(key), status: 'active', applicationId: 'app-bronze' }] },
      routes: { [ROUTE]: { keySets: [API], key: 'x-api-key' } },
    });
    const plugin = await load();
    const stream = startChain([auth, plugin], requestHeaders({ headers: [['x-api-key', key]] }), { routeName: ROUTE });
    const outcome = await stream.onRequestHeaders(true);
    stream.onDone();
    expect(outcome.action).toBe('continue');
    expect(stream.requestHeaders.get('x-apip-subscription-id')).toBe('sub-bronze');
    expect(stream.requestHeaders.get('x-apip-plan')).toBe('Bronze');
  });

  it('ignores identity a client forged when the first policy strips it', async () => {
    const strip = await loadPolicy('set-headers', { stripIdentityHeaders: true, routes: {} });
    const plugin = await load();
    const stream = startChain([strip, plugin], requestHeaders({ headers: [['x-apip-application-id', 'app-gold']] }), { routeName: ROUTE });
    const outcome = await stream.onRequestHeaders(true);
    stream.onDone();
    expect(outcome.action === 'localReply' && outcome.status).toBe(403);
  });

  it('returns 429 with Retry-After when the plan quota is used up', async () => {
    const plugin = await load();
    const headers: [string, string][] = [['subscription-key', BRONZE_TOKEN]];
    expect(sendRequest(plugin, { route: ROUTE, headers }).outcome.action).toBe('continue');
    expect(sendRequest(plugin, { route: ROUTE, headers }).outcome.action).toBe('continue');
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers }).outcome);
    expect(reply.status).toBe(429);
    expect(headerOf(reply, 'ratelimit-limit')).toBe('2');
    expect(headerOf(reply, 'retry-after')).toBeDefined();
    // Other subscriptions have their own quota.
    expect(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', GOLD_TOKEN]] }).outcome.action).toBe('continue');
  });

  it('lets requests over quota through marked when stopOnQuotaReach is false', async () => {
    const plugin = await load();
    const headers: [string, string][] = [['subscription-key', SOFT_TOKEN]];
    sendRequest(plugin, { route: ROUTE, headers });
    const over = sendRequest(plugin, { route: ROUTE, headers });
    expect(over.outcome.action).toBe('continue');
    expect(over.headers.get('x-apip-quota-exceeded')).toBe('true');
  });

  it('refuses a subscription naming an unknown plan and fails closed', async () => {
    const config = configuration();
    config.apis[API].subscriptions.push({ id: 'x', applicationId: 'y', tokenSha256: keyDigestHex('x'), status: 'ACTIVE', plan: 'plan-none' });
    const plugin = await loadPolicy('subscription-validation', config);
    expect(plugin.isConfigured).toBe(false);
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', GOLD_TOKEN]] }).outcome).status).toBe(500);
  });

  it('refuses a token whose plain SHA-256 digest is configured: digests are keyed', async () => {
    const config = configuration();
    config.apis[API].subscriptions.push({ id: 'sub-plain', applicationId: 'app-plain', tokenSha256: createHash('sha256').update('plain-token').digest('hex'), status: 'ACTIVE', plan: 'plan-gold' });
    const plugin = await loadPolicy('subscription-validation', config);
    expect(plugin.isConfigured).toBe(true);
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['subscription-key', 'plain-token']] }).outcome).status).toBe(403);
  });

  it('refuses the configuration without a digest key', async () => {
    const { digestKey: _omitted, ...config } = configuration();
    expect((await loadPolicy('subscription-validation', config)).isConfigured).toBe(false);
  });

  it('refuses an unknown throttleLimitUnit', async () => {
    const config = configuration();
    config.plans['plan-gold'].throttleLimitUnit = 'Fortnight';
    expect((await loadPolicy('subscription-validation', config)).isConfigured).toBe(false);
  });
});
