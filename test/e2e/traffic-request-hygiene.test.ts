import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import {
  createApi, createPlan, expectServedConfigValid, must, newSubscriber, query, replyOf, sendThrough, waitServed,
} from '../helpers/plans-traffic.ts';
import { eventually, type Recorder, startRecorder } from '../helpers/traffic.ts';

const overrideHeaders = { 'x-http-method-override': 'DELETE', 'x-method-override': 'DELETE', 'x-http-method': 'DELETE' };

// docs/gateway.md "Request hygiene", through the embedded gateway with the real modules: method-override headers
// reach the upstream only on an operation that opts in; a credential given twice never passes.
describe.each(shapeDrivers)('traffic: request hygiene (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;

  beforeAll(async () => {
    upstream = await startRecorder('hygiene-upstream');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  describe('method override', () => {
    const path = '/legacy/v1/items';
    let apiId: string;

    beforeAll(async () => {
      apiId = await createApi(t, 'legacy-api', {
        context: '/legacy/$version',
        upstreamUrl: upstream.url,
        operations: [{ method: 'GET', path: '/items' }, { method: 'POST', path: '/items', allowMethodOverride: true }],
      });
      await createPlan(t, apiId, 'Open', { type: 'KEYLESS' });
      await waitServed(t, gw, path, 200);
    });

    it('shows allowMethodOverride on each operation, false unless given', async () => {
      const read = await query<{ node: { operations: { method: string; allowMethodOverride: boolean }[] } }>(
        t, 'query($id: ID!) { node(id: $id) { ... on Api { operations { method allowMethodOverride } } } }', { id: apiId },
      );
      expect(read.node.operations).toEqual([{ method: 'GET', allowMethodOverride: false }, { method: 'POST', allowMethodOverride: true }]);
    });

    it('passes the method-override headers to the upstream only on the operation that allows them', async () => {
      const opted = await sendThrough(gw, upstream, path, { method: 'POST', headers: overrideHeaders });
      expect(opted.answer.status).toBe(200);
      expect(opted.seen[0]!.headers).toMatchObject(overrideHeaders);
      const plain = await sendThrough(gw, upstream, path, { headers: overrideHeaders });
      expect(plain.answer.status).toBe(200);
      for (const name of Object.keys(overrideHeaders)) expect(plain.seen[0]!.headers[name]).toBeUndefined();
    });

    it('passes the strict Envoy proto check with the removal on the routes that do not opt in', async () => {
      await expectServedConfigValid(t, ['legacy-api'], ['x-http-method-override']);
    });

    it('removes the headers again once an update leaves the field out', async () => {
      await must(t, 'updateApi', 'UpdateApiInput', 'api { id }', {
        id: apiId,
        spec: {
          displayName: 'legacy-api', version: 'v1', context: '/legacy/$version', upstream: { main: { url: upstream.url } },
          operations: [{ method: 'GET', path: '/items' }, { method: 'POST', path: '/items' }],
        },
      });
      const stripped = await waitForStripped(path);
      for (const name of Object.keys(overrideHeaders)) expect(stripped.headers[name]).toBeUndefined();
    });
  });

  describe('an API key given twice', () => {
    const path = '/twice/v1/items';
    let key: string;

    beforeAll(async () => {
      const apiId = await createApi(t, 'twice-api', { context: '/twice/$version', upstreamUrl: upstream.url });
      const planId = await createPlan(t, apiId, 'Keys', { type: 'API_KEY', apiKey: { keyName: 'X-API-Key' } });
      key = (await newSubscriber(t, 'twice-app', planId)).key!;
      await waitServed(t, gw, path, 200, { headers: { 'x-api-key': key } });
    });

    it('answers 401 without calling the upstream when the key is in its header and in a query parameter of the same name', async () => {
      for (const other of [key, 'another-value']) {
        const { answer, seen } = await sendThrough(gw, upstream, `${path}?X-API-Key=${encodeURIComponent(other)}`, { headers: { 'x-api-key': key } });
        expect(replyOf(answer)).toEqual({ status: 401, body: { status: 'error', message: 'Invalid API key.' } });
        expect(seen).toEqual([]);
      }
    });
  });

  /** Polls until the upstream sees a POST with the override headers removed (the update is being served). */
  async function waitForStripped(path: string): Promise<Recorder['received'][number]> {
    const { seen } = await eventually(
      () => sendThrough(gw, upstream, path, { method: 'POST', headers: overrideHeaders }),
      (r) => r.seen.length === 1 && r.seen[0]!.headers['x-http-method-override'] === undefined,
      { timeoutMs: 5000, what: 'the update served' },
    );
    return seen[0]!;
  }
});
