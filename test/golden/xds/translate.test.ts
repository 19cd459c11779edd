import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Problem } from '../../../server/domain/errors.ts';
import type { DeploymentModel } from '../../../server/domain/deployment-model.ts';
import type { ResourceKind } from '../../../server/envoy/resources.ts';
import { translate, type TranslateOptions } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from './model-yaml.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const inDir = join(here, 'in');
const outDir = join(here, 'out');
const update = process.env.UPDATE_GOLDEN === '1';

const options = {
  controlPlaneUrl: 'http://control-plane:9090',
  listenerPort: 8080,
  keyDigestSecret: '0123456789abcdef'.repeat(4),
  modules: {
    ...Object.fromEntries(
      ['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((name, i) => [name, { sha256: String(i + 1).repeat(64) }]),
    ),
    cors: { sha256: 'a'.repeat(64) },
    redirect: { sha256: 'b'.repeat(64) },
    respond: { sha256: 'c'.repeat(64) },
  },
};

/** Operator settings of a case beyond the shared options. */
const caseOptions: Record<string, Partial<TranslateOptions>> = {
  'downstream-tls': {
    downstreamTls: { certFile: '/etc/apip/tls/gateway.crt', keyFile: '/etc/apip/tls/gateway.key', clientCaFile: '/etc/apip/tls/clients-ca.crt', clientCert: 'required' },
  },
  tracing: { tracing: { collectorUrl: 'http://otel-collector:4318/v1/traces', serviceName: 'apip-envoy', samplingPercent: 25 } },
};

/** Output file suffix per resource kind. */
const outputs: Record<ResourceKind, string> = {
  listener: 'listeners',
  routeConfiguration: 'routes',
  cluster: 'clusters',
  clusterLoadAssignment: 'endpoints',
};

/** Cases expecting problems: the API left out (errors) or translated with a finding (warnings). Others expect none. */
const expectedProblems: Record<string, Pick<Problem, 'severity' | 'api' | 'path'>[]> = {
  'broken-api': [
    { severity: 'error', api: 'bad-policy', path: 'spec.policies[0].name' },
    { severity: 'error', api: 'bad-ref', path: 'spec.upstream.main.ref' },
    { severity: 'error', api: 'later-clash', path: 'spec.operations' },
  ],
  // keyed attaches api-key-auth beside its API_KEY plan: its own v0.9 keys belong to no plan.
  'policy-chains': [{ severity: 'warning', api: 'keyed', path: 'plans' }],
  // partners is private: its KEYLESS plan admits no one.
  'plan-selection': [{ severity: 'warning', api: 'partners', path: 'plans[pln_p_free]' }],
  'upstream-definitions': [{ severity: 'warning', api: 'weighted', path: 'spec.upstreamDefinitions[1].upstreams[0].url' }],
  // shapes' host-rewrite policy has no effect on its sandbox upstream, whose hostRewrite is auto.
  'routing-shapes': [{ severity: 'warning', api: 'shapes', path: 'spec.upstream.sandbox.hostRewrite' }],
};

const cases = readdirSync(inDir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();

function yaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

describe('xds translation (golden files)', () => {
  it.each(cases)('%s: resources match the golden files and pass the strict Envoy check', (name) => {
    const model: DeploymentModel = modelFromYaml(parse(readFileSync(join(inDir, `${name}.yaml`), 'utf8')));
    const { resources, problems } = translate(model, { ...options, ...caseOptions[name] });
    expect(problems.map(({ severity, api, path }) => ({ severity, api, path }))).toEqual(expectedProblems[name] ?? []);
    expect(validateResources(resources)).toEqual([]);
    for (const [kind, suffix] of Object.entries(outputs) as [ResourceKind, string][]) {
      const file = join(outDir, `${name}.${suffix}.yaml`);
      const actual = yaml(resources[kind]);
      if (update) {
        mkdirSync(outDir, { recursive: true });
        writeFileSync(file, actual);
      } else {
        expect(existsSync(file), `${file} is missing: run UPDATE_GOLDEN=1 npx vitest run test/golden`).toBe(true);
        expect(actual).toBe(readFileSync(file, 'utf8'));
      }
    }
  });

  it('has no output file that no input produces', () => {
    const expected = new Set(cases.flatMap((c) => Object.values(outputs).map((s) => `${c}.${s}.yaml`)));
    const stale = existsSync(outDir) ? readdirSync(outDir).filter((f) => !expected.has(f)) : [];
    if (update) for (const f of stale) unlinkSync(join(outDir, f));
    else expect(stale).toEqual([]);
  });
});
