import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployedAuthorizationServer, DeployedOAuth2Security } from '../../../server/domain/deployment-model.ts';
import { createFetchHttpCaller } from '../../../server/gateway/proxy-wasm/fetch-http-call.ts';
import type { IrTables } from '../../../server/xds/ir.ts';
import { authorizationServerClusters, oauth2ServersTable } from '../../../server/xds/translate/tables/oauth2.ts';
import {
  authorizationServerClusterName,
  oauth2Filter,
  oauth2PlanConfig,
  oauth2SettingsFromPlan,
  type OAuth2RouteSettings,
} from '../../../server/policies/oauth2.ts';
import { loadPolicy, requestHeaders } from '../../helpers/policies.ts';

const SERVER_A = 'asv_01jbk6q2r5x8y9z0a1b2c3d4e5';
const SERVER_B = 'asv_01jbk6q2r5x8y9z0a1b2c3d4e6';

function server(id: string, url: string, extra: Partial<DeployedAuthorizationServer> = {}): DeployedAuthorizationServer {
  return { id, name: id, introspectionUrl: url, clientId: 'gw', clientSecret: 's3cret', tokenTypeHint: null, timeoutMs: 2000, maxCacheSeconds: 300, ...extra };
}

function oauth2(extra: Partial<DeployedOAuth2Security> = {}): DeployedOAuth2Security {
  return { authorizationServerId: SERVER_A, requiredScopes: [], strictScopes: false, clientIdClaim: null, extractClaims: [], propagateAuthHeader: false, ...extra };
}

// The oauth2 module reads only its own tables.
const emptyTables = { apiKeySets: {}, jwtKeySets: {}, jwtClients: {}, quotaPlans: {}, subscriptionPlans: {}, subscriptionApis: {} } as unknown as IrTables;

describe('oauth2 filter: authorization servers', () => {
  it('describes one cluster per server from its introspection URL, TLS for https', () => {
    const { clusters, problems } = authorizationServerClusters([
      server(SERVER_B, 'http://127.0.0.1:8181/introspect', { timeoutMs: 300 }),
      server(SERVER_A, 'https://auth.example.com/oauth2/introspect'),
      server('plan:pln_1', 'ftp://nope/'),
    ]);
    expect(clusters).toEqual([
      {
        name: `apip/oauth2/${SERVER_A}`,
        endpoint: { host: 'auth.example.com', port: 443, isIp: false, hostHeader: 'auth.example.com' },
        tls: true,
        connectTimeoutMs: 2000,
      },
      {
        name: `apip/oauth2/${SERVER_B}`,
        endpoint: { host: '127.0.0.1', port: 8181, isIp: true, hostHeader: '127.0.0.1:8181' },
        tls: false,
        connectTimeoutMs: 300,
      },
    ]);
    expect(problems.map((p) => p.path)).toEqual(['authorizationServers[plan:pln_1].introspectionUrl']);
  });

  it('builds the module servers table with authority, path and query, secret and limits', () => {
    expect(oauth2ServersTable([server(SERVER_A, 'https://auth.example.com:8443/oauth2/introspect?realm=x', { tokenTypeHint: 'access_token', maxCacheSeconds: 0 })])).toEqual({
      [SERVER_A]: {
        cluster: authorizationServerClusterName(SERVER_A),
        authority: 'auth.example.com:8443',
        path: '/oauth2/introspect?realm=x',
        clientId: 'gw',
        clientSecret: 's3cret',
        tokenTypeHint: 'access_token',
        timeoutMs: 2000,
        maxCacheSeconds: 0,
      },
    });
  });
});

describe('oauth2 filter: plans and clients', () => {
  it('takes the first plan\u2019s options and lists every OAuth2 plan and its server in order', () => {
    const { settings, issues } = oauth2SettingsFromPlan(
      [
        { id: 'pln_gold', name: 'Gold', security: { oauth2: oauth2({ propagateAuthHeader: true, clientIdClaim: 'cid', extractClaims: [{ claim: 'email', header: 'X-Email' }] }) } },
        { id: 'pln_key', name: 'Key', security: { oauth2: null } },
        { id: 'pln_silver', name: 'Silver', security: { oauth2: oauth2() } },
      ],
      'books',
      true,
    );
    expect(issues).toEqual([]);
    expect(settings).toEqual({
      servers: [SERVER_A],
      plans: ['pln_gold', 'pln_silver'],
      clients: 'books',
      optional: true,
      header: 'authorization',
      propagateToken: true,
      clientIdClaim: 'cid',
      scopes: null,
      scopesMode: 'any',
      claimsToHeaders: [{ claim: 'email', header: 'x-email' }],
    });
  });

  it('lists every authorization server of the OAuth2 plans, in plan order, once each', () => {
    const { settings, issues } = oauth2SettingsFromPlan(
      [
        { id: 'pln_a', name: 'A', security: { oauth2: oauth2() } },
        { id: 'pln_b', name: 'B', security: { oauth2: oauth2({ authorizationServerId: SERVER_B }) } },
        { id: 'pln_c', name: 'C', security: { oauth2: oauth2() } },
      ],
      null,
      false,
    );
    expect(issues).toEqual([]);
    expect(settings.servers).toEqual([SERVER_A, SERVER_B]);
    expect(settings.plans).toEqual(['pln_a', 'pln_b', 'pln_c']);
  });

  it('gives each plan its authorization server, selection rule and scopes', () => {
    expect(oauth2PlanConfig({ selectionRule: 'claims.tier == "gold"', security: { oauth2: oauth2({ requiredScopes: ['a', 'b'], strictScopes: true }) } })).toEqual({
      server: SERVER_A,
      rule: 'claims.tier == "gold"',
      scopes: ['a', 'b'],
      scopesMode: 'all',
    });
    expect(oauth2PlanConfig({ selectionRule: null, security: { oauth2: oauth2() } })).toEqual({ server: SERVER_A, rule: null, scopes: null, scopesMode: 'any' });
  });
});

describe('oauth2 filter: attachments', () => {
  const ctx = {
    api: 'books',
    apiKeySets: [],
    jwtPlanKeySets: [],
    jwtUrlKeySet: () => null,
    jwtClients: null,
    hasAuthorizationServer: (id: string) => id === SERVER_A,
    oauth2Clients: 'books',
    oauth2Plans: ['pln_gold'],
  };

  it('turns params into route settings', () => {
    expect(oauth2Filter.fromParams({ authorizationServerId: SERVER_A, requiredScopes: ['r'], strictScopes: true, claimsToHeaders: [{ claim: 'sub', header: 'X-Sub' }], propagateCredential: true }, ctx)).toEqual({
      ok: true,
      settings: {
        servers: [SERVER_A],
        plans: ['pln_gold'],
        clients: 'books',
        optional: false,
        header: 'authorization',
        propagateToken: true,
        clientIdClaim: null,
        scopes: ['r'],
        scopesMode: 'all',
        claimsToHeaders: [{ claim: 'sub', header: 'x-sub' }],
      },
    });
  });

  it('reports badly typed params (checked by the params schema) and an unknown server', () => {
    const result = oauth2Filter.fromParams({ authorizationServerId: SERVER_B, requiredScopes: 'r', strictScopes: 'yes', claimsToHeaders: [{ claim: 1 }] }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toEqual(['params.requiredScopes', 'params.strictScopes', 'params.claimsToHeaders[0].claim', 'params.claimsToHeaders[0].header']);
    const unknown = oauth2Filter.fromParams({ authorizationServerId: SERVER_B }, ctx);
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.issues.map((i) => i.path)).toEqual(['params.authorizationServerId']);
    const missing = oauth2Filter.fromParams({}, ctx);
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.issues.map((i) => i.path)).toEqual(['params.authorizationServerId']);
  });

  it('merges only identical settings', () => {
    const a = oauth2SettingsFromPlan([{ id: 'p', name: 'P', security: { oauth2: oauth2() } }], null, false).settings;
    expect(oauth2Filter.merge(a, { ...a })).toBe(a);
    expect(oauth2Filter.merge(a, { ...a, optional: true })).toBe('two different oauth2 policies apply to this route');
  });
});

describe('oauth2 filter: plugin configuration', () => {
  let introspection: Server;
  let url = '';

  beforeAll(async () => {
    introspection = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: true, client_id: 'c1', scope: 'books:read', tier: 'gold' }));
    });
    await new Promise<void>((resolve) => introspection.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`;
  });

  afterAll(async () => {
    introspection.closeAllConnections();
    await new Promise<void>((resolve) => introspection.close(() => resolve()));
  });

  function configuration() {
    const plans = [
      { id: 'pln_gold', name: 'Gold', selectionRule: 'claims.tier == "gold"', security: { oauth2: oauth2({ requiredScopes: ['books:read'] }) } },
      { id: 'pln_silver', name: 'Silver', selectionRule: null, security: { oauth2: oauth2() } },
    ];
    const tables: IrTables = {
      ...emptyTables,
      oauth2Servers: oauth2ServersTable([server(SERVER_A, url), server(SERVER_B, 'https://unused.example/introspect')]),
      oauth2Clients: { books: { c1: [{ applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'pln_gold', active: true }] } },
      oauth2Plans: { pln_gold: oauth2PlanConfig(plans[0]!), pln_silver: oauth2PlanConfig(plans[1]!), pln_unused: { rule: null, scopes: null, scopesMode: 'any' } },
    };
    const routes = new Map<string, OAuth2RouteSettings>([['books/GET/books', oauth2SettingsFromPlan(plans, 'books', false).settings]]);
    return oauth2Filter.pluginConfiguration(routes, tables);
  }

  it('includes only the tables the routes use', () => {
    const config = configuration();
    expect(Object.keys(config.servers as object)).toEqual([SERVER_A]);
    expect(Object.keys(config.plans as object)).toEqual(['pln_gold', 'pln_silver']);
    expect(config.routes).toEqual({
      'books/GET/books': { servers: [SERVER_A], plans: ['pln_gold', 'pln_silver'], clients: 'books', optional: false, header: 'authorization', propagateToken: false, claimsToHeaders: null },
    });
  });

  it('is accepted by the compiled oauth2 module, which then admits a request through the introspection server', async () => {
    const config = configuration();
    const base = url.replace(/\/introspect$/, '');
    const httpCall = createFetchHttpCaller((cluster) => (cluster === authorizationServerClusterName(SERVER_A) ? base : undefined));
    const plugin = await loadPolicy('oauth2', { stripIdentityHeaders: true, ...config }, { httpCall });
    const stream = plugin.createHttpContext({ routeName: 'books/GET/books' });
    const headers = requestHeaders({ headers: [['authorization', 'Bearer abc']] });
    const first = stream.onRequestHeaders(headers, true);
    expect(first.action).toBe('pause');
    const final = first.action === 'pause' ? await first.resume : first;
    stream.onDone();
    expect(final).toEqual({ action: 'continue' });
    expect(headers.get('x-apip-plan')).toBe('pln_gold');
    expect(headers.get('x-apip-subscription-id')).toBe('sub-1');
  });
});
