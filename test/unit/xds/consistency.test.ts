import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EnvoyResource, EnvoyResources } from '../../../server/envoy/resources.ts';
import { translate } from '../../../server/xds/translate/translate.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { modelFromYaml } from '../../golden/xds/model-yaml.ts';

// Real snapshots (golden models: reading-list has wasm filters, vhosts-sandbox EDS clusters) are consistent; each
// test breaks one reference in a copy and expects the strict check to refuse the snapshot, naming where.
function snapshotOf(name: string): EnvoyResources {
  const model = modelFromYaml(parse(readFileSync(fileURLToPath(new URL(`../../golden/xds/in/${name}.yaml`, import.meta.url)), 'utf8')));
  const modules = Object.fromEntries(['api-key', 'jwt', 'set-headers', 'subscription-validation', 'throttle', 'oauth2', 'plan', 'basic-auth'].map((name) => [name, { sha256: 'a'.repeat(64) }]));
  const { resources } = translate(model, { controlPlaneUrl: 'http://control-plane:9090', listenerPort: 8080, keyDigestSecret: '0'.repeat(64), modules });
  return structuredClone(resources);
}

const readingList = () => snapshotOf('reading-list');

function firstRoute(resources: EnvoyResources): Record<string, unknown> {
  const hosts = resources.routeConfiguration[0]!.virtualHosts as { routes: Record<string, unknown>[] }[];
  return hosts[0]!.routes[0]!;
}

function hcm(resources: EnvoyResources): Record<string, unknown> {
  const chains = resources.listener[0]!.filterChains as { filters: { typedConfig: Record<string, unknown> }[] }[];
  return chains[0]!.filters[0]!.typedConfig;
}

const messages = (resources: EnvoyResources) => validateResources(resources).map(({ resource, path, message }) => `${resource} ${path}: ${message}`);

describe('snapshot consistency (part of the strict check)', () => {
  it('finds nothing in translated snapshots', () => {
    for (const name of ['reading-list', 'vhosts-sandbox']) expect(validateResources(snapshotOf(name))).toEqual([]);
  });

  it('refuses a route to a cluster the snapshot does not have', () => {
    const resources = readingList();
    const route = firstRoute(resources);
    // A copy: routes of one API environment share their action object (envoy-routes.ts RouteParts).
    route.route = { ...(route.route as Record<string, unknown>), cluster: 'nowhere' };
    expect(messages(resources)).toEqual([expect.stringMatching(/^routeConfiguration\/.* virtualHosts\[0\]\.routes\[0\]\.route\.cluster: names cluster 'nowhere'/)]);
  });

  it('refuses a weighted cluster that does not exist', () => {
    const resources = readingList();
    const route = firstRoute(resources);
    const existing = (route.route as { cluster: string }).cluster;
    route.route = { weightedClusters: { clusters: [{ name: existing, weight: 50 }, { name: 'gone', weight: 50 }] } };
    expect(messages(resources)).toEqual([expect.stringContaining("route.weightedClusters.clusters[1].name: names cluster 'gone'")]);
  });

  it('refuses an RDS name no route configuration carries', () => {
    const resources = readingList();
    (hcm(resources).rds as Record<string, unknown>).routeConfigName = 'other-routes';
    expect(messages(resources)).toEqual([expect.stringContaining("rds.routeConfigName: names route configuration 'other-routes'")]);
  });

  it('refuses a wasm remote fetch through a missing cluster', () => {
    const resources = readingList();
    resources.cluster = resources.cluster.filter((cluster) => cluster.name !== 'apip/control-plane');
    resources.clusterLoadAssignment = resources.clusterLoadAssignment.filter((cla) => cla.clusterName !== 'apip/control-plane');
    const found = messages(resources);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((line) => /httpUri\.cluster: names cluster 'apip\/control-plane'/.test(line))).toBe(true);
  });

  it('accepts references to the bootstrap clusters (the access-log gRPC service) but no other unknown gRPC cluster', () => {
    const resources = readingList();
    expect(JSON.stringify(resources.listener)).toContain('"clusterName":"apip-xds"');
    const text = JSON.stringify(resources.listener).replace('"clusterName":"apip-xds"', '"clusterName":"apip-elsewhere"');
    resources.listener = JSON.parse(text) as EnvoyResource[];
    expect(messages(resources)).toEqual([expect.stringContaining("envoyGrpc.clusterName: names cluster 'apip-elsewhere'")]);
  });

  it('pairs EDS clusters with their load assignments, both ways', () => {
    const resources = snapshotOf('vhosts-sandbox');
    const lost = resources.clusterLoadAssignment.shift()!;
    resources.clusterLoadAssignment.push({ ...structuredClone(lost), clusterName: 'orphan' });
    expect(messages(resources)).toEqual([
      `cluster/${String(lost.clusterName)} type: EDS cluster without a ClusterLoadAssignment (it would stay warming, its routes answering 503)`,
      "clusterLoadAssignment/orphan clusterName: names no EDS cluster of the snapshot ('orphan')",
    ]);
  });

  it('refuses two resources of one kind with the same name', () => {
    const resources = readingList();
    resources.cluster.push(structuredClone(resources.cluster[0]!));
    expect(messages(resources)).toEqual([expect.stringMatching(/^cluster\/.* \.: 2 cluster resources share the name/)]);
  });
});
