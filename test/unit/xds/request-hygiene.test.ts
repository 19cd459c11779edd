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

/** reading-list has policies on its routes; path-params has none, so no wasm filter runs. */
function translated(golden = 'reading-list') {
  const input = fileURLToPath(new URL(`../../golden/xds/in/${golden}.yaml`, import.meta.url));
  const { resources } = translate(modelFromYaml(parse(readFileSync(input, 'utf8'))), options);
  expect(validateResources(resources)).toEqual([]);
  return resources;
}

type Json = Record<string, unknown>;

function connectionManager(): Json {
  const [listener] = translated().listener as Json[];
  const chains = listener!.filterChains as { filters: { typedConfig: Json }[] }[];
  return chains[0]!.filters[0]!.typedConfig;
}

describe('request hygiene in the generated Envoy configuration', () => {
  it('has the connection manager reject escaped slashes and backslashes in the path', () => {
    expect(connectionManager().pathWithEscapedSlashesAction).toBe('REJECT_REQUEST');
  });

  it('removes the method-override headers before the upstream on every route whose operation does not allow them', () => {
    const [config] = translated('path-params').routeConfiguration as Json[];
    const routes = (config!.virtualHosts as { routes: Json[] }[]).flatMap((vhost) => vhost.routes).filter((r) => 'route' in r);
    const removed = Object.fromEntries(routes.map((route) => [route.name, route.requestHeadersToRemove ?? null]));
    const overrides = ['x-http-method-override', 'x-method-override', 'x-http-method'];
    for (const name of overrides) expect(removed['catalog/PATCH/items/{itemId}'] ?? []).not.toContain(name);
    for (const [name, list] of Object.entries(removed)) {
      if (name !== 'catalog/PATCH/items/{itemId}') expect(list, name).toEqual(expect.arrayContaining(overrides));
    }
    // Not on the route configuration: Envoy removes the union of the levels, so no route could keep them.
    expect(config!.requestHeadersToRemove ?? []).not.toContain('x-http-method-override');
  });

  it('removes client-sent identity headers on the routes where no policy module runs to strip them', () => {
    const [bare] = translated('path-params').routeConfiguration as Json[];
    const routes = (bare!.virtualHosts as { routes: Json[] }[]).flatMap((host) => host.routes).filter((r) => 'route' in r);
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      expect(route.requestHeadersToRemove).toEqual(expect.arrayContaining(['x-apip-application-id', 'x-apip-subscription-id', 'x-apip-plan']));
    }
    // With modules the first one strips them before any policy reads them; removing them at the router would also
    // remove the identity the policies established.
    const [withPolicies] = translated().routeConfiguration as Json[];
    expect(withPolicies!.requestHeadersToRemove ?? []).not.toContain('x-apip-plan');
    for (const host of withPolicies!.virtualHosts as { routes: Json[] }[]) {
      for (const route of host.routes) expect(route.requestHeadersToRemove ?? []).not.toContain('x-apip-plan');
    }
  });

  it('has the connection manager drop every header whose name holds an underscore (x_apip_plan as well as x_other)', () => {
    expect(connectionManager().commonHttpProtocolOptions).toEqual({ headersWithUnderscoresAction: 'DROP_HEADER' });
  });
});
