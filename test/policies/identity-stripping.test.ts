import { describe, expect, it } from 'vitest';
import { apiKey, keyDigestHex, loadPolicy, localReplyOf, sendRequest, testDigestKeyHex } from '../helpers/policies.ts';

// Each route runs only its own modules, so the module that strips client-sent x-apip-* headers is per route: the
// first one that runs there (docs/gateway.md "Identity headers"). The translator says where in each module's
// configuration: `stripIdentityHeaders` (every request) or `stripIdentityRoutes` (the routes where it runs first).

const FIRST = 'a/GET/first';
const LATER = 'a/GET/later';
const forged: [string, string][] = [['x-apip-application-id', 'forged'], ['x-apip-subscription-id', 'forged'], ['x-apip-plan', 'forged']];

/** The least configuration each module accepts, with no route settings. */
const empty: Record<string, Record<string, unknown>> = {
  'api-key': { digestKey: testDigestKeyHex, keySets: {}, routes: {} },
  jwt: { keySets: {}, routes: {} },
  oauth2: { servers: {}, routes: {} },
  plan: { plans: {}, routes: {} },
  'basic-auth': { users: {}, routes: {} },
  'subscription-validation': { digestKey: testDigestKeyHex, plans: {}, apis: {}, routes: {} },
  throttle: { routes: {} },
  'set-headers': { routes: {} },
};

describe('identity header stripping per route', () => {
  it.each(Object.keys(empty))('%s strips client identity headers on the routes where it runs first, and only there', async (name) => {
    const plugin = await loadPolicy(name, { ...empty[name], stripIdentityHeaders: false, stripIdentityRoutes: [FIRST] });
    expect(plugin.isConfigured).toBe(true);
    const first = sendRequest(plugin, { route: FIRST, headers: forged });
    for (const [header] of forged) expect(first.headers.get(header), header).toBeUndefined();
    // Where it runs after another module, the identity headers are that module's: kept.
    const later = sendRequest(plugin, { route: LATER, headers: forged });
    for (const [header] of forged) expect(later.headers.get(header), header).toBe('forged');
  });

  it('refuses a stripIdentityRoutes that is not a list of route names, failing closed', async () => {
    const plugin = await loadPolicy('set-headers', { routes: {}, stripIdentityRoutes: [FIRST, 3] });
    expect(plugin.isConfigured).toBe(false);
    expect(localReplyOf(sendRequest(plugin, { route: FIRST }).outcome).status).toBe(500);
  });

  it('api-key answers 401 to a forged plan where it runs first, and lets an earlier module\'s admission through elsewhere', async () => {
    const key = apiKey('per-route');
    const settings = { keySets: ['k'], key: 'x-api-key', in: 'header' };
    const plugin = await loadPolicy('api-key', {
      digestKey: testDigestKeyHex,
      keySets: { k: [{ sha256: keyDigestHex(key), status: 'active', applicationId: 'app-1', plan: 'Gold' }] },
      routes: { [FIRST]: settings, [LATER]: settings },
      stripIdentityHeaders: false,
      stripIdentityRoutes: [FIRST],
    });
    expect(localReplyOf(sendRequest(plugin, { route: FIRST, headers: forged }).outcome).status).toBe(401);
    const later = sendRequest(plugin, { route: LATER, headers: [['x-apip-plan', 'Silver']] });
    expect(later.outcome.action).toBe('continue');
    expect(later.headers.get('x-apip-plan')).toBe('Silver');
  });

  it('jwt answers 401 to a forged plan where it runs first, and lets an earlier module\'s admission through elsewhere', async () => {
    const settings = { keySets: ['idp'] };
    const plugin = await loadPolicy('jwt', {
      keySets: { idp: { keys: [{ kty: 'oct', kid: 'hs', k: 'eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA' }] } },
      routes: { [FIRST]: settings, [LATER]: settings },
      stripIdentityRoutes: [FIRST],
    });
    expect(plugin.isConfigured).toBe(true);
    expect(localReplyOf(sendRequest(plugin, { route: FIRST, headers: forged }).outcome).status).toBe(401);
    expect(sendRequest(plugin, { route: LATER, headers: [['x-apip-plan', 'Silver']] }).outcome.action).toBe('continue');
  });
});
