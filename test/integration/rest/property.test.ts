import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRoutes } from '../../../server/rest/routes.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient, rowCounts } from '../../helpers/rest.ts';
import { seedRestApi, seedSubscriptionCreate, seedSubscriptionPlanCreate } from '../../helpers/rest-seed.ts';

/** A body in the neighbourhood of a valid one: some top-level (and, for RestApis, spec) fields replaced. */
function nearValid(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  const overrides = fc.dictionary(fc.constantFrom(...keys, 'unexpected'), fc.jsonValue(), { maxKeys: 3 });
  const spec = (valid.spec ?? null) as Record<string, unknown> | null;
  if (!spec) return overrides.map((o) => ({ ...valid, ...o }));
  const specOverrides = fc.dictionary(fc.constantFrom(...Object.keys(spec), 'upstreamDefinitions', 'vhosts', 'deploymentState'), fc.jsonValue(), { maxKeys: 3 });
  return fc.tuple(overrides, specOverrides, fc.string({ minLength: 1, maxLength: 12 })).map(([o, s, name]) => ({
    ...valid,
    metadata: { name },
    ...o,
    spec: { ...spec, ...s },
  }));
}

const validBodies: Record<string, Record<string, unknown>> = {
  '/rest-apis': seedRestApi,
  '/rest-apis/:id': seedRestApi,
  '/rest-apis/:id/api-keys': { name: 'prop-key-2', displayName: 'x', expiresIn: { unit: 'days', duration: 1 } },
  '/rest-apis/:id/api-keys/:apiKeyName': { name: 'prop-key', apiKey: 'custom-prop-value' },
  '/rest-apis/:id/api-keys/:apiKeyName/regenerate': {},
  '/subscription-plans': seedSubscriptionPlanCreate,
  '/subscription-plans/:planId': seedSubscriptionPlanCreate,
  '/subscriptions': seedSubscriptionCreate,
  '/subscriptions/:subscriptionId': { status: 'INACTIVE' },
};

interface Payload {
  raw?: string;
  body?: unknown;
  contentType: string;
}

function payloads(path: string): fc.Arbitrary<Payload> {
  const valid = validBodies[path] ?? {};
  const json = fc.oneof(fc.jsonValue(), nearValid(valid));
  return fc.oneof(
    json.map((body) => ({ body, contentType: 'application/json' })),
    json.map((body) => ({ raw: toYaml(body), contentType: fc.sample(fc.constantFrom('application/yaml', 'text/yaml'), 1)[0] ?? 'application/yaml' })),
    fc.string().map((raw) => ({ raw, contentType: 'application/json' })),
    fc.string().map((raw) => ({ raw, contentType: 'application/yaml' })),
  );
}

describe.each(shapeDrivers)('every REST route under arbitrary input (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  const known: Record<string, string[]> = {};
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
    await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'prop-api' } });
    await rest.post('/rest-apis/prop-api/api-keys', { name: 'prop-key' });
    const plan = await rest.post<{ id: string }>('/subscription-plans', { planName: 'Prop' });
    const sub = await rest.post<{ id: string }>('/subscriptions', { apiId: 'prop-api', subscriptionToken: 'prop-token', subscriptionPlanId: plan.body.id });
    known.id = ['prop-api', seedSubscriptionCreate.apiId];
    known.apiKeyName = ['prop-key', 'prop-key-2'];
    known.planId = [plan.body.id];
    known.subscriptionId = [sub.body.id];
  });
  afterAll(async () => {
    await t.close();
  });

  /** Real ids some of the time, arbitrary (escaped) strings, and escapes no decoder accepts. */
  function param(name: string): fc.Arbitrary<string> {
    return fc.oneof(
      fc.constantFrom(...(known[name] ?? ['x'])),
      fc.string({ minLength: 1 }).map(encodeURIComponent),
      fc.constantFrom('%zz', '%E0%A4%A', '%00', 'a%2Fb', '%20'),
    );
  }

  for (const route of restRoutes.filter((r) => r.access !== 'public')) {
    it(`never answers 5xx or half-writes when ${route.method} ${route.path} gets arbitrary input`, async () => {
      const names = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1] ?? '');
      const params = fc.tuple(...names.map(param));
      const query = fc.dictionary(fc.constantFrom('status', 'displayName', 'version', 'context', 'apiId', 'applicationId'), fc.string(), { maxKeys: 2 });
      await fc.assert(
        fc.asyncProperty(params, payloads(route.path), query, async (values, payload, search) => {
          let path = route.path;
          names.forEach((name, i) => { path = path.replace(`:${name}`, values[i] ?? ''); });
          const qs = new URLSearchParams(search).toString();
          const before = await rowCounts(t);
          const res = await rest.request(route.method, `${path}${qs ? `?${qs}` : ''}`, { ...payload });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) expect(await rowCounts(t)).toEqual(before);
        }),
        { numRuns: 20 },
      );
    });
  }
});
