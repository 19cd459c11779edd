import { describe, expect, it } from 'vitest';
import { apiKeyFilter } from '../../../server/policies/api-key.ts';
import type { AttachmentContext } from '../../../server/policies/kind.ts';
import { jwtFilter } from '../../../server/policies/jwt.ts';
import { canonicalPolicyName, httpFilterOrder, policyDefinitions, policyFilters, policyKindOf } from '../../../server/policies/index.ts';
import { setHeadersFilter } from '../../../server/policies/set-headers.ts';
import { subscriptionValidationFilter } from '../../../server/policies/subscription-validation.ts';
import { throttleFilter } from '../../../server/policies/throttle.ts';
import { wasmHttpFilter } from '../../../server/xds/translate/wasm-filter.ts';
import type { IrTables } from '../../../server/xds/ir.ts';
import { emptyTables } from '../../../server/xds/translate/api-tables.ts';
import { validateMessage } from '../../../server/xds/validate.ts';

const ctx: AttachmentContext = {
  api: 'shop',
  apiKeySets: ['shop/api-keys'],
  jwtPlanKeySets: [],
  jwtUrlKeySet: (url) => (url === 'https://idp/jwks' ? 'url/https://idp/jwks' : null),
  jwtClients: null,
  hasAuthorizationServer: () => false,
  oauth2Clients: null,
  oauth2Plans: [],
};
const tables = (): IrTables => emptyTables();

function settingsOf<S>(result: { ok: true; settings: S } | { ok: false }): S {
  if (!result.ok) throw new Error('expected settings');
  return result.settings;
}

describe('policy filter registry', () => {
  it('orders execution conditions, then cors, then authentication, the plan decision, plan and API policies, then the terminal answers', () => {
    expect(httpFilterOrder).toEqual(['condition', 'cors', 'api-key', 'jwt', 'oauth2', 'plan', 'basic-auth', 'subscription-validation', 'throttle', 'set-headers', 'redirect', 'respond']);
  });

  it('maps v0.9 aliases to their module and knows no module for the rest', () => {
    expect(policyKindOf('api-key-auth')).toBe('api-key');
    expect(policyKindOf('basic-ratelimit')).toBe('throttle');
    expect(policyKindOf('jwt-auth')).toBe('jwt');
    expect(policyKindOf('cors')).toBe('cors');
    expect(policyKindOf('host-rewrite')).toBeUndefined();
  });

  it('lists every kind once, and every kind with params in the catalogue under its own name', () => {
    expect(Object.keys(policyFilters).sort()).toEqual([...httpFilterOrder].sort());
    for (const kind of httpFilterOrder) {
      const definition = policyFilters[kind].definition;
      if (definition !== null) expect(policyDefinitions).toContain(definition);
      expect(definition?.name ?? kind).toBe(kind);
    }
    // plan is configured from the API's plans only: it has no params, so no attachment can name it.
    expect(policyFilters.plan.definition).toBeNull();
    expect(canonicalPolicyName('plan')).toBeUndefined();
  });
});

describe('api-key filter', () => {
  it('reads the key over the API key sets, header names lowercased', () => {
    expect(settingsOf(apiKeyFilter.fromParams({ key: 'X-API-Key' }, ctx))).toEqual({ keySets: ['shop/api-keys'], key: 'x-api-key', in: 'header', valuePrefix: '', propagateCredential: false, optional: false, plans: null });
  });

  it('refuses two different api-key policies on one route', () => {
    const a = settingsOf(apiKeyFilter.fromParams({ key: 'a' }, ctx));
    const b = settingsOf(apiKeyFilter.fromParams({ key: 'b' }, ctx));
    expect(apiKeyFilter.merge(a, a)).toEqual(a);
    expect(typeof apiKeyFilter.merge(a, b)).toBe('string');
  });

  it('ships only the key sets its routes use', () => {
    const t = tables();
    t.apiKeySets = { 'shop/api-keys': [], 'other/api-keys': [] };
    const config = apiKeyFilter.pluginConfiguration(new Map([['shop/GET/x', settingsOf(apiKeyFilter.fromParams({ key: 'k' }, ctx))]]), t);
    expect(Object.keys(config.keySets as object)).toEqual(['shop/api-keys']);
  });
});

describe('set-headers filter', () => {
  it('lets operation-level headers replace API-level ones of the same name', () => {
    const api = settingsOf(setHeadersFilter.fromParams({ request: { headers: [{ name: 'X-A', value: '1' }, { name: 'x-b', value: '1' }] } }, ctx));
    const op = settingsOf(setHeadersFilter.fromParams({ request: { headers: [{ name: 'x-b', value: '2' }] } }, ctx));
    expect(setHeadersFilter.merge(api, op)).toEqual({ request: { headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }] }, response: null });
  });
});

describe('throttle filter', () => {
  it('converts durations to windowMs and keeps every limit when both levels apply, API level first', () => {
    // An API-level limit is one bucket per API (the reference's basic-ratelimit), an operation's its own.
    const api = settingsOf(throttleFilter.fromParams({ limits: [{ requests: 100, duration: '1h' }] }, ctx, { source: 'api', name: 'throttle' }));
    const op = settingsOf(throttleFilter.fromParams({ limits: [{ requests: 5, duration: '1m30s' }] }, ctx, { source: 'operation', name: 'throttle' }));
    const merged = throttleFilter.merge(api, op);
    const headers = { xRateLimit: true, ietf: true, retryAfter: true, legacy: true };
    expect(merged).toEqual({
      stages: [
        { limits: [{ requests: 100, windowMs: 3_600_000, scope: 'api', key: null, quota: 'default', keyBy: [] }], reply: null, headers },
        { limits: [{ requests: 5, windowMs: 90_000, scope: 'route', key: null, quota: 'default', keyBy: [] }], reply: null, headers },
      ],
      planQuota: false,
      stopOnQuotaReach: true,
    });
  });

  it('maps advanced-ratelimit quotas to one stage, scoped per API when the key names the API', () => {
    const settings = settingsOf(throttleFilter.fromParams({
      keyExtraction: [{ type: 'apiname' }, { type: 'header', key: 'X-User' }],
      quotas: [{ name: 'users', limits: [{ limit: 10, duration: '1m' }] }, { limits: [{ limit: 3, duration: '1s' }], keyExtraction: [{ type: 'routename' }, { type: 'constant', key: 'k' }] }],
      onRateLimitExceeded: { bodyFormat: 'plain', body: 'no' },
    }, { ...ctx, apiVersion: 'v1' }, { source: 'operation', name: 'advanced-ratelimit' }));
    expect(settings.stages).toEqual([{
      limits: [
        { requests: 10, windowMs: 60_000, scope: 'api', key: null, quota: 'users', keyBy: [{ type: 'header', name: 'x-user' }] },
        { requests: 3, windowMs: 1000, scope: 'route', key: null, quota: 'quota-1', keyBy: [{ type: 'constant', value: 'k' }] },
      ],
      reply: { status: 429, body: 'no', contentType: 'text/plain' },
      headers: { xRateLimit: true, ietf: true, retryAfter: true, legacy: false },
    }]);
  });

  it('refuses a window shorter than a second', () => {
    const result = throttleFilter.fromParams({ limits: [{ requests: 1, duration: '500ms' }] }, ctx);
    expect(result).toEqual({ ok: false, issues: [{ path: 'params.limits[0].duration', message: expect.any(String) }] });
  });
});

describe('subscription-validation filter', () => {
  it('names the API and lowercases the token header', () => {
    expect(settingsOf(subscriptionValidationFilter.fromParams({ header: 'Subscription-Key' }, ctx))).toEqual({ api: 'shop', header: 'subscription-key', cookie: '', enabled: true, propagateCredential: false });
  });
});

describe('jwt filter', () => {
  it('uses the key set resolved from the JWKS URL', () => {
    const s = settingsOf(jwtFilter.fromParams({ jwksUrl: 'https://idp/jwks', issuer: 'https://idp', audiences: ['shop'], requiredScopes: ['read'] }, ctx));
    expect(s).toMatchObject({ keySets: ['url/https://idp/jwks'], issuer: 'https://idp', audience: ['shop'], scopes: ['read'], scopesMode: 'all', header: 'authorization', scheme: 'Bearer' });
  });

  it('fails closed on a JWKS URL with no keys; required claim values are checked for equality, "*" for presence', () => {
    expect(jwtFilter.fromParams({ jwksUrl: 'https://other/jwks' }, ctx).ok).toBe(false);
    const s = settingsOf(jwtFilter.fromParams({ jwksUrl: 'https://idp/jwks', requiredClaims: { sub: '*', role: 'admin' } }, ctx));
    expect({ requiredClaims: s.requiredClaims, claimValues: s.claimValues }).toEqual({ requiredClaims: ['sub'], claimValues: [{ claim: 'role', value: 'admin' }] });
  });

  // v0.9 jwt-auth (the reference's params): key managers named in issuers, claimMappings, authHeaderPrefix, userIdClaim.
  const managers: Record<string, { keySet: string | null; audiences: readonly string[] }> = {
    'mock-jwks': { keySet: 'keymanager/mock-jwks', audiences: [] },
    'corp': { keySet: 'keymanager/corp', audiences: ['corp-api'] },
    'partner': { keySet: 'keymanager/partner', audiences: ['partner-api'] },
    'empty': { keySet: null, audiences: [] },
  };
  const withManagers: AttachmentContext = { ...ctx, keyManager: (name) => managers[name] ?? null };

  it("verifies with the named key managers' key sets and maps the reference's params onto ours", () => {
    const s = settingsOf(jwtFilter.fromParams({ issuers: ['mock-jwks'], claimMappings: { email: 'X-User-Email' }, authHeaderPrefix: 'JWT', userIdClaim: 'email' }, withManagers));
    expect(s).toMatchObject({ keySets: ['keymanager/mock-jwks'], scheme: 'JWT', userClaim: 'email', claimsToHeaders: [{ claim: 'email', header: 'x-user-email' }], audience: null });
  });

  it("takes the key managers' default audiences when the policy lists none, and refuses a mix with and without", () => {
    expect(settingsOf(jwtFilter.fromParams({ issuers: ['corp', 'partner'] }, withManagers)).audience).toEqual(['corp-api', 'partner-api']);
    expect(settingsOf(jwtFilter.fromParams({ issuers: ['corp'], audiences: ['mine'] }, withManagers)).audience).toEqual(['mine']);
    expect(jwtFilter.fromParams({ issuers: ['corp', 'mock-jwks'] }, withManagers)).toEqual({ ok: false, issues: [{ path: 'params.audiences', message: expect.any(String) }] });
  });

  it('names the unknown key manager or the one without keys, and requires jwksUrl or issuers', () => {
    expect(jwtFilter.fromParams({ issuers: ['mock-jwks', 'nope', 'empty'] }, withManagers)).toEqual({
      ok: false,
      issues: [{ path: 'params.issuers[1]', message: "no key manager named 'nope'" }, { path: 'params.issuers[2]', message: "key manager 'empty' has no usable key" }],
    });
    expect(jwtFilter.fromParams({ audiences: ['a'] }, withManagers)).toEqual({ ok: false, issues: [{ path: 'params.jwksUrl', message: 'required unless issuers names a key manager' }] });
  });
});

describe('wasmHttpFilter', () => {
  it('builds an envoy.filters.http.wasm filter that passes the strict proto check', () => {
    const filter = wasmHttpFilter({ name: 'throttle', sha256: 'a'.repeat(64), controlPlaneUrl: 'http://cp:9090', controlPlaneCluster: 'apip/control-plane' }, { routes: {} });
    expect(validateMessage('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', filter)).toEqual([]);
    expect(filter).toMatchObject({ typedConfig: { config: { vmConfig: { vmId: 'apip/throttle', runtime: 'envoy.wasm.runtime.v8', code: { remote: { httpUri: { uri: 'http://cp:9090/policies/throttle.wasm' } } } } } } });
  });
});
