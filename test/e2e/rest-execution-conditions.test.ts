import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { expectServedConfigValid, replyOf, sendThrough, waitServed } from '../helpers/plans-traffic.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { freshRestApi } from '../helpers/rest-seed.ts';
import { type Recorder, startRecorder } from '../helpers/traffic.ts';

interface ErrorJson {
  message: string;
  errors?: { field: string; message: string }[];
}

const setHeader = (name: string, value: string, executionCondition: string) => ({
  name: 'set-headers', version: 'v1', executionCondition, params: { request: { headers: [{ name, value }] } },
});

// The reference's gateway/it/features/cel-conditions.feature over REST v0.9, through the embedded gateway and the
// compiled modules (docs/execution-conditions.md): a policy with an executionCondition runs only when it holds.
describe.each(shapeDrivers)('REST v0.9: execution conditions (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let upstream: Recorder;
  let gw: number;
  const ctx = '/cel/v1.0';

  beforeAll(async () => {
    upstream = await startRecorder('cel-upstream');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
    const method = 'request.Method == "POST"';
    const writes = 'request.Method in ["POST", "PUT", "DELETE"]';
    const combined = 'request.Method == "POST" && "x-auth-token" in request.Headers';
    const admin = 'request.Path.startsWith("/cel/v1.0/admin")';
    const body = freshRestApi('cel', (b) => {
      b.spec.upstream = { main: { url: upstream.url } };
      delete b.spec.policies;
      b.spec.operations = [
        { method: 'GET', path: '/health' },
        { method: 'GET', path: '/resource', policies: [setHeader('X-Cel-Executed', 'true', method)] },
        { method: 'POST', path: '/resource', policies: [setHeader('X-Cel-Executed', 'true', method)] },
        { method: 'GET', path: '/data', policies: [setHeader('X-Write-Operation', 'true', writes)] },
        { method: 'POST', path: '/data', policies: [setHeader('X-Write-Operation', 'true', writes)] },
        { method: 'PUT', path: '/data', policies: [setHeader('X-Write-Operation', 'true', writes)] },
        { method: 'GET', path: '/check', policies: [setHeader('X-Token-Validated', 'true', '"x-special-token" in request.Headers')] },
        {
          method: 'GET', path: '/premium',
          policies: [setHeader('X-Premium-Access', 'granted', '"x-tier" in request.Headers && request.Headers["x-tier"][0] == "premium"')],
        },
        { method: 'GET', path: '/public/info', policies: [setHeader('X-Admin-Request', 'true', admin)] },
        { method: 'GET', path: '/admin/settings', policies: [setHeader('X-Admin-Request', 'true', admin)] },
        { method: 'GET', path: '/secure', policies: [setHeader('X-Secure-Write', 'authorized', combined)] },
        { method: 'POST', path: '/secure', policies: [setHeader('X-Secure-Write', 'authorized', combined)] },
        { method: 'GET', path: '/query', policies: [setHeader('X-Debug', 'on', 'request.Query["debug"][0].matches("^(1|true|yes)$")')] },
        // An error as the final result: the header is missing, so the condition cannot be decided.
        { method: 'GET', path: '/undecided', policies: [setHeader('X-Undecided', 'ran', 'request.Headers["x-missing"][0] == "a"')] },
        {
          method: 'GET', path: '/keyed',
          policies: [{ name: 'api-key-auth', version: 'v1', executionCondition: 'request.Method == "POST"', params: { key: 'x-api-key', in: 'header' } }],
        },
        {
          method: 'POST', path: '/keyed',
          policies: [{ name: 'api-key-auth', version: 'v1', executionCondition: 'request.Method == "POST"', params: { key: 'x-api-key', in: 'header' } }],
        },
      ];
    });
    const created = await rest.post('/rest-apis', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await waitServed(t, gw, `${ctx}/health`, 200);
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  async function upstreamHeaders(path: string, options: { method?: string; headers?: Record<string, string> } = {}) {
    const { answer, seen } = await sendThrough(gw, upstream, path, options);
    expect(answer.status, answer.text).toBe(200);
    expect(seen).toHaveLength(1);
    return seen[0]!.headers;
  }

  it('runs a policy conditioned on the method only for that method', async () => {
    expect((await upstreamHeaders(`${ctx}/resource`))['x-cel-executed']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/resource`, { method: 'POST' }))['x-cel-executed']).toBe('true');
  });

  it('runs a policy conditioned on `method in [...]` for the listed methods only', async () => {
    expect((await upstreamHeaders(`${ctx}/data`))['x-write-operation']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/data`, { method: 'POST' }))['x-write-operation']).toBe('true');
    expect((await upstreamHeaders(`${ctx}/data`, { method: 'PUT' }))['x-write-operation']).toBe('true');
  });

  it('runs a policy conditioned on a header being present only when it is', async () => {
    expect((await upstreamHeaders(`${ctx}/check`))['x-token-validated']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/check`, { headers: { 'X-Special-Token': 'my-secret-token' } }))['x-token-validated']).toBe('true');
  });

  it('runs a policy conditioned on a header value only for that value', async () => {
    expect((await upstreamHeaders(`${ctx}/premium`))['x-premium-access']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/premium`, { headers: { 'X-Tier': 'basic' } }))['x-premium-access']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/premium`, { headers: { 'X-Tier': 'premium' } }))['x-premium-access']).toBe('granted');
  });

  it('runs a policy conditioned on a path prefix only under that prefix', async () => {
    expect((await upstreamHeaders(`${ctx}/public/info`))['x-admin-request']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/admin/settings`))['x-admin-request']).toBe('true');
  });

  it('runs a policy with a combined condition only when both parts hold', async () => {
    expect((await upstreamHeaders(`${ctx}/secure`))['x-secure-write']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/secure`, { method: 'POST' }))['x-secure-write']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/secure`, { method: 'POST', headers: { 'X-Auth-Token': 'valid-token' } }))['x-secure-write']).toBe('authorized');
  });

  it('reads percent-decoded query parameters and matches them with RE2', async () => {
    expect((await upstreamHeaders(`${ctx}/query?debug=no`))['x-debug']).toBeUndefined();
    expect((await upstreamHeaders(`${ctx}/query?debug=%74rue`))['x-debug']).toBe('on');
  });

  it('denies a request whose condition cannot be decided (an error result), and runs the policy once it can', async () => {
    const { answer, seen } = await sendThrough(gw, upstream, `${ctx}/undecided`);
    expect(replyOf(answer)).toEqual({ status: 500, body: { status: 'error', message: 'The execution condition of a policy on this route could not be evaluated.' } });
    expect(seen).toHaveLength(0);
    expect((await upstreamHeaders(`${ctx}/undecided`, { headers: { 'x-missing': 'a' } }))['x-undecided']).toBe('ran');
  });

  it('skips an authentication policy whose condition is false: a GET passes without a key, a POST needs one', async () => {
    await upstreamHeaders(`${ctx}/keyed`);
    const { answer, seen } = await sendThrough(gw, upstream, `${ctx}/keyed`, { method: 'POST' });
    expect(answer.status).toBe(401);
    expect(seen).toHaveLength(0);
  });

  it('never passes the verdicts to the upstream, nor lets a client forge them', async () => {
    const headers = await upstreamHeaders(`${ctx}/resource`, { headers: { 'x-apip-conditions': '1' } });
    expect(headers['x-cel-executed']).toBeUndefined();
    expect(headers['x-apip-conditions']).toBeUndefined();
  });

  it('serves a configuration that passes the strict Envoy check', async () => {
    await expectServedConfigValid(t, ['cel'], ['envoy.filters.http.wasm/condition', 'x-apip-conditions']);
  });

  describe('refused at write time', () => {
    async function rejects(spec: (s: Record<string, unknown>) => void, field: string, message: RegExp): Promise<void> {
      const res = await rest.post<ErrorJson>('/rest-apis', freshRestApi(`bad-cel-${Math.random().toString(36).slice(2, 8)}`, (b) => spec(b.spec)));
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.errors).toEqual(expect.arrayContaining([{ field, message: expect.stringMatching(message) }]));
    }

    it('answers 400 naming executionCondition and the offset for a syntax or type error', async () => {
      await rejects((s) => { s.policies = [setHeader('x-a', 'b', 'request.Method == ')]; }, 'spec.policies[0].executionCondition', /at offset 18/);
      await rejects(
        (s) => { s.policies = []; s.operations = [{ method: 'GET', path: '/a', policies: [setHeader('x-a', 'b', 'request.Method == 1')] }]; },
        'spec.operations[0].policies[0].executionCondition',
        /at offset \d+/,
      );
      await rejects((s) => { s.policies = [setHeader('x-a', 'b', 'request.Body == "x"')]; }, 'spec.policies[0].executionCondition', /Body.*at offset 8/);
    });

    it('answers 400 for an RE2 pattern outside the supported subset', async () => {
      await rejects((s) => { s.policies = [setHeader('x-a', 'b', 'request.Path.matches("(a)\\\\1")')]; }, 'spec.policies[0].executionCondition', /offset/);
    });

    it('answers 400 for a conditional policy that another attachment of its kind shares a route with', async () => {
      await rejects(
        (s) => { s.operations = [{ method: 'GET', path: '/a', policies: [setHeader('x-a', 'b', 'request.Method == "GET"')] }]; },
        'spec.operations[0].policies[0].executionCondition',
        /spec\.policies\[0\]/,
      );
    });

    it('refuses a bad condition over GraphQL as a ValidationError with the offset', async () => {
      const res = await t.graphql<{ createApi: { __typename: string; issues?: { path: string; message: string }[] } }>(
        'mutation($input: CreateApiInput!) { createApi(input: $input) { __typename ... on ValidationError { issues { path message } } } }',
        {
          input: {
            metadata: { name: 'gql-cel' },
            spec: {
              displayName: 'gql-cel', version: 'v1', context: '/gql-cel/$version', upstream: { main: { url: upstream.url } },
              policies: [setHeader('x-a', 'b', 'request.Method = "GET"')],
              operations: [{ method: 'GET', path: '/a' }],
            },
          },
        },
      );
      const result = res.data!;
      expect(result.createApi.__typename).toBe('ValidationError');
      expect(result.createApi.issues).toEqual(expect.arrayContaining([{ path: 'spec.policies[0].executionCondition', message: expect.stringMatching(/at offset 15/) }]));
    });
  });
});
