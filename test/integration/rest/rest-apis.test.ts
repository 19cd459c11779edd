import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import { freshRestApi, type RestApiBody } from '../../helpers/rest-seed.ts';

type Json = Record<string, unknown>;
interface ErrorJson {
  status: string;
  message: string;
  errors?: { field: string; message: string }[];
}
type Body = RestApiBody;

let seq = 0;
/** The seed's RestApi with a fresh handle, displayName and context, edited by `edit`. */
function restApi(edit: (body: Body) => void = () => {}): Body {
  seq++;
  return freshRestApi(`books-${seq}`, edit);
}

describe.each(shapeDrivers)('REST /rest-apis (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t.close();
  });

  /** Posts the body and expects a 400 listing `field` (with a message matching `message`, when given). */
  async function rejects(body: unknown, field: string, message?: RegExp | string): Promise<ErrorJson> {
    const res = await rest.post<ErrorJson>('/rest-apis', body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.message).toBe('Configuration validation failed');
    const issue = res.body.errors?.find((e) => e.field === field);
    expect(issue, `no error on ${field}: ${JSON.stringify(res.body.errors)}`).toBeDefined();
    if (message !== undefined) expect(issue?.message).toMatch(message);
    return res.body;
  }

  // The rules themselves are the domain's (test/unit/domain/apis.test.ts, "validation"); here what REST adds: its
  // envelope (apiVersion, kind, body), the 400 answer listing every problem by field, and body parsing.
  describe('validation (400 Configuration validation failed)', () => {
    it('rejects an apiVersion other than gateway.api-platform.wso2.com/v1alpha1', async () => {
      await rejects(restApi((b) => Object.assign(b, { apiVersion: 'gateway.api-platform.wso2.com/v1' })), 'apiVersion', /v1alpha1/);
    });
    it('rejects a kind other than RestApi', async () => {
      await rejects(restApi((b) => Object.assign(b, { kind: 'GraphQLApi' })), 'kind', /RestApi/);
    });
    it('rejects a body that is not an object', async () => {
      await rejects([1, 2], 'body');
    });
    it('accepts the displayName character set at its longest', async () => {
      const res = await rest.post('/rest-apis', restApi((b) => { b.spec.displayName = `A b-c_d.1${'x'.repeat(91)}`; }));
      expect(res.status).toBe(201);
    });
    it('accepts the root context and a context holding $version', async () => {
      const root = await rest.post<Json>('/rest-apis', restApi((b) => { b.spec.context = '/'; b.spec.operations = [{ method: 'GET', path: '/root-only' }]; }));
      expect(root.status).toBe(201);
      const versioned = await rest.post('/rest-apis', restApi((b) => { b.spec.context = '/v/$version/x'; }));
      expect(versioned.status).toBe(201);
    });
    it('rejects a ref that names no upstreamDefinition, and accepts one that does', async () => {
      await rejects(restApi((b) => { b.spec.upstream = { main: { ref: 'missing' } }; }), 'spec.upstream.main.ref', /missing/);
      const ok = await rest.post<Json>(
        '/rest-apis',
        restApi((b) => {
          b.spec.upstreamDefinitions = [
            { name: 'books-backend', basePath: '/api/v2', timeout: { connect: '5s' }, upstreams: [{ url: 'http://books.internal:8080', weight: 80 }, { url: 'http://books-2.internal:8080' }] },
          ];
          b.spec.upstream = { main: { ref: 'books-backend', hostRewrite: 'auto' } };
        }),
      );
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({
        spec: {
          upstream: { main: { ref: 'books-backend', hostRewrite: 'auto' } },
          upstreamDefinitions: [{ name: 'books-backend', basePath: '/api/v2', timeout: { connect: '5s' }, upstreams: [{ url: 'http://books.internal:8080', weight: 80 }, { url: 'http://books-2.internal:8080' }] }],
        },
      });
    });
    it('rejects policy params that break the policy schema, at spec.policies[i].params.<field>', async () => {
      await rejects(restApi((b) => { b.spec.policies = [{ name: 'api-key', version: 'v1', params: { key: 'X-API-Key', in: 'cookie' } }]; }), 'spec.policies[0].params.in');
      await rejects(
        restApi((b) => { b.spec.operations = [{ method: 'GET', path: '/books', policies: [{ name: 'api-key-auth', version: 'v1', params: { key: '' } }] }]; }),
        'spec.operations[0].policies[0].params.key',
      );
    });
    it('resolves a policy without version to the installed major v1, stored and echoed as v1', async () => {
      const body = restApi((b) => { b.spec.policies = [{ name: 'set-headers', params: { request: { headers: [{ name: 'x-a', value: '1' }] } } }]; });
      const created = await rest.post<Body>('/rest-apis', body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.spec.policies).toEqual([expect.objectContaining({ name: 'set-headers', version: 'v1' })]);
      expect((await rest.get<Body>(`/rest-apis/${body.metadata.name}`)).body.spec.policies).toEqual([expect.objectContaining({ version: 'v1' })]);
    });
    it("refuses policy versions as the reference does, at <path>.version with the reference's messages", async () => {
      const at = (version: string) => restApi((b) => { b.spec.operations = [{ method: 'GET', path: '/books', policies: [{ name: 'set-headers', version, params: { request: { headers: [{ name: 'x-a', value: '1' }] } } }] }]; });
      const field = 'spec.operations[0].policies[0].version';
      await rejects(at('v1.0.0'), field, "policy 'set-headers' version must be major-only (e.g., v1); full semantic version (e.g., v1.0.0) is not allowed");
      await rejects(at('v2'), field, "policy 'set-headers' major version 'v2' not found in loaded policy definitions");
      await rejects(at('latest'), field, "invalid version format 'latest' for policy 'set-headers'; expected major-only version (e.g., v1)");
    });
    it('lists every problem of the body in one answer', async () => {
      const body = await rejects(
        restApi((b) => {
          b.kind = 'Nope' as typeof b.kind;
          b.spec.version = 'x';
          b.spec.context = 'nope';
          b.spec.operations = [];
        }),
        'kind',
      );
      expect(body.errors?.map((e) => e.field)).toEqual(expect.arrayContaining(['kind', 'spec.version', 'spec.context', 'spec.operations']));
    });
    it("rejects malformed JSON and YAML as 400 saying so, in the reference's words (create: 'failed to parse configuration')", async () => {
      const json = await rest.request<ErrorJson>('POST', '/rest-apis', { raw: '{"apiVersion":', contentType: 'application/json' });
      expect(json.status).toBe(400);
      expect(json.body.message).toMatch(/^failed to parse configuration: failed to parse JSON: ./);
      expect(json.body.errors).toEqual([{ field: 'body', message: expect.stringMatching(/^failed to parse JSON: ./) }]);
      const yaml = await rest.request<ErrorJson>('POST', '/rest-apis', { raw: 'a: [1, 2', contentType: 'application/yaml' });
      expect(yaml.status).toBe(400);
      expect(yaml.body.message).toMatch(/^failed to parse configuration: failed to parse YAML: ./);
    });
    it("answers a malformed PUT body with 'Failed to parse configuration: failed to parse JSON: ...'", async () => {
      const body = restApi();
      expect((await rest.post('/rest-apis', body)).status).toBe(201);
      const res = await rest.request<ErrorJson>('PUT', `/rest-apis/${body.metadata.name}`, { raw: '{tru', contentType: 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^Failed to parse configuration: failed to parse JSON: ./);
    });
    it('rejects a missing body', async () => {
      const res = await rest.request<ErrorJson>('POST', '/rest-apis');
      expect(res.status).toBe(400);
    });
  });

  describe('YAML bodies', () => {
    it('creates from application/yaml and text/yaml bodies, answering JSON', async () => {
      for (const contentType of ['application/yaml', 'text/yaml']) {
        const body = restApi();
        const res = await rest.request<Json>('POST', '/rest-apis', { raw: toYaml(body), contentType });
        expect(res.status).toBe(201);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(res.body).toMatchObject({ metadata: { name: body.metadata.name }, spec: { context: body.spec.context } });
      }
    });
    it('updates from a YAML body', async () => {
      const body = restApi();
      expect((await rest.post('/rest-apis', body)).status).toBe(201);
      body.spec.operations = [{ method: 'GET', path: '/yaml-only' }];
      const res = await rest.request<Json>('PUT', `/rest-apis/${body.metadata.name}`, { raw: toYaml(body), contentType: 'application/yaml' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ spec: { operations: [{ method: 'GET', path: '/yaml-only' }] } });
    });
  });

  describe('conflicts and not found', () => {
    it('answers 409 configuration already exists for the same handle', async () => {
      const body = restApi();
      expect((await rest.post('/rest-apis', body)).status).toBe(201);
      const again = await rest.post<ErrorJson>('/rest-apis', restApi((b) => { b.metadata.name = body.metadata.name as string; }));
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/^configuration already exists: /);
    });
    it('answers 409 configuration already exists for the same displayName and version', async () => {
      const body = restApi();
      expect((await rest.post('/rest-apis', body)).status).toBe(201);
      const again = await rest.post<ErrorJson>('/rest-apis', restApi((b) => { b.spec.displayName = body.spec.displayName as string; }));
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/^configuration already exists: .*displayName/);
    });
    it('answers 409 when two APIs with different main vhosts would both serve a route on the default sandbox vhost', async () => {
      const first = restApi((b) => { b.spec.context = '/shared-sandbox'; b.spec.vhosts = { main: 'shop-a.example.com' }; b.spec.upstream = { main: { url: 'http://a:8080' }, sandbox: { url: 'http://sandbox-a:8080' } }; });
      expect((await rest.post('/rest-apis', first)).status).toBe(201);
      const second = await rest.post<ErrorJson>('/rest-apis', restApi((b) => { b.spec.context = '/shared-sandbox'; b.spec.vhosts = { main: 'shop-b.example.com' }; b.spec.upstream = { main: { url: 'http://b:8080' }, sandbox: { url: 'http://sandbox-b:8080' } }; }));
      expect(second.status).toBe(409);
      expect(second.body.message).toBe(`route GET /shared-sandbox/books on vhost 'sandbox-*' is already served by deployed API '${first.metadata.name as string}'`);
    });
    it('answers 409 when a deployed API claims a route another deployed API serves', async () => {
      const first = restApi((b) => { b.spec.context = '/shared-route'; });
      expect((await rest.post('/rest-apis', first)).status).toBe(201);
      const second = await rest.post<ErrorJson>('/rest-apis', restApi((b) => { b.spec.context = '/shared-route'; b.spec.operations = [{ method: 'GET', path: '/books' }]; }));
      expect(second.status).toBe(409);
      expect(second.body.message).toMatch(/GET \/shared-route\/books .*already served/);
      const undeployed = await rest.post<Json>('/rest-apis', restApi((b) => { b.spec.context = '/shared-route'; b.spec.deploymentState = 'undeployed'; }));
      expect(undeployed.status).toBe(201);
      expect(undeployed.body).toMatchObject({ status: { state: 'undeployed' } });
      expect(undeployed.body.status).not.toHaveProperty('deployedAt');
    });
    it('answers 404 RestAPI with handle ... not found for GET, PUT and DELETE of an unknown id', async () => {
      const message = "RestAPI with handle 'nope' not found";
      expect(await rest.get('/rest-apis/nope')).toMatchObject({ status: 404, body: { status: 'error', message } });
      expect(await rest.put('/rest-apis/nope', restApi((b) => { b.metadata.name = 'nope'; }))).toMatchObject({ status: 404, body: { message } });
      expect(await rest.delete('/rest-apis/nope')).toMatchObject({ status: 404, body: { message } });
    });
    it('finds an API by its platform id as well as its handle', async () => {
      const body = restApi();
      await rest.post('/rest-apis', body);
      const res = await t.graphql<{ apiByHandle: { id: string } }>(`query($h: String!) { apiByHandle(handle: $h) { id } }`, { h: body.metadata.name });
      const rawId = Buffer.from(res.data?.apiByHandle.id ?? '', 'base64').toString().split(':')[1] ?? '';
      expect(await rest.get(`/rest-apis/${rawId}`)).toMatchObject({ status: 200, body: { status: { id: body.metadata.name } } });
    });
  });

  describe('PUT', () => {
    it('never creates: an unknown id is 404 and nothing is made', async () => {
      const body = restApi();
      expect((await rest.put(`/rest-apis/${body.metadata.name}`, body)).status).toBe(404);
      expect((await rest.get(`/rest-apis/${body.metadata.name}`)).status).toBe(404);
    });
    it('answers 400 handle mismatch when the body metadata.name differs from the path', async () => {
      const body = restApi();
      await rest.post('/rest-apis', body);
      const res = await rest.put<ErrorJson>(`/rest-apis/${body.metadata.name}`, restApi());
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^handle mismatch: /);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'metadata.name' })]);
    });
    it('replaces the spec and reports 400 for an invalid one', async () => {
      const body = restApi();
      await rest.post('/rest-apis', body);
      body.spec.version = 'v2';
      body.spec.policies = [];
      const res = await rest.put<Json>(`/rest-apis/${body.metadata.name}`, body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ spec: { version: 'v2' } });
      expect(res.body.spec).not.toHaveProperty('policies');
      body.spec.context = 'bad';
      expect((await rest.put(`/rest-apis/${body.metadata.name}`, body)).status).toBe(400);
    });
    it('deploymentState undeployed takes the API off traffic but keeps its configuration and keys; deployed again redeploys', async () => {
      const body = restApi();
      await rest.post('/rest-apis', body);
      const key = await rest.post<{ apiKey: { name: string } }>(`/rest-apis/${body.metadata.name}/api-keys`, { name: 'kept-key' });
      expect(key.status).toBe(201);
      body.spec.deploymentState = 'undeployed';
      const off = await rest.put<Json>(`/rest-apis/${body.metadata.name}`, body);
      expect(off.status).toBe(200);
      expect(off.body).toMatchObject({ status: { state: 'undeployed' }, spec: { deploymentState: 'undeployed', operations: body.spec.operations } });
      expect(off.body.status).not.toHaveProperty('deployedAt');
      const keys = await rest.get<{ totalCount: number; apiKeys: { name: string }[] }>(`/rest-apis/${body.metadata.name}/api-keys`);
      expect(keys.body.apiKeys.map((k) => k.name)).toEqual(['kept-key']);
      delete body.spec.deploymentState;
      const on = await rest.put<Json>(`/rest-apis/${body.metadata.name}`, body);
      expect(on.body).toMatchObject({ status: { state: 'deployed', deployedAt: expect.any(String) } });
    });
  });

  describe('GET list', () => {
    it('filters by displayName, version, context (as given or substituted) and status', async () => {
      const a = restApi((b) => { b.spec.displayName = 'Filter-A'; b.spec.version = 'v7'; b.spec.context = '/filter-a/$version'; });
      const bApi = restApi((b) => { b.spec.displayName = 'Filter-B'; b.spec.version = 'v8'; b.spec.context = '/filter-b'; b.spec.deploymentState = 'undeployed'; });
      await rest.post('/rest-apis', a);
      await rest.post('/rest-apis', bApi);
      const names = async (query: string) =>
        (await rest.get<{ count: number; apis: { metadata: { name: string } }[] }>(`/rest-apis?${query}`)).body.apis.map((x) => x.metadata.name);
      expect(await names('displayName=Filter-A')).toEqual([a.metadata.name]);
      expect(await names('version=v8')).toEqual([bApi.metadata.name]);
      expect(await names(`context=${encodeURIComponent('/filter-a/v7')}`)).toEqual([a.metadata.name]);
      expect(await names(`context=${encodeURIComponent('/filter-a/$version')}`)).toEqual([a.metadata.name]);
      expect(await names('status=undeployed&displayName=Filter-B')).toEqual([bApi.metadata.name]);
      expect(await names('status=deployed&displayName=Filter-B')).toEqual([]);
      // The reference's spellings, any case.
      expect(await names('status=UNDEPLOYED&displayName=Filter-B')).toEqual([bApi.metadata.name]);
      expect(await names('status=Deployed&displayName=Filter-A')).toEqual([a.metadata.name]);
      const list = await rest.get<{ count: number; apis: { spec: { context: string } }[] }>('/rest-apis?displayName=Filter-A');
      expect(list.body.count).toBe(1);
      expect(list.body.apis[0]?.spec.context).toBe('/filter-a/v7');
    });
    it('answers 400 for a status filter other than deployed or undeployed', async () => {
      const res = await rest.get<ErrorJson>('/rest-apis?status=running');
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'status', message: 'status must be one of deployed, undeployed' }]);
    });
  });

  describe('DELETE', () => {
    it('answers 200 with the v0.9 body and deletes the API with its keys', async () => {
      const body = restApi();
      await rest.post('/rest-apis', body);
      await rest.post(`/rest-apis/${body.metadata.name}/api-keys`, { name: 'doomed-key' });
      const res = await rest.delete(`/rest-apis/${body.metadata.name}`);
      expect(res).toMatchObject({ status: 200, body: { status: 'success', message: 'RestAPI deleted successfully', id: body.metadata.name } });
      expect((await rest.get(`/rest-apis/${body.metadata.name}/api-keys`)).status).toBe(404);
      // Re-created under the same handle, it starts with no keys.
      await rest.post('/rest-apis', body);
      expect((await rest.get(`/rest-apis/${body.metadata.name}/api-keys`)).body).toMatchObject({ totalCount: 0 });
    });
  });
});
