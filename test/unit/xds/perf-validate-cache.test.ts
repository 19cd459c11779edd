import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ChangeFeed } from '../../../server/domain/context.ts';
import type { EnvoyResources } from '../../../server/envoy/resources.ts';
import { SnapshotRunner } from '../../../server/xds/runner.ts';
import { SnapshotCache } from '../../../server/xds/snapshot-cache.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { ValidationCache, type ValidationIssue, validateResources, validateResourcesAsync } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

const options = {
  controlPlaneUrl: 'http://control-plane:9090',
  keyDigestSecret: '0123456789abcdef'.repeat(4),
  listenerPort: 8080,
  modules: Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle'].map((name) => [name, { sha256: 'a'.repeat(64) }])),
};

/** A fresh translation of a golden model (new objects every call, same content). */
function snapshot(name: string): EnvoyResources {
  const model = modelFromYaml(parse(readFileSync(new URL(`../../golden/xds/in/${name}.yaml`, import.meta.url), 'utf8')));
  return translate(model, options).resources;
}

type Route = { name: string; match: Record<string, unknown>; route: Record<string, unknown> };

function routesOf(resources: EnvoyResources): Route[] {
  return (resources.routeConfiguration[0]!.virtualHosts as { routes: Route[] }[]).flatMap((host) => host.routes);
}

function unitCount(resources: EnvoyResources): number {
  return resources.cluster.length + resources.clusterLoadAssignment.length + routesOf(resources).length;
}

describe('ValidationCache (incremental strict check)', () => {
  it('walks every unit of the first snapshot and none of an identical later one', async () => {
    const cache = new ValidationCache();
    const first = snapshot('vhosts-sandbox');
    expect(await validateResourcesAsync(first, cache)).toEqual([]);
    expect(cache.walked).toBe(unitCount(first));
    expect(await validateResourcesAsync(snapshot('vhosts-sandbox'), cache)).toEqual([]);
    expect(cache).toMatchObject({ walked: 0, reused: unitCount(first) });
  });

  it('re-validates a route whose content changed under the same name and reports it as the full check does', async () => {
    const cache = new ValidationCache();
    await validateResourcesAsync(snapshot('reading-list'), cache);
    const changed = snapshot('reading-list');
    const route = routesOf(changed)[1]!;
    route.route = { ...route.route, prefixRewrite: 42, timeoutMs: 5 };
    const issues = await validateResourcesAsync(changed, cache);
    expect(cache.walked).toBe(1);
    expect(issues).toEqual(validateResources(changed));
    expect(issues.map((i) => i.path)).toEqual(['virtualHosts[0].routes[1].route.prefixRewrite', 'virtualHosts[0].routes[1].route.timeoutMs']);
    expect(issues[0]!.resource).toBe('routeConfiguration/apip/routes');
  });

  it('still refuses an unchanged invalid cluster, and accepts it once fixed', async () => {
    const cache = new ValidationCache();
    const broken = (): EnvoyResources => {
      const resources = snapshot('https-upstream');
      resources.cluster[0] = { ...resources.cluster[0], connectTimeout: 5 };
      return resources;
    };
    const expected: ValidationIssue[] = validateResources(broken());
    expect(expected).toEqual([expect.objectContaining({ resource: `cluster/${String(snapshot('https-upstream').cluster[0]!.name)}`, path: 'connectTimeout' })]);
    expect(await validateResourcesAsync(broken(), cache)).toEqual(expected);
    // Same invalid content again: taken from the cache, still reported.
    expect(await validateResourcesAsync(broken(), cache)).toEqual(expected);
    expect(cache.walked).toBe(0);
    expect(await validateResourcesAsync(snapshot('https-upstream'), cache)).toEqual([]);
    expect(cache.walked).toBe(1);
  });

  it('gives the full check’s issues, in order, for several broken units in one snapshot', async () => {
    const cache = new ValidationCache();
    await validateResourcesAsync(snapshot('upstream-definitions'), cache);
    const changed = snapshot('upstream-definitions');
    const routes = routesOf(changed);
    routes[0]!.match = { ...routes[0]!.match, bogus: true };
    routes[routes.length - 1]!.route = {};
    changed.cluster[1] = { ...changed.cluster[1], type: 'DNS' };
    const issues = await validateResourcesAsync(changed, cache, { sliceMs: 0 });
    expect(issues.length).toBeGreaterThanOrEqual(3);
    expect(issues).toEqual(validateResources(changed));
  });
});

describe('SnapshotRunner with the incremental check', () => {
  it('never publishes a snapshot whose changed route is invalid, even when the rest is cached', async () => {
    let next: () => EnvoyResources = () => snapshot('policy-chains');
    const cache = new SnapshotCache({ epoch: 1 });
    const validation = new ValidationCache();
    const runner = new SnapshotRunner<null>({
      db: null as never,
      changes: new ChangeFeed(),
      cache,
      logger: pino({ level: 'silent' }),
      now: () => new Date(0),
      pipeline: {
        loadModel: async () => null,
        translate: () => ({ resources: next(), problems: [] }),
        validate: (resources) => validateResourcesAsync(resources, validation),
      },
    });
    try {
      await runner.start();
      const good = cache.current()!;
      expect(good.version).toBe('1-1');

      next = () => {
        const resources = snapshot('policy-chains');
        routesOf(resources)[0]!.match = { prefix: '/', path: '/both' };
        return resources;
      };
      await runner.rebuild('change');
      expect(cache.current()).toBe(good);
      expect(runner.problems()).toEqual([expect.objectContaining({ path: 'virtualHosts[0].routes[0].match.path', message: expect.stringContaining('only one of oneof') })]);
      // Rebuilt unchanged (the invalid route now comes from the cache): still refused.
      await runner.rebuild('refresh');
      expect(cache.current()).toBe(good);
      expect(validation.walked).toBe(0);

      next = () => snapshot('policy-chains');
      await runner.rebuild('change');
      expect(cache.current()).toBe(good);
      expect(runner.problems()).toEqual([]);
    } finally {
      await runner.close();
    }
  });
});
