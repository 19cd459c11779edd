import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import { freshRestApi } from '../../helpers/rest-seed.ts';

interface ErrorJson {
  message: string;
  errors?: { field: string; message: string }[];
}
type Spec = Record<string, unknown>;

let seq = 0;
/** The seed's RestApi with a fresh handle and context, its spec edited by `edit`. */
function restApi(edit: (spec: Spec) => void) {
  seq++;
  return freshRestApi(`unservable-${seq}`, (body) => edit(body.spec));
}

// Issue 12 item 2: a configuration the data planes cannot serve used to be stored (201) and then take the whole
// API off traffic, the reason only in deploymentStatus. It is refused at write time, naming the field.
describe.each(shapeDrivers)('REST /rest-apis refuses what no data plane serves (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t.close();
  });

  async function rejects(body: unknown, field: string, message: RegExp): Promise<void> {
    const res = await rest.post<ErrorJson>('/rest-apis', body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors).toEqual(expect.arrayContaining([{ field, message: expect.stringMatching(message) }]));
  }

  it('returns 400 naming executionCondition and the offset when an API or operation policy has a condition outside the CEL subset', async () => {
    const throttle = { name: 'throttle', version: 'v1', executionCondition: "request.method == 'GET'", params: { limits: [{ requests: 5, duration: '1m' }] } };
    await rejects(restApi((s) => { s.policies = [throttle]; }), 'spec.policies[0].executionCondition', /No such key: method at offset 8/);
    await rejects(
      restApi((s) => { s.operations = [{ method: 'GET', path: '/books', policies: [throttle] }]; }),
      'spec.operations[0].policies[0].executionCondition',
      /No such key: method at offset 8/,
    );
  });

  it('returns 400 naming the policy name when it is interceptor-service (no data plane serves it)', async () => {
    const interceptor = { name: 'interceptor-service', version: 'v1', params: { url: 'http://interceptor.internal' } };
    await rejects(restApi((s) => { s.policies = [interceptor]; }), 'spec.policies[0].name', /Unknown policy 'interceptor-service'/);
    await rejects(restApi((s) => { s.operations = [{ method: 'GET', path: '/books', policies: [interceptor] }]; }), 'spec.operations[0].policies[0].name', /Unknown policy 'interceptor-service'/);
  });

  it('returns 400 naming the operation policy when it cannot be combined with the API policy on its route', async () => {
    await rejects(
      restApi((s) => {
        s.policies = [{ name: 'api-key', version: 'v1', params: { key: 'x-api-key', in: 'header' } }];
        s.operations = [{ method: 'GET', path: '/books', policies: [{ name: 'api-key', version: 'v1', params: { key: 'apikey', in: 'query' } }] }];
      }),
      'spec.operations[0].policies[0]',
      /two different api-key policies/,
    );
  });

  it('returns 400 naming jwksUrl when a jwt policy names no keys of its own', async () => {
    await rejects(restApi((s) => { s.policies = [{ name: 'jwt-auth', version: 'v1', params: { issuer: 'https://idp.example' } }]; }), 'spec.policies[0].params.jwksUrl', /required/);
  });

  it('returns 400 naming spec.vhosts.sandbox when the sandbox upstream would share the main virtual host', async () => {
    await rejects(
      restApi((s) => {
        s.upstream = { main: { url: 'http://main.internal' }, sandbox: { url: 'http://sandbox.internal' } };
        s.vhosts = { main: 'api.example.com', sandbox: 'API.example.com' };
      }),
      'spec.vhosts.sandbox',
      /virtual host other than the main one/,
    );
  });

  it('returns 400 naming the upstream definition when Envoy could not take it (0 connect timeout, every weight 0)', async () => {
    const pool = (def: Record<string, unknown>) => restApi((s) => {
      s.upstream = { main: { ref: 'pool' } };
      s.upstreamDefinitions = [{ name: 'pool', upstreams: [{ url: 'http://a.internal:8080' }], ...def }];
    });
    await rejects(pool({ timeout: { connect: '0s' } }), 'spec.upstreamDefinitions[0].timeout.connect', /at least 1ms/);
    await rejects(pool({ upstreams: [{ url: 'http://a.internal:8080', weight: 0 }] }), 'spec.upstreamDefinitions[0].upstreams', /weight above 0/);
  });

  it('still accepts an empty execution condition and the same policy on API and operation', async () => {
    const key = { name: 'api-key', version: 'v1', executionCondition: '', params: { key: 'x-api-key', in: 'header' } };
    const res = await rest.post('/rest-apis', restApi((s) => { s.policies = [key]; s.operations = [{ method: 'GET', path: '/books', policies: [key] }]; }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});
