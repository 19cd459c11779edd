import { keyDigest } from '../../../server/domain/secrets.ts';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { hashBasicAuthPassword } from '../../../server/policies/basic-auth.ts';
import type { DeploymentModel } from '../../../server/domain/deployment-model.ts';
import type { HeaderMap } from '../../../server/gateway/proxy-wasm/header-map.ts';
import type { Plugin } from '../../../server/gateway/proxy-wasm/plugin.ts';
import type { LocalReply } from '../../../server/gateway/proxy-wasm/types.ts';
import type { IrRoute } from '../../../server/xds/ir.ts';
import { buildIr } from '../../../server/xds/translate/build-ir.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';
import { jsonOf, loadPolicy, requestHeaders } from '../../helpers/policies.ts';

// Plan selection on the translator side (docs/plan-selection.md): what every route and module table says for the
// usual plan mixes, and, for each, the whole snapshot through the strict Envoy check and the real modules.

const moduleNames = ['api-key', 'jwt', 'oauth2', 'plan', 'basic-auth', 'subscription-validation', 'throttle', 'set-headers'];
const modules = Object.fromEntries(moduleNames.map((n) => [n, { sha256: 'f'.repeat(64) }]));
const options = { controlPlaneUrl: 'http://cp:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) };
const sha = (value: string) => keyDigest(Buffer.from(options.keyDigestSecret, 'hex'), value);

const jwtOptions = (scopes: string[] = []) => ({
  signatureAlgorithms: ['HS256'],
  keyResolver: 'GIVEN_KEY',
  jwksUrl: null,
  givenKey: 'k',
  clientIdClaim: null,
  userClaim: 'sub',
  requiredScopes: scopes,
  strictScopes: false,
  extractClaims: [],
  propagateAuthHeader: false,
  leewaySeconds: 0,
});
const hmacKey = { kty: 'oct', kid: 'hs', k: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64url') };
const apiKeyPlan = (id: string, position: number, extra: Record<string, unknown> = {}) => ({
  id,
  apiId: 'api_shop',
  name: id,
  position,
  security: { type: 'API_KEY', apiKey: { keyLocation: 'HEADER', keyName: 'x-api-key', propagateKey: false } },
  ...extra,
});
const keylessPlan = (id: string, position: number, extra: Record<string, unknown> = {}) => ({ id, apiId: 'api_shop', name: id, position, security: { type: 'KEYLESS' }, ...extra });
const jwtPlan = (id: string, position: number, extra: Record<string, unknown> = {}, scopes: string[] = []) => ({
  id,
  apiId: 'api_shop',
  name: id,
  position,
  security: { type: 'JWT', jwt: jwtOptions(scopes) },
  ...extra,
});

function shop(plans: unknown[], extra: Record<string, unknown> = {}, api: Record<string, unknown> = {}): DeploymentModel {
  return modelFromYaml({
    apis: [
      {
        id: 'api_shop',
        handle: 'shop',
        context: '/shop',
        upstream: { main: { url: 'http://shop.internal' } },
        operations: [
          { method: 'GET', path: '/items' },
          { method: 'POST', path: '/items' },
        ],
        ...api,
      },
    ],
    plans,
    ...extra,
  });
}

function irOf(model: DeploymentModel) {
  const { ir, problems } = buildIr(model, options);
  const route = (name = 'shop/GET/items'): IrRoute => ir.routes.find((r) => r.name === name)!;
  return { ir, problems, route };
}

/** Every module's plugin configuration of the listener, by module name. */
function configurations(model: DeploymentModel): Record<string, string> {
  const { resources } = translate(model, options);
  const hcm = (resources.listener[0] as { filterChains: { filters: { typedConfig: { httpFilters: { typedConfig: { config?: { name: string; configuration: { value: string } } } }[] } }[] }[] })
    .filterChains[0]!.filters[0]!.typedConfig;
  return Object.fromEntries(hcm.httpFilters.flatMap((f) => (f.typedConfig.config ? [[f.typedConfig.config.name, f.typedConfig.config.configuration.value]] : [])));
}

/** The snapshot passes the strict check and every module accepts its configuration; returns the loaded chain. */
async function servedChain(model: DeploymentModel): Promise<{ name: string; plugin: Plugin }[]> {
  const { resources } = translate(model, options);
  expect(validateResources(resources)).toEqual([]);
  const chain: { name: string; plugin: Plugin }[] = [];
  for (const [name, configuration] of Object.entries(configurations(model))) {
    const plugin = await loadPolicy(name, configuration);
    expect(plugin.isConfigured, `${name} refused its configuration`).toBe(true);
    chain.push({ name, plugin });
  }
  return chain;
}

/** One request through the modules in listener order, as Envoy runs them: the first local reply ends it. */
function send(chain: { plugin: Plugin }[], route: string, headers: [string, string][] = []): { reply: LocalReply | null; headers: HeaderMap } {
  const map = requestHeaders({ headers });
  for (const { plugin } of chain) {
    const stream = plugin.createHttpContext({ routeName: route, sourceAddress: '127.0.0.1:50000' });
    const outcome = stream.onRequestHeaders(map, true);
    stream.onDone();
    if (outcome.action === 'localReply') return { reply: outcome, headers: map };
    if (outcome.action !== 'continue') throw new Error(`unexpected ${outcome.action}`);
  }
  return { reply: null, headers: map };
}

const subscriptionKey = (id: string, subscriptionId: string, planId: string, live = true) => ({
  id,
  sha256: sha(id),
  owner: 'subscription',
  applicationId: 'app_1',
  grants: [{ apiId: 'api_shop', subscriptionId, planId, live }],
});

describe('plan selection (translator)', () => {
  it('gives a keyless-only API a plan entry and no authentication module', async () => {
    const model = shop([keylessPlan('pln_free', 0)]);
    const { problems, route } = irOf(model);
    expect(problems).toEqual([]);
    expect(route().settings).toEqual({ plan: { plans: ['pln_free'], challenges: [] } });
    const chain = await servedChain(model);
    expect(chain.map((c) => c.name)).toEqual(['plan']);
    const { reply, headers } = send(chain, 'shop/GET/items');
    expect(reply).toBeNull();
    expect(headers.get('x-apip-plan')).toBe('pln_free');
  });

  it('makes the api-key entry optional beside a keyless plan, lists both plans in plan order and challenges for the key', async () => {
    const model = shop([apiKeyPlan('pln_keyed', 1), keylessPlan('pln_free', 0, { selectionRule: 'header.x-tier != "blocked"' })], {
      keys: [subscriptionKey('key-live', 'sub_1', 'pln_keyed'), subscriptionKey('key-paused', 'sub_2', 'pln_keyed', false)],
    });
    const { ir, problems, route } = irOf(model);
    expect(problems).toEqual([]);
    expect(route().plans).toEqual(['pln_free', 'pln_keyed']);
    expect(route().settings['api-key']).toMatchObject({ keySets: ['shop/subscriptions'], key: 'x-api-key', optional: true, plans: ['pln_keyed'] });
    expect(route().settings.plan).toEqual({ plans: ['pln_free', 'pln_keyed'], challenges: ['ApiKey header="x-api-key"'] });
    expect(ir.tables.selectionPlans).toEqual({
      pln_free: { name: 'pln_free', security: 'KEYLESS', rule: 'header.x-tier != "blocked"' },
      pln_keyed: { name: 'pln_keyed', security: 'API_KEY', rule: null },
    });
    expect(ir.tables.apiKeySets['shop/subscriptions']!.map((k) => [k.sha256, k.status])).toEqual(
      [
        [sha('key-live'), 'active'],
        [sha('key-paused'), 'suspended'],
      ].sort(),
    );

    const chain = await servedChain(model);
    expect(chain.map((c) => c.name)).toEqual(['api-key', 'plan']);
    expect(send(chain, 'shop/GET/items').headers.get('x-apip-plan')).toBe('pln_free');
    const keyed = send(chain, 'shop/GET/items', [['x-api-key', 'key-live']]);
    expect(keyed.reply).toBeNull();
    expect([keyed.headers.get('x-apip-plan'), keyed.headers.get('x-apip-subscription-id')]).toEqual(['pln_keyed', 'sub_1']);
    // A bad key is never "keyless"; a suspended subscription's key is known but refused.
    expect(send(chain, 'shop/GET/items', [['x-api-key', 'no-such-key']]).reply?.status).toBe(401);
    const paused = send(chain, 'shop/GET/items', [['x-api-key', 'key-paused']]).reply!;
    expect([paused.status, jsonOf(paused)]).toEqual([403, { status: 'error', message: 'Subscription is not active.' }]);
    const blocked = send(chain, 'shop/GET/items', [['x-tier', 'blocked']]).reply!;
    expect(blocked.status).toBe(401);
    expect(blocked.headers.filter(([n]) => n === 'www-authenticate').map(([, v]) => v)).toEqual(['ApiKey header="x-api-key"']);
  });

  it('puts two JWT plans with their rules, scopes and token lifetime rules in the jwt plans table and the client lists in plan order', async () => {
    // pln_gold: a new plan's lifetime rules (exp required, at most an hour); pln_std: a plan stored before them.
    const gold = { type: 'JWT', jwt: { ...jwtOptions(['gold:read']), requireExpiration: true, maxTokenLifetimeSeconds: 3600 } };
    const model = shop([jwtPlan('pln_gold', 0, { selectionRule: 'claims.tier == "gold"', security: gold }), jwtPlan('pln_std', 1)], {
      subscriptions: [
        { id: 'sub_std', apiId: 'api_shop', applicationId: 'app_1', clientId: 'client-1', planId: 'pln_std' },
        { id: 'sub_gold', apiId: 'api_shop', applicationId: 'app_1', clientId: 'client-1', planId: 'pln_gold', status: 'PAUSED', isLive: false },
      ],
      jwks: { 'plan/pln_gold': [hmacKey], 'plan/pln_std': [hmacKey] },
    });
    const { ir, problems, route } = irOf(model);
    expect(problems).toEqual([]);
    expect(route().settings.jwt).toMatchObject({ keySets: ['plan/pln_gold'], optional: false, plans: ['pln_gold', 'pln_std'], scopes: null, clients: 'shop' });
    // The same key for both plans is shipped once, in the first plan's set, which both plans then trust.
    expect(ir.tables.jwtPlans).toEqual({
      pln_gold: { rule: 'claims.tier == "gold"', scopes: ['gold:read'], scopesMode: 'any', keySets: ['plan/pln_gold'], requireExpiration: true, maxLifetimeSeconds: 3600 },
      pln_std: { rule: null, scopes: null, scopesMode: 'any', keySets: ['plan/pln_gold'], requireExpiration: false, maxLifetimeSeconds: null },
    });
    // Each plan trusts every set of its routes: the module's default (any of the route's sets), left implicit; the
    // lifetime rules are the plan's own, absent for the plan without them.
    const jwtConfig = JSON.parse(configurations(model).jwt!) as { plans: Record<string, Record<string, unknown>> };
    expect(Object.values(jwtConfig.plans).map((p) => p.keySets)).toEqual([undefined, undefined]);
    expect(jwtConfig.plans).toEqual({
      pln_gold: { rule: 'claims.tier == "gold"', scopes: ['gold:read'], scopesMode: 'any', requireExpiration: true, maxLifetimeSeconds: 3600 },
      pln_std: { rule: null },
    });
    expect(ir.tables.jwtClients.shop).toEqual({
      'client-1': [
        { applicationId: 'app_1', subscriptionId: 'sub_gold', plan: 'pln_gold', active: false },
        { applicationId: 'app_1', subscriptionId: 'sub_std', plan: 'pln_std', active: true },
      ],
    });
    expect(route().settings.plan).toEqual({ plans: ['pln_gold', 'pln_std'], challenges: ['Bearer'] });
    const chain = await servedChain(model);
    expect(chain.map((c) => c.name)).toEqual(['jwt', 'plan']);
    const token = (claims: Record<string, unknown>) =>
      new SignJWT({ azp: 'client-1', scope: 'gold:read', ...claims }).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).setExpirationTime('5m').sign(Buffer.from('0123456789abcdef0123456789abcdef'));
    // No gold claim: the gold plan's rule is false, the client's standard subscription wins.
    const standard = send(chain, 'shop/GET/items', [['authorization', `Bearer ${await token({})}`]]);
    expect(standard.reply).toBeNull();
    expect([standard.headers.get('x-apip-plan'), standard.headers.get('x-apip-subscription-id')]).toEqual(['pln_std', 'sub_std']);
    // Gold claim: the gold plan comes first and its subscription is paused.
    expect(send(chain, 'shop/GET/items', [['authorization', `Bearer ${await token({ tier: 'gold' })}`]]).reply?.status).toBe(403);
  });

  it('lets a JWT plan be selected only by tokens its own keys verify when two plans trust different identity providers', async () => {
    const corpSecret = Buffer.from('corp-secret-corp-secret-corp-secret!');
    const partnerSecret = Buffer.from('partner-secret-partner-secret-partner!');
    const corpKey = { kty: 'oct', kid: 'corp', k: corpSecret.toString('base64url') };
    const partnerKey = { kty: 'oct', kid: 'partner', k: partnerSecret.toString('base64url') };
    // The partner plan comes first and its rule holds for every token; client-1 holds subscriptions to both plans.
    const model = shop([jwtPlan('pln_partner', 0, { selectionRule: 'claims.sub != "nobody"' }), jwtPlan('pln_corp', 1)], {
      subscriptions: [
        { id: 'sub_partner', apiId: 'api_shop', applicationId: 'app_1', clientId: 'client-1', planId: 'pln_partner' },
        { id: 'sub_corp', apiId: 'api_shop', applicationId: 'app_1', clientId: 'client-1', planId: 'pln_corp' },
        { id: 'sub_p2', apiId: 'api_shop', applicationId: 'app_2', clientId: 'client-2', planId: 'pln_partner' },
      ],
      jwks: { 'plan/pln_partner': [partnerKey], 'plan/pln_corp': [corpKey] },
    });
    const { ir, problems, route } = irOf(model);
    expect(problems).toEqual([]);
    expect(route().settings.jwt).toMatchObject({ keySets: ['plan/pln_partner', 'plan/pln_corp'], plans: ['pln_partner', 'pln_corp'] });
    expect(ir.tables.jwtPlans.pln_partner).toMatchObject({ keySets: ['plan/pln_partner'] });
    expect(ir.tables.jwtPlans.pln_corp).toMatchObject({ keySets: ['plan/pln_corp'] });
    const jwtConfig = JSON.parse(configurations(model).jwt!) as { plans: Record<string, unknown> };
    expect(jwtConfig.plans).toEqual({
      pln_corp: { rule: null, keySets: ['plan/pln_corp'] },
      pln_partner: { rule: 'claims.sub != "nobody"', keySets: ['plan/pln_partner'] },
    });

    const chain = await servedChain(model);
    const token = (azp: string, kid: string, secret: Buffer) =>
      new SignJWT({ sub: 'u', azp }).setProtectedHeader({ alg: 'HS256', kid }).setExpirationTime('5m').sign(secret);
    const request = async (azp: string, kid: string, secret: Buffer) => send(chain, 'shop/GET/items', [['authorization', `Bearer ${await token(azp, kid, secret)}`]]);
    // A corp token never selects the partner plan, though that plan comes first and its rule holds.
    const corp = await request('client-1', 'corp', corpSecret);
    expect(corp.reply).toBeNull();
    expect([corp.headers.get('x-apip-plan'), corp.headers.get('x-apip-subscription-id')]).toEqual(['pln_corp', 'sub_corp']);
    const partner = await request('client-1', 'partner', partnerSecret);
    expect(partner.reply).toBeNull();
    expect([partner.headers.get('x-apip-plan'), partner.headers.get('x-apip-subscription-id')]).toEqual(['pln_partner', 'sub_partner']);
    // A client subscribed to the partner plan only has no subscription for a corp token.
    const refused = (await request('client-2', 'corp', corpSecret)).reply!;
    expect([refused.status, jsonOf(refused)]).toEqual([403, { status: 'error', message: 'No subscription for this client.' }]);
  });

  it('warns when a JWT plan shares a key set holding keys it does not list with an earlier JWT plan', () => {
    const other = { kty: 'oct', kid: 'other', k: Buffer.from('another-secret-another-secret-another').toString('base64url') };
    const { ir, problems } = irOf(shop([jwtPlan('pln_a', 0), jwtPlan('pln_b', 1)], { jwks: { 'plan/pln_a': [hmacKey, other], 'plan/pln_b': [hmacKey] } }));
    expect(ir.tables.jwtPlans.pln_b).toMatchObject({ keySets: ['plan/pln_a'] });
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', path: 'plans[pln_b].security.jwt', message: expect.stringContaining("'other'") })]);
  });

  it('offers API_KEY, JWT and OAUTH2 plans together: every module optional, one challenge per type, the server cluster served', async () => {
    const model = shop(
      [
        apiKeyPlan('pln_key', 0),
        jwtPlan('pln_jwt', 1),
        { id: 'pln_oauth', apiId: 'api_shop', name: 'OAuth', position: 2, security: { type: 'OAUTH2', oauth2: { authorizationServerId: 'as_1', requiredScopes: ['read'] } } },
      ],
      {
        subscriptions: [{ id: 'sub_o', apiId: 'api_shop', applicationId: 'app_2', clientId: 'svc', planId: 'pln_oauth' }],
        jwks: { 'plan/pln_jwt': [hmacKey] },
        authorizationServers: [{ id: 'as_1', introspectionUrl: 'https://idp.example.com/oauth2/introspect', clientId: 'gw', clientSecret: 's3cret' }],
      },
    );
    const { ir, problems, route } = irOf(model);
    expect(problems).toEqual([]);
    const settings = route().settings;
    expect([settings['api-key']?.optional, settings.jwt?.optional, settings.oauth2?.optional]).toEqual([true, true, true]);
    expect([settings['api-key']?.plans, settings.jwt?.plans, settings.oauth2?.plans]).toEqual([['pln_key'], ['pln_jwt'], ['pln_oauth']]);
    expect(settings.oauth2).toMatchObject({ servers: ['as_1'], clients: 'shop' });
    expect(settings.plan).toEqual({ plans: ['pln_key', 'pln_jwt', 'pln_oauth'], challenges: ['ApiKey header="x-api-key"', 'Bearer'] });
    expect(ir.tables.oauth2Plans).toEqual({ pln_oauth: { server: 'as_1', rule: null, scopes: ['read'], scopesMode: 'any' } });
    expect(ir.tables.oauth2Clients.shop).toEqual({ svc: [{ applicationId: 'app_2', subscriptionId: 'sub_o', plan: 'pln_oauth', active: true }] });
    expect(ir.clusters.map((c) => c.name)).toContain('apip/oauth2/as_1');
    const chain = await servedChain(model);
    expect(chain.map((c) => c.name)).toEqual(['api-key', 'jwt', 'oauth2', 'plan']);
    const anonymous = send(chain, 'shop/GET/items').reply!;
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.filter(([n]) => n === 'www-authenticate').map(([, v]) => v)).toEqual(['ApiKey header="x-api-key"', 'Bearer']);
  });

  it('runs plan policies per plan: set-headers and basic-auth in planPolicies, throttle as the plan quota', async () => {
    const hash = await hashBasicAuthPassword('open sesame', 1000);
    const model = shop(
      [
        keylessPlan('pln_free', 0, {
          policies: [
            { name: 'basic-auth', params: { realm: 'shop', users: [{ username: 'ann', passwordHash: hash }] } },
            { name: 'set-headers', params: { request: { headers: [{ name: 'X-Plan', value: 'free' }] } } },
          ],
        }),
        apiKeyPlan('pln_keyed', 1, { policies: [{ name: 'throttle', params: { limits: [{ requests: 100, duration: '1h' }] } }] }),
      ],
      { keys: [subscriptionKey('key-live', 'sub_1', 'pln_keyed')] },
    );
    const { ir, problems, route } = irOf(model);
    expect(problems).toEqual([]);
    expect(Object.keys(ir.tables.planPolicies)).toEqual(['pln_free']);
    expect(ir.tables.planPolicies.pln_free!['set-headers']).toEqual({ request: { headers: [{ name: 'x-plan', value: 'free' }] }, response: null });
    expect(ir.tables.planPolicies.pln_free!['basic-auth']).toMatchObject({ realm: 'shop', userList: [{ username: 'ann', hash }] });
    expect(ir.tables.quotaPlans).toEqual({ pln_keyed: { limits: [{ requests: 100, windowMs: 3_600_000 }], stopOnQuotaReach: true } });
    // Every route gets an entry of the plan policies' modules (pass-through here) and checks the plan quota.
    expect(route().settings['set-headers']).toEqual({ request: null, response: null });
    expect(route().settings['basic-auth']).toMatchObject({ users: null });
    expect(route().settings.throttle).toEqual({ stages: [], planQuota: true, stopOnQuotaReach: true });
    const set = JSON.parse(configurations(model)['set-headers']!) as Record<string, unknown>;
    expect(set.planPolicies).toEqual({ pln_free: { request: { headers: [{ name: 'x-plan', value: 'free' }] } } });

    const chain = await servedChain(model);
    expect(chain.map((c) => c.name)).toEqual(['api-key', 'plan', 'basic-auth', 'throttle', 'set-headers']);
    const basic = `Basic ${Buffer.from('ann:open sesame').toString('base64')}`;
    const free = send(chain, 'shop/GET/items', [['authorization', basic]]);
    expect(free.reply).toBeNull();
    expect([free.headers.get('x-apip-plan'), free.headers.get('x-plan')]).toEqual(['pln_free', 'free']);
    expect(send(chain, 'shop/GET/items').reply?.status).toBe(401);
    const keyed = send(chain, 'shop/GET/items', [['x-api-key', 'key-live']]);
    expect(keyed.reply).toBeNull();
    expect([keyed.headers.get('x-apip-plan'), keyed.headers.get('x-plan')]).toEqual(['pln_keyed', undefined]);
  });

  it('gives basic-auth the platform\'s PBKDF2 budget when one is set, and the module\'s default otherwise', async () => {
    const hash = await hashBasicAuthPassword('open sesame', 1000);
    const model = shop([keylessPlan('pln_free', 0, { policies: [{ name: 'basic-auth', params: { users: [{ username: 'ann', passwordHash: hash }] } }] })]);
    expect(JSON.parse(configurations(model)['basic-auth']!)).not.toHaveProperty('pbkdf2IterationsPerSecond');
    const { resources } = translate(model, { ...options, moduleSettings: { 'basic-auth': { pbkdf2IterationsPerSecond: 50_000 } } });
    expect(validateResources(resources)).toEqual([]);
    const served = JSON.stringify(resources.listener);
    expect(served).toContain('\\"pbkdf2IterationsPerSecond\\":50000');
  });

  it('refuses any other kind as a plan policy, naming the attachment', () => {
    const model = shop([apiKeyPlan('pln_keyed', 0, { policies: [{ name: 'set-headers', params: { request: { headers: [{ name: 'x-plan', value: 'keyed' }] } } }, { name: 'jwt', params: {} }] })]);
    const { ir, problems } = irOf(model);
    expect(ir.routes).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ severity: 'error', api: 'shop', path: 'plans[pln_keyed].policies[1]' })]);
  });

  it('admits no one through a KEYLESS plan of a private API, and closes a private API with only KEYLESS plans', () => {
    const mixed = irOf(shop([keylessPlan('pln_free', 0), apiKeyPlan('pln_keyed', 1)], {}, { visibility: 'private' }));
    expect(mixed.problems).toEqual([expect.objectContaining({ severity: 'warning', path: 'plans[pln_free]' })]);
    expect(mixed.route().plans).toEqual(['pln_keyed']);
    expect(mixed.route().settings['api-key']).toMatchObject({ optional: false, plans: ['pln_keyed'] });
    expect(mixed.route().settings.plan).toEqual({ plans: ['pln_keyed'], challenges: ['ApiKey header="x-api-key"'] });
    expect(mixed.ir.tables.selectionPlans).not.toHaveProperty('pln_free');

    // Served CLOSED (every route answers 403 without the upstream), not left out: one access rule (domain/reachability.ts).
    const keylessOnly = irOf(shop([keylessPlan('pln_free', 0)], {}, { visibility: 'private' }));
    expect(keylessOnly.ir.routes.length).toBeGreaterThan(0);
    expect(keylessOnly.ir.routes.every((route) => route.destination.kind === 'reply' && route.destination.status === 403)).toBe(true);
    expect(Object.values(keylessOnly.ir.reachability)).toEqual(['CLOSED']);
    expect(keylessOnly.problems.map((p) => [p.severity, p.path])).toEqual([['warning', 'plans[pln_free]']]);
  });

  it('fails closed when the plan module is not served', () => {
    const { ir, problems } = buildIr(shop([keylessPlan('pln_free', 0)]), { ...options, modules: { 'api-key': modules['api-key']! } });
    expect(ir.routes).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ severity: 'error', path: 'plans', message: "module 'plan' is not served by the control plane" })]);
  });

  it('leaves an API without plans as it was: no plan entry', () => {
    const { route } = irOf(shop([]));
    expect(route().settings).toEqual({});
    expect(route().plans).toEqual([]);
  });
});
