import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { routeClaims, routeTemplate } from '../../../server/domain/route-claims.ts';
import { buildIr } from '../../../server/xds/translate/build-ir.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

const modules = Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((n) => [n, { sha256: 'f'.repeat(64) }]));
const options = { controlPlaneUrl: 'http://cp:9090/', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) };

function model(extra: Record<string, unknown> = {}) {
  return modelFromYaml({
    apis: [
      {
        id: 'api_1',
        handle: 'shop',
        version: 'v1',
        context: '/shop/$version',
        upstream: { main: { url: 'http://shop.internal/base' }, sandbox: { url: 'http://sandbox.internal/base' } },
        policies: [{ name: 'set-headers', params: { request: { headers: [{ name: 'x-a', value: '1' }] } } }],
        operations: [{ method: 'GET', path: '/items/{id}', policies: [{ name: 'throttle', params: { limits: [{ requests: 5, duration: '1s' }] } }] }],
      },
    ],
    plans: [{ id: 'pln_1', apiId: 'api_1', security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'key', propagateKey: true } } }],
    ...extra,
  });
}

describe('buildIr', () => {
  it('resolves each route chain: plan authentication, then API-level, then operation-level policies', () => {
    const { ir, problems } = buildIr(model(), options);
    expect(problems).toEqual([]);
    const route = ir.routes.find((r) => r.domain === '*')!;
    expect(route.name).toBe('shop/GET/items/{id}');
    expect(route.policies.map((p) => `${p.source}:${p.kind}`)).toEqual(['plan:api-key', 'plan:plan', 'api:set-headers', 'operation:throttle']);
    expect(route.policies[0]!.settings).toEqual({ keySets: ['shop/subscriptions'], key: 'key', in: 'query', valuePrefix: '', propagateCredential: true, optional: false, plans: ['pln_1'] });
    expect(route.settings.plan).toEqual({ plans: ['pln_1'], challenges: ['ApiKey query="key"'] });
    expect(route.match).toEqual({ kind: 'template', regex: '^/shop/v1/items/[^/]+$' });
    expect(route.rewrite).toEqual({ kind: 'regex', pattern: '^/shop/v1', substitution: '/base' });
    expect(route.plans).toEqual(['pln_1']);
  });

  it('gives the sandbox route the same name and chain on the sandbox-* virtual host', () => {
    const { ir } = buildIr(model(), options);
    const [main, sandbox] = ['*', 'sandbox-*'].map((d) => ir.routes.find((r) => r.domain === d)!);
    expect(sandbox!.name).toBe(main!.name);
    expect(sandbox!.policies).toEqual(main!.policies);
    expect(sandbox!.destination).toEqual({ kind: 'cluster', cluster: 'api/shop/sandbox' });
  });

  it('is YAML-serialisable and deterministic', () => {
    const first = buildIr(model(), options).ir;
    expect(parse(stringify(first))).toEqual(first);
    expect(buildIr(model(), options).ir).toEqual(first);
  });

  it('leaves out an API whose policy has an execution condition outside the CEL subset, and says why', () => {
    const m = model();
    m.apis[0]!.policies[0]!.executionCondition = 'request.path == "/x"';
    const { ir, problems } = buildIr(m, { ...options, modules: { ...modules, condition: modules['set-headers']! } });
    expect(ir.routes).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ severity: 'error', api: 'shop', path: 'spec.policies[0].executionCondition' })]);
  });

  it('gives a route with a conditional policy a condition entry naming the gated kind, the condition module first', () => {
    const m = model();
    m.apis[0]!.policies[0]!.executionCondition = 'request.Method == "POST"';
    const { ir, problems } = buildIr(m, { ...options, modules: { ...modules, condition: modules['set-headers']! } });
    expect(problems).toEqual([]);
    const route = ir.routes.find((r) => r.domain === '*')!;
    expect(route.settings.condition).toEqual({ conditions: [{ kind: 'set-headers', condition: ['==', ['method'], ['s', 'POST']] }] });
    expect(Object.keys(route.settings)[0]).toBe('condition');
  });

  it('leaves out an API with a conditional policy only when the control plane does not serve the condition module', () => {
    const m = model({ plans: [{ id: 'pln_1', apiId: 'api_1', security: { type: 'KEYLESS' }, policies: [] }] });
    m.apis[0]!.operations[0]!.policies[0]!.executionCondition = 'request.Method == "POST"';
    const plain = buildIr(m, { ...options, modules: { ...modules, condition: modules['set-headers']! } });
    expect(plain.problems).toEqual([]);
    const noModule = buildIr(m, options);
    expect(noModule.problems).toEqual([expect.objectContaining({ path: 'spec.operations[0].policies[0].executionCondition', message: expect.stringContaining("module 'condition'") })]);
  });

  it('leaves out an API whose policy module the control plane does not serve', () => {
    const { ir, problems } = buildIr(model(), { ...options, modules: { 'api-key': modules['api-key']!, 'set-headers': modules['set-headers']! } });
    expect(ir.routes).toEqual([]);
    expect(problems.map((p) => p.path)).toContain('spec.operations[0].policies[0].name');
  });

  it('reports a JWT plan without usable keys instead of serving it open', () => {
    const m = model({ plans: [{ id: 'pln_j', apiId: 'api_1', security: { type: 'JWT', jwt: { signatureAlgorithms: ['RS256'], keyResolver: 'JWKS_URL', jwksUrl: 'https://idp/jwks', givenKey: null, clientIdClaim: null, userClaim: 'sub', requiredScopes: [], strictScopes: false, extractClaims: [], propagateAuthHeader: false, leewaySeconds: 0 } } }] });
    const { ir, problems } = buildIr(m, options);
    expect(ir.routes).toEqual([]);
    expect(problems[0]).toMatchObject({ severity: 'error', path: 'plans[pln_j].security.jwt' });
  });

  it('turns a plan throttle policy into a quota every route of the API checks', () => {
    const m = model();
    m.plans[0]!.policies = [{ name: 'throttle', version: 'v1', executionCondition: null, params: { limits: [{ requests: 100, duration: '1h' }] } }];
    const { ir } = buildIr(m, options);
    expect(ir.tables.quotaPlans).toEqual({ pln_1: { limits: [{ requests: 100, windowMs: 3_600_000 }], stopOnQuotaReach: true } });
    expect(ir.routes[0]!.policies.at(-1)).toEqual({ kind: 'throttle', source: 'plan', settings: { stages: [], planQuota: true, stopOnQuotaReach: true } });
  });

  it('builds exactly the routes the domain’s claim rule says an API claims, and leaves out a later API on the same sandbox-* route', () => {
    const api = (handle: string, main: string) => ({
      id: `api_${handle}`, handle, version: 'v1', context: '/shop/$version', vhosts: { main },
      upstream: { main: { url: 'http://shop.internal/base' }, sandbox: { url: 'http://sandbox.internal/base' } },
      operations: [{ method: 'GET', path: '/items/{id}' }, { method: 'POST', path: '/items' }],
    });
    const { ir, problems } = buildIr(modelFromYaml({ apis: [api('shop-a', 'a.example.com'), api('shop-b', 'b.example.com')] }), options);
    const claims = routeClaims({ context: '/shop/$version', version: 'v1', vhostMain: 'a.example.com', vhostSandbox: null, hasSandbox: true, operations: api('shop-a', '').operations });
    const built = ir.routes.map((r) => `${r.domain} ${r.method} ${routeTemplate(`/shop/v1${r.template}`)}`).sort();
    expect(built).toEqual(claims.map((c) => c.key).sort());
    expect(problems.map((p) => `${p.api}: ${p.message}`)).toEqual([
      "shop-b: route GET /items/{id} on 'sandbox-*' is already served by 'shop-a'",
      "shop-b: route POST /items on 'sandbox-*' is already served by 'shop-a'",
    ]);
  });
});
