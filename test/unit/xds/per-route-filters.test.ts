import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

const options = {
  controlPlaneUrl: 'http://control-plane:9090',
  listenerPort: 8080,
  keyDigestSecret: '0123456789abcdef'.repeat(4),
  modules: Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((n) => [n, { sha256: 'f'.repeat(64) }])),
};

const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
const identityHeaders = ['x-apip-application-id', 'x-apip-subscription-id', 'x-apip-plan'];

type Json = Record<string, unknown>;
interface HttpFilter { name: string; disabled?: boolean; typedConfig: Json }
interface Route { name: string; typedPerFilterConfig?: Record<string, Json>; requestHeadersToRemove?: string[] }
interface ModuleConfiguration { stripIdentityHeaders?: boolean; stripIdentityRoutes?: string[]; routes: Record<string, unknown> }

function translated(golden: string) {
  const input = fileURLToPath(new URL(`../../golden/xds/in/${golden}.yaml`, import.meta.url));
  const { resources } = translate(modelFromYaml(parse(readFileSync(input, 'utf8'))), options);
  expect(validateResources(resources)).toEqual([]);
  const [listener] = resources.listener as Json[];
  const chains = listener!.filterChains as { filters: { typedConfig: { httpFilters: HttpFilter[] } }[] }[];
  const httpFilters = chains[0]!.filters[0]!.typedConfig.httpFilters;
  const wasm = httpFilters.filter((f) => f.name.startsWith('envoy.filters.http.wasm/')).map((f) => {
    const config = f.typedConfig.config as { configuration: { value: string } };
    return { filter: f, configuration: JSON.parse(config.configuration.value) as ModuleConfiguration };
  });
  const [routeConfiguration] = resources.routeConfiguration as Json[];
  // The routes that forward upstream (not the direct responses: closed APIs, the catch-all 404).
  const routes = (routeConfiguration!.virtualHosts as { routes: Route[] }[]).flatMap((host) => host.routes).filter((r) => 'route' in r);
  return { httpFilters, wasm, routes, routeConfiguration: routeConfiguration! };
}

function stripsOn(configuration: ModuleConfiguration, route: string): boolean {
  return configuration.stripIdentityHeaders === true || (configuration.stripIdentityRoutes ?? []).includes(route);
}

describe.each(['per-route-modules', 'policy-chains', 'plan-selection', 'vhosts-sandbox'])('per-route wasm filters (%s)', (golden) => {
  it('generates every wasm filter disabled by default, and the router last and enabled', () => {
    const { httpFilters, wasm } = translated(golden);
    for (const { filter } of wasm) expect(filter.disabled).toBe(true);
    expect(httpFilters.at(-1)!.name).toBe('envoy.filters.http.router');
    expect(httpFilters.at(-1)!.disabled).toBeUndefined();
  });

  it('enables on each route exactly the modules that have settings for it, with an empty FilterConfig', () => {
    const { wasm, routes } = translated(golden);
    for (const route of routes) {
      const expected = wasm.filter((m) => route.name in m.configuration.routes).map((m) => m.filter.name);
      expect(Object.keys(route.typedPerFilterConfig ?? {}).sort(), route.name).toEqual(expected.sort());
      for (const entry of Object.values(route.typedPerFilterConfig ?? {})) expect(entry).toEqual({ '@type': FILTER_CONFIG });
    }
  });

  it('has the first module that runs on a route strip client identity headers there, and no other', () => {
    const { wasm, routes } = translated(golden);
    for (const route of routes) {
      const running = wasm.filter((m) => route.name in m.configuration.routes);
      if (running.length === 0) continue;
      expect(running.map((m) => stripsOn(m.configuration, route.name)), route.name).toEqual(running.map((_, i) => i === 0));
      expect(route.requestHeadersToRemove ?? [], route.name).not.toContain('x-apip-plan');
    }
  });

  it('removes client identity headers on every route no module runs on', () => {
    const { wasm, routes, routeConfiguration } = translated(golden);
    // Removed before the upstream at the router; on routes with modules that would also remove the identity they set.
    expect(routeConfiguration.requestHeadersToRemove ?? []).not.toContain('x-apip-plan');
    for (const route of routes) {
      if (wasm.some((m) => route.name in m.configuration.routes)) continue;
      expect(route.requestHeadersToRemove, route.name).toEqual(expect.arrayContaining(identityHeaders));
    }
  });
});

describe('per-route wasm filters (mixed snapshot)', () => {
  it('has modules in the snapshots checked above', () => {
    for (const golden of ['per-route-modules', 'policy-chains', 'plan-selection']) expect(translated(golden).wasm.length).toBeGreaterThan(2);
  });

  it('has a route with no module, routes whose first module is not the first filter, and disjoint module sets', () => {
    const { wasm, routes } = translated('per-route-modules');
    const modulesOf = (name: string) => wasm.filter((m) => name in m.configuration.routes).map((m) => m.filter.name.split('/')[1]);
    expect(modulesOf('open/GET/status')).toEqual([]);
    expect(modulesOf('limited/GET/free')).toEqual([]);
    expect(modulesOf('limited/GET/items')).toEqual(['throttle']);
    expect(modulesOf('v09-api/GET/orders')).toEqual(['subscription-validation']);
    expect(modulesOf('keyed/GET/items')).toEqual(['api-key', 'plan', 'throttle', 'set-headers']);
    expect(routes.length).toBe(5);
    // throttle runs first on one route and after api-key on another: it strips on the first only.
    const throttle = wasm.find((m) => m.filter.name.endsWith('/throttle'))!.configuration;
    expect(throttle.stripIdentityHeaders).toBe(false);
    expect(throttle.stripIdentityRoutes).toEqual(['limited/GET/items']);
  });
});
