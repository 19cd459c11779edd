import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { apiOfRouteName } from '../../../server/xds/names.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

// What no API serves must get the same answer from Envoy as from the embedded gateway: the reference's JSON 404.
// Envoy's own no-route reply is an empty 404, so every virtual host ends with a catch-all direct response.
function routeConfiguration(name: string | null): { virtualHosts: { name: string; routes: Record<string, unknown>[] }[] } {
  const model = modelFromYaml(name === null ? { apis: [] } : parse(readFileSync(fileURLToPath(new URL(`../../golden/xds/in/${name}.yaml`, import.meta.url)), 'utf8')));
  const modules = Object.fromEntries(['api-key', 'set-headers', 'throttle', 'subscription-validation'].map((m) => [m, { sha256: 'a'.repeat(64) }]));
  const { resources } = translate(model, { controlPlaneUrl: 'http://control-plane:9090', listenerPort: 8080, keyDigestSecret: '0'.repeat(64), modules });
  expect(validateResources(resources)).toEqual([]);
  return resources.routeConfiguration[0] as never;
}

const notFound = {
  name: 'no-api-found',
  match: { prefix: '/' },
  directResponse: { status: 404, body: { inlineString: '{"error":"Not Found"}' } },
  responseHeadersToAdd: [{ header: { key: 'content-type', value: 'application/json' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
};

describe('the catch-all route', () => {
  it('ends every virtual host, main and sandbox, after the API routes', () => {
    const { virtualHosts } = routeConfiguration('vhosts-sandbox');
    expect(virtualHosts.length).toBeGreaterThan(1);
    for (const vhost of virtualHosts) {
      expect(vhost.routes.length).toBeGreaterThan(1);
      expect(vhost.routes.at(-1)).toEqual(notFound);
      expect(vhost.routes.filter((r) => r.name === 'no-api-found')).toHaveLength(1);
    }
  });

  it('serves every host even before any API is deployed', () => {
    expect(routeConfiguration(null).virtualHosts).toEqual([{ name: 'vhost/*', domains: ['*'], routes: [notFound] }]);
  });

  it('belongs to no API in analytics and metrics', () => {
    expect(apiOfRouteName('no-api-found')).toBeNull();
    expect(apiOfRouteName('reading-list-api-v1.0/GET/books')).toBe('reading-list-api-v1.0');
  });
});
