import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { translate } from '../../../server/xds/translate/translate.ts';
import { configurationSchemaErrors } from '../../helpers/module-configuration.ts';
import { loadPolicy, sendRequest } from '../../helpers/policies.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

const inDir = fileURLToPath(new URL('../../golden/xds/in/', import.meta.url));
const modules = Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((n) => [n, { sha256: 'f'.repeat(64) }]));

interface WasmFilter {
  name: string;
  typedConfig: { config?: { name: string; configuration: { value: string } } };
}

function wasmConfigurations(file: string): { module: string; configuration: string }[] {
  const model = modelFromYaml(parse(readFileSync(join(inDir, file), 'utf8')));
  const { resources } = translate(model, { controlPlaneUrl: 'http://cp:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) });
  const hcm = (resources.listener[0] as { filterChains: { filters: { typedConfig: { httpFilters: WasmFilter[] } }[] }[] }).filterChains[0]!.filters[0]!.typedConfig;
  return hcm.httpFilters.flatMap((f) => (f.typedConfig.config ? [{ module: f.typedConfig.config.name, configuration: f.typedConfig.config.configuration.value }] : []));
}

const cases = readdirSync(inDir).filter((f) => f.endsWith('.yaml')).flatMap((file) => wasmConfigurations(file).map((c) => ({ file, ...c })));

describe('generated plugin configurations', () => {
  it.each(cases)('validate against the $module module\'s JSON Schema and are accepted by it ($file)', async ({ module, configuration }) => {
    expect(configurationSchemaErrors(module, configuration)).toEqual([]);
    const plugin = await loadPolicy(module, configuration);
    expect(plugin.isConfigured).toBe(true);
  });

  it('lets a subscription key of the route plans through, and refuses a v0.9 key (no plan) and a missing key', async () => {
    const config = wasmConfigurations('policy-chains.yaml').find((c) => c.module === 'api-key')!;
    const plugin = await loadPolicy('api-key', config.configuration);
    // e25044… is the keyed digest of "test", the key of sub_1 (plan Gold); bdb1bd… of "foo", a v0.9 key (golden input
    // policy-chains, digested under the golden test's keyDigestSecret).
    const allowed = sendRequest(plugin, { route: 'keyed/GET/items', headers: [['x-api-key', 'test']] });
    expect(allowed.outcome.action).toBe('continue');
    const v09 = sendRequest(plugin, { route: 'keyed/GET/items', headers: [['x-api-key', 'foo']] });
    expect(v09.outcome).toMatchObject({ action: 'localReply', status: 401 });
    const refused = sendRequest(plugin, { route: 'keyed/GET/items' });
    expect(refused.outcome).toMatchObject({ action: 'localReply', status: 401 });
  });
});
