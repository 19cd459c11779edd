import { describe, expect, it } from 'vitest';
import { loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';

const ROUTE = 'reading-list/GET/books';

const configuration = {
  routes: {
    [ROUTE]: {
      request: { headers: [{ name: 'X-Gateway-Version', value: 'v1.0.0' }, { name: 'x-tenant', value: 'acme' }] },
      response: { headers: [{ name: 'x-environment', value: 'development' }] },
    },
  },
};

describe('set-headers policy', () => {
  it('overwrites request headers when the route has request headers', async () => {
    const plugin = await loadPolicy('set-headers', configuration);
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-tenant', 'a'], ['x-tenant', 'b']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-gateway-version')).toBe('v1.0.0');
    expect(headers.get('x-tenant')).toBe('acme');
  });

  it('sets response headers when the response comes back', async () => {
    const plugin = await loadPolicy('set-headers', configuration);
    const stream = plugin.createHttpContext({ routeName: ROUTE });
    stream.onRequestHeaders([[':path', '/books']], true);
    const outcome = stream.onResponseHeaders([[':status', '200'], ['x-environment', 'prod']], true);
    stream.onDone();
    expect(outcome.action).toBe('continue');
    expect(stream.responseHeaders.get('x-environment')).toBe('development');
  });

  it('leaves other routes untouched when they have no settings', async () => {
    const plugin = await loadPolicy('set-headers', configuration);
    const { headers } = sendRequest(plugin, { route: 'other/GET/x' });
    expect(headers.get('x-gateway-version')).toBeUndefined();
  });

  it('strips identity headers when it is the first policy of the chain', async () => {
    const plugin = await loadPolicy('set-headers', { ...configuration, stripIdentityHeaders: true });
    const { headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-apip-application-id', 'forged']] });
    expect(headers.get('x-apip-application-id')).toBeUndefined();
  });

  it('refuses invalid header names and fails closed', async () => {
    for (const name of ['bad name', ':path', '', 'x\r\ny']) {
      const plugin = await loadPolicy('set-headers', { routes: { [ROUTE]: { request: { headers: [{ name, value: 'v' }] } } } });
      expect(plugin.isConfigured, name).toBe(false);
      expect(localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome).status).toBe(500);
    }
  });

  it('refuses header values with line breaks', async () => {
    const plugin = await loadPolicy('set-headers', { routes: { [ROUTE]: { request: { headers: [{ name: 'x-a', value: 'a\r\nb: c' }] } } } });
    expect(plugin.isConfigured).toBe(false);
  });
  describe('plan policies', () => {
    const withPlans = {
      planPolicies: {
        'plan-gold': {
          request: { headers: [{ name: 'x-tier', value: 'gold' }, { name: 'x-gateway-version', value: 'plan' }] },
          response: { headers: [{ name: 'x-plan', value: 'gold' }, { name: 'x-environment', value: 'plan' }] },
        },
        'plan-silver': { response: { headers: [{ name: 'x-plan', value: 'silver' }] } },
      },
      routes: configuration.routes,
    };

    it('applies the plan entry of x-apip-plan before the route entry, whose sets win', async () => {
      const plugin = await loadPolicy('set-headers', withPlans);
      const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-apip-plan', 'plan-gold']] });
      expect(outcome.action).toBe('continue');
      expect(headers.get('x-tier')).toBe('gold');
      expect(headers.get('x-gateway-version')).toBe('v1.0.0');
      expect(headers.get('x-tenant')).toBe('acme');
    });

    it('sets the plan response headers on the response of a request that plan admitted', async () => {
      const plugin = await loadPolicy('set-headers', withPlans);
      const stream = plugin.createHttpContext({ routeName: ROUTE });
      stream.onRequestHeaders([[':path', '/books'], ['x-apip-plan', 'plan-gold']], true);
      stream.onResponseHeaders([[':status', '200']], true);
      stream.onDone();
      expect(stream.responseHeaders.get('x-plan')).toBe('gold');
      expect(stream.responseHeaders.get('x-environment')).toBe('development');
    });

    it('applies plan policies on routes without an entry of their own', async () => {
      const plugin = await loadPolicy('set-headers', withPlans);
      const stream = plugin.createHttpContext({ routeName: 'other/GET/x' });
      const outcome = stream.onRequestHeaders([[':path', '/x'], ['x-apip-plan', 'plan-gold']], true);
      stream.onResponseHeaders([[':status', '200']], true);
      stream.onDone();
      expect(outcome.action).toBe('continue');
      expect(stream.responseHeaders.get('x-plan')).toBe('gold');
      expect(stream.responseHeaders.get('x-environment')).toBe('plan');
    });

    it('applies no plan entry when the request has no plan or another plan', async () => {
      const plugin = await loadPolicy('set-headers', withPlans);
      for (const extra of [[], [['x-apip-plan', 'plan-bronze']]] as [string, string][][]) {
        const stream = plugin.createHttpContext({ routeName: ROUTE });
        stream.onRequestHeaders([[':path', '/books'], ...extra], true);
        stream.onResponseHeaders([[':status', '200']], true);
        stream.onDone();
        expect(stream.responseHeaders.get('x-plan')).toBeUndefined();
        expect(stream.responseHeaders.get('x-environment')).toBe('development');
      }
    });

    it('uses the plan the request had, not a plan header added later', async () => {
      const plugin = await loadPolicy('set-headers', withPlans);
      const stream = plugin.createHttpContext({ routeName: ROUTE });
      stream.onRequestHeaders([[':path', '/books'], ['x-apip-plan', 'plan-silver']], true);
      stream.onResponseHeaders([[':status', '200'], ['x-apip-plan', 'plan-gold']], true);
      stream.onDone();
      expect(stream.responseHeaders.get('x-plan')).toBe('silver');
    });

    it('refuses invalid plan policy headers with their path and fails closed', async () => {
      const plugin = await loadPolicy('set-headers', {
        planPolicies: { 'plan-gold': { request: { headers: [{ name: 'bad name', value: 'v' }] } } },
        routes: {},
      });
      expect(plugin.isConfigured).toBe(false);
      expect(localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['x-apip-plan', 'plan-gold']] }).outcome).status).toBe(500);
      const notObject = await loadPolicy('set-headers', { planPolicies: { 'plan-gold': [] }, routes: {} });
      expect(notObject.isConfigured).toBe(false);
    });
  });
});
