import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource } from '../../../server/envoy/resources.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';
import { keyDigestHex, testDigestKeyHex } from '../../helpers/policies.ts';
import { listener, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, send, silentLogger, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

// Envoy semantics followed: a filter with `disabled: true` in the connection manager runs only where the route's
// (or else its virtual host's, or else the route configuration's) typed_per_filter_config enables it with a
// FilterConfig whose `disabled` is false; the most specific entry wins, and one with `disabled: true` turns an
// enabled filter off. https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#route-based-filter-chain

const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
const enable = { '@type': FILTER_CONFIG };
const disable = { '@type': FILTER_CONFIG, disabled: true };
const API_KEY = `apip_${'3'.repeat(64)}`;

const LIMITED = 'shop/GET/limited';
const UNLIMITED = 'shop/GET/unlimited';
const KEYED = 'shop/GET/keyed';
const KEYLESS = 'shop/GET/keyless';
const PLAIN = 'shop/GET/plain';
const HOST_DEFAULT = 'other/GET/inherits';
const HOST_OVERRIDE = 'other/GET/overrides';

/** Every route has settings in every module: only the route configuration decides which modules run. */
const allRoutes = [LIMITED, UNLIMITED, KEYED, KEYLESS, PLAIN, HOST_DEFAULT, HOST_OVERRIDE];
const each = (value: unknown) => Object.fromEntries(allRoutes.map((name) => [name, value]));

function withFilters(route: EnvoyResource, filters: Record<string, unknown> | undefined): EnvoyResource {
  return filters === undefined ? route : { ...route, typedPerFilterConfig: filters };
}

describe('embedded gateway: filters enabled per route', () => {
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream('shop');
    modules = await startModuleServer();
    const disabled = (filter: EnvoyResource): EnvoyResource => ({ ...filter, disabled: true });
    const filters = [
      disabled(wasmFilter({
        module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'), vmId: 'per-route.api-key',
        configuration: {
          stripIdentityHeaders: true,
          digestKey: testDigestKeyHex,
          keySets: { shop: [{ sha256: keyDigestHex(API_KEY), status: 'active', applicationId: 'app-1', plan: 'Gold' }] },
          routes: each({ keySets: ['shop'], key: 'x-api-key', in: 'header' }),
        },
      })),
      // One limit for the whole API: every request through the throttle counts against it, whatever its route.
      disabled(wasmFilter({
        module: 'throttle', baseUrl: modules.url, sha256: moduleSha256('throttle'), vmId: 'per-route.throttle',
        configuration: { routes: each({ limits: [{ requests: 2, windowMs: 3_600_000, scope: 'api' }] }) },
      })),
      // Not disabled: runs on every route that does not turn it off.
      wasmFilter({
        module: 'set-headers', baseUrl: modules.url, sha256: moduleSha256('set-headers'), vmId: 'per-route.set-headers',
        configuration: { routes: each({ request: { headers: [{ name: 'x-set-headers', value: 'ran' }] } }) },
      }),
    ];
    const plain = (name: string, path: string, perFilter?: Record<string, unknown>) =>
      withFilters({ name, match: { path }, route: { cluster: 'shop' } }, perFilter);
    const shop = {
      name: 'shop', domains: ['*'],
      routes: [
        plain(LIMITED, '/limited', { 'envoy.filters.http.wasm/throttle': enable }),
        plain(UNLIMITED, '/unlimited'),
        plain(KEYED, '/keyed', { 'envoy.filters.http.wasm/api-key': enable }),
        plain(KEYLESS, '/keyless'),
        plain(PLAIN, '/plain', { 'envoy.filters.http.wasm/set-headers': disable }),
      ],
    };
    const other = {
      name: 'other', domains: ['other.test'],
      // The virtual host enables api-key for its routes; one route turns it off again.
      typedPerFilterConfig: { 'envoy.filters.http.wasm/api-key': enable },
      routes: [
        plain(HOST_DEFAULT, '/inherits'),
        plain(HOST_OVERRIDE, '/overrides', { 'envoy.filters.http.wasm/api-key': disable }),
      ],
    };
    const source = new ManualSource(snapshot('1', {
      listeners: [listener(filters)],
      routes: [routeConfiguration([shop, other])],
      clusters: [staticCluster('shop', [{ address: '127.0.0.1', port: upstream.port }])],
    }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await modules.close();
  });

  it('does not count requests of a route that does not enable the throttle against a limit the throttle keeps', async () => {
    for (let i = 0; i < 3; i++) expect((await send(gateway.port, '/unlimited')).status).toBe(200);
    expect((await send(gateway.port, '/limited')).status).toBe(200);
    expect((await send(gateway.port, '/limited')).status).toBe(200);
    expect((await send(gateway.port, '/limited')).status).toBe(429);
    expect((await send(gateway.port, '/unlimited')).status).toBe(200);
  });

  it('does not run a module that would answer 401 on a route that does not enable it', async () => {
    expect((await send(gateway.port, '/keyed')).status).toBe(401);
    expect((await send(gateway.port, '/keyed', { headers: { 'x-api-key': API_KEY } })).status).toBe(200);
    const keyless = await send(gateway.port, '/keyless');
    expect(keyless.status).toBe(200);
  });

  it('runs a filter enabled at the virtual host on its routes, except where a route disables it', async () => {
    expect((await send(gateway.port, '/inherits', { host: 'other.test' })).status).toBe(401);
    expect((await send(gateway.port, '/overrides', { host: 'other.test' })).status).toBe(200);
  });

  it('runs a filter not disabled by default everywhere but on the routes that disable it', async () => {
    await send(gateway.port, '/keyless');
    expect(upstream.requests.at(-1)?.headers['x-set-headers']).toBe('ran');
    await send(gateway.port, '/plain');
    expect(upstream.requests.at(-1)?.headers['x-set-headers']).toBeUndefined();
  });

  it('never runs a filter disabled by default on routes with no entry enabling it', async () => {
    // api-key is disabled by default and has settings for /plain: it would answer 401 there.
    const response = await send(gateway.port, '/plain');
    expect(response.status).toBe(200);
  });
});

describe('embedded gateway: identity headers on a translated snapshot mixing module sets', () => {
  const KEY = `apip_${'7'.repeat(64)}`;
  const forged = { 'x-apip-application-id': 'forged', 'x-apip-subscription-id': 'forged', 'x-apip-plan': 'forged' };
  let upstream: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream('apis');
    modules = await startModuleServer();
    const input = fileURLToPath(new URL('../../golden/xds/in/per-route-modules.yaml', import.meta.url));
    const model = modelFromYaml(parse(readFileSync(input, 'utf8')));
    model.keys = model.keys.map((key) => ({ ...key, sha256: keyDigestHex(KEY) }));
    const names = ['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'];
    const { resources } = translate(model, {
      controlPlaneUrl: modules.url,
      listenerPort: 8080,
      keyDigestSecret: testDigestKeyHex,
      modules: Object.fromEntries(names.map((name) => [name, { sha256: moduleSha256(name) }])),
    });
    expect(validateResources(resources)).toEqual([]);
    // Every cluster reaches the test upstream.
    const clusters = resources.cluster.map((cluster) => staticCluster(String(cluster.name), [{ address: '127.0.0.1', port: upstream.port }]));
    const source = new ManualSource(snapshot('1', { listeners: resources.listener, routes: resources.routeConfiguration, clusters }));
    gateway = await createGateway({ source, port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await modules.close();
  });

  it.each([
    ['/open/status', 'no module'],
    ['/limited/free', 'no module, beside a route with one'],
    ['/limited/items', 'throttle first (it runs after api-key elsewhere)'],
  ])('forwards %s (%s) without any identity header the client sent', async (path) => {
    const before = upstream.requests.length;
    const response = await send(gateway.port, path, { headers: forged });
    expect(response.status).toBe(200);
    expect(upstream.requests.length).toBe(before + 1);
    const seen = upstream.requests.at(-1)!.headers;
    for (const name of Object.keys(forged)) expect(seen[name], name).toBeUndefined();
  });

  it('forwards the identity api-key established, not the forged one, where api-key runs first and throttle after it', async () => {
    const response = await send(gateway.port, '/keyed/items', { headers: { ...forged, 'x-api-key': KEY } });
    expect(response.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen['x-apip-application-id']).toBe('app_1');
    expect(seen['x-apip-subscription-id']).toBe('sub_1');
    expect(seen['x-apip-plan']).toBe('pln_gold');
    expect(seen['x-level']).toBe('operation');
  });

  it('answers 403 without forwarding where subscription-validation runs first and the forged identity is all there is', async () => {
    // subscription-validation admits a request an earlier module identified: the forged identity must be gone.
    const before = upstream.requests.length;
    const response = await send(gateway.port, '/v09/orders', { headers: forged });
    expect(response.status).toBe(403);
    expect(upstream.requests.length).toBe(before);
  });
});
