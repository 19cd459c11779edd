import { type EnvoyResources, type ResourceKind, resourceName, typeUrls } from '../envoy/resources.ts';
import { xdsClusterName } from './names.ts';

/**
 * Cross-resource consistency of one snapshot: what each resource names must exist, or Envoy would take the snapshot
 * and black-hole traffic instead of refusing it. A route to a missing cluster answers 503 `NC` ("cluster not
 * found"); an RDS name no RouteConfiguration carries leaves the listener warming; an EDS cluster without its
 * ClusterLoadAssignment never leaves warming, and a load assignment for no cluster is silently ignored; a wasm
 * `remote` fetch through a missing cluster fails the filter, and with it the listener.
 * https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#eventual-consistency-considerations
 */

/** Clusters Envoy's bootstrap defines (envoy/bootstrap.yaml): references to them need no snapshot resource. */
export const bootstrapClusterNames: readonly string[] = [xdsClusterName];

/** Shaped as validate.ts's issues, which this check's are part of. */
export interface ConsistencyIssue {
  resource: string;
  path: string;
  message: string;
}

interface Reference {
  /** The resource that holds the reference (`<kind>/<name>`) and where inside it. */
  resource: string;
  path: string;
  /** The kind of resource named, and its name. */
  kind: 'cluster' | 'routeConfiguration';
  name: string;
}

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Every cluster or route-configuration name a resource refers to, wherever it sits (a route's action, weighted
 * clusters, an HTTP URI, a gRPC service, an RDS source): found by the fields that hold such names in Envoy's API,
 * so a filter or per-route config added later is covered without a change here.
 */
function collectReferences(value: unknown, path: string, resource: string, into: Reference[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => collectReferences(item, `${path}[${i}]`, resource, into));
    return;
  }
  if (!isNode(value)) return;
  const at = (key: string) => (path === '' ? key : `${path}.${key}`);
  // RouteAction.cluster, HttpUri.cluster
  if (typeof value.cluster === 'string') {
    into.push({ resource, path: at('cluster'), kind: 'cluster', name: value.cluster });
  }
  // GrpcService.EnvoyGrpc.cluster_name (ClusterLoadAssignment.cluster_name is the resource's own name, not a reference)
  if (isNode(value.envoyGrpc) && typeof value.envoyGrpc.clusterName === 'string') {
    into.push({ resource, path: at('envoyGrpc.clusterName'), kind: 'cluster', name: value.envoyGrpc.clusterName });
  }
  // WeightedCluster.ClusterWeight.name
  if (isNode(value.weightedClusters) && Array.isArray(value.weightedClusters.clusters)) {
    value.weightedClusters.clusters.forEach((weighted: unknown, i: number) => {
      if (isNode(weighted) && typeof weighted.name === 'string') {
        into.push({ resource, path: at(`weightedClusters.clusters[${i}].name`), kind: 'cluster', name: weighted.name });
      }
    });
  }
  // HttpConnectionManager.rds.route_config_name
  if (isNode(value.rds) && typeof value.rds.routeConfigName === 'string') {
    into.push({ resource, path: at('rds.routeConfigName'), kind: 'routeConfiguration', name: value.rds.routeConfigName });
  }
  for (const [key, child] of Object.entries(value)) {
    if (key === 'weightedClusters' || key === 'envoyGrpc' || key === 'rds') continue;
    collectReferences(child, at(key), resource, into);
  }
}

function namesOf(resources: EnvoyResources, kind: ResourceKind): Map<string, number> {
  const counts = new Map<string, number>();
  for (const resource of resources[kind]) {
    const name = resourceName(kind, resource);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Every inconsistency of the snapshot; empty when each name it uses resolves within it (or to the bootstrap). */
export function checkConsistency(resources: EnvoyResources, staticClusters: readonly string[] = bootstrapClusterNames): ConsistencyIssue[] {
  const issues: ConsistencyIssue[] = [];
  const names = Object.fromEntries((Object.keys(typeUrls) as ResourceKind[]).map((kind) => [kind, namesOf(resources, kind)])) as Record<ResourceKind, Map<string, number>>;
  for (const kind of Object.keys(typeUrls) as ResourceKind[]) {
    for (const [name, count] of names[kind]) {
      if (name === '') issues.push({ resource: `${kind}/`, path: '.', message: `a ${kind} has no name` });
      else if (count > 1) issues.push({ resource: `${kind}/${name}`, path: '.', message: `${count} ${kind} resources share the name '${name}'` });
    }
  }

  const clusters = new Set([...names.cluster.keys(), ...staticClusters]);
  const references: Reference[] = [];
  for (const kind of ['listener', 'routeConfiguration', 'cluster'] as const) {
    for (const resource of resources[kind]) {
      // A cluster's own load_assignment names the cluster itself; only what it points elsewhere counts.
      const { loadAssignment: _own, ...rest } = resource;
      collectReferences(kind === 'cluster' ? rest : resource, '', `${kind}/${resourceName(kind, resource)}`, references);
    }
  }
  for (const reference of references) {
    const known = reference.kind === 'cluster' ? clusters.has(reference.name) : names.routeConfiguration.has(reference.name);
    if (!known) issues.push({ resource: reference.resource, path: reference.path, message: `names ${reference.kind === 'cluster' ? 'cluster' : 'route configuration'} '${reference.name}', which the snapshot does not have` });
  }

  // EDS clusters and their load assignments pair up one to one.
  const edsClusters = new Set(resources.cluster.filter((cluster) => cluster.type === 'EDS').map((cluster) => resourceName('cluster', cluster)));
  for (const name of edsClusters) {
    if (!names.clusterLoadAssignment.has(name)) issues.push({ resource: `cluster/${name}`, path: 'type', message: 'EDS cluster without a ClusterLoadAssignment (it would stay warming, its routes answering 503)' });
  }
  for (const name of names.clusterLoadAssignment.keys()) {
    if (!edsClusters.has(name)) issues.push({ resource: `clusterLoadAssignment/${name}`, path: 'clusterName', message: `names no EDS cluster of the snapshot ('${name}')` });
  }
  return issues;
}
