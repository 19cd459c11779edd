import { describe, expect, it } from 'vitest';
import { headerOf, loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';

const ROUTE = 'mock-api/POST/things';

describe('respond policy', () => {
  it('answers with the configured status, body and headers when the route has a reply', async () => {
    const plugin = await loadPolicy('respond', {
      routes: {
        [ROUTE]: {
          statusCode: 201,
          body: '{"id": 123, "name": "Created Resource"}',
          headers: [{ name: 'content-type', value: 'application/json' }, { name: 'location', value: '/api/resource/123' }],
        },
      },
    });
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, method: 'POST' }).outcome);
    expect(reply.status).toBe(201);
    expect(new TextDecoder().decode(reply.body)).toBe('{"id": 123, "name": "Created Resource"}');
    expect(headerOf(reply, 'content-type')).toBe('application/json');
    expect(headerOf(reply, 'location')).toBe('/api/resource/123');
    expect(reply.details).toBe('apip_respond');
  });

  it('answers 200 with an empty body when the entry sets nothing', async () => {
    const plugin = await loadPolicy('respond', { routes: { [ROUTE]: {} } });
    const reply = localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome);
    expect(reply.status).toBe(200);
    expect(reply.body.byteLength).toBe(0);
  });

  it('lets requests of other routes continue', async () => {
    const plugin = await loadPolicy('respond', { routes: { [ROUTE]: { statusCode: 503 } } });
    expect(sendRequest(plugin, { route: 'mock-api/GET/other' }).outcome.action).toBe('continue');
  });

  it('refuses a configuration it cannot serve and fails closed', async () => {
    const refused = [
      { statusCode: 99 },
      { statusCode: 600 },
      { statusCode: '200' },
      { statusCode: 204, body: 'x' },
      { headers: [{ name: 'content-length', value: '1' }] },
      { headers: [{ name: 'bad name', value: 'v' }] },
      { headers: [{ name: 'x-a', value: 'a\r\nb: c' }] },
    ];
    for (const entry of refused) {
      const plugin = await loadPolicy('respond', { routes: { [ROUTE]: entry } });
      expect(plugin.isConfigured, JSON.stringify(entry)).toBe(false);
      expect(localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome).status).toBe(500);
    }
  });
});
