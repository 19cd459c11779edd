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
});
