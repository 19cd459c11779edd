import type { IrCluster, IrRoute, IrSnapshot, IrTables, Problem } from '../ir.ts';
import type { DeploymentModel } from '../../domain/deployment-model.ts';
import { controlPlaneClusterName, listenerName } from '../names.ts';
import { buildApiRoutes } from './api-routes.ts';
import { buildApiTables, emptyTables } from './api-tables.ts';
import { indexModel } from './model-index.ts';
import { matchOrderKey } from './paths.ts';
import { defaultConnectTimeoutMs, parseUpstreamUrl } from './upstreams.ts';

export interface TranslateOptions {
  /** Base URL data planes fetch `/policies/<name>.wasm` from (`http://control-plane:9090`). */
  controlPlaneUrl: string;
  /** Port of the HTTP listener. */
  listenerPort: number;
  /** Policy modules the control plane serves, by name, with their sha256 (policies/build/manifest.json). */
  modules: Readonly<Record<string, { sha256: string }>>;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Routes by domain, then match order (paths.ts), then name; keys computed once per route. */
function sortRoutes(routes: IrRoute[]): IrRoute[] {
  const keyed = routes.map((route) => ({ route, key: matchOrderKey(route.match) }));
  keyed.sort((a, b) => {
    if (a.route.domain !== b.route.domain) return compare(a.route.domain, b.route.domain);
    for (let i = 0; i < 3; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!;
    return compare(a.route.name, b.route.name) || compare(a.route.method, b.route.method);
  });
  return keyed.map((k) => k.route);
}

/** What two routes must not share: the same request on the same host would reach only the first. */
function claimKey(route: IrRoute): string {
  const path = route.match.kind === 'exact' ? `=${route.match.path}` : `~${route.match.regex}`;
  return `${route.domain} ${route.method} ${path}`;
}

function mergeTables(into: IrTables, from: IrTables): void {
  Object.assign(into.apiKeySets, from.apiKeySets);
  Object.assign(into.jwtKeySets, from.jwtKeySets);
  Object.assign(into.jwtClients, from.jwtClients);
  Object.assign(into.quotaPlans, from.quotaPlans);
  Object.assign(into.subscriptionPlans, from.subscriptionPlans);
  Object.assign(into.subscriptionApis, from.subscriptionApis);
}

function sortRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}

/**
 * Model -> IR. Pure: the same model and options always give the same IR. Each API is translated on its own;
 * an API with an error is left out whole (its routes, clusters and table entries), the others are unaffected.
 * APIs are taken in handle order, so when two claim the same route the later one is left out.
 */
export function buildIr(model: DeploymentModel, options: TranslateOptions): { ir: IrSnapshot; problems: Problem[] } {
  const controlPlane = parseUpstreamUrl(options.controlPlaneUrl.replace(/\/+$/, ''));
  if (typeof controlPlane === 'string') throw new Error(`controlPlaneUrl: ${controlPlane}`);
  const index = indexModel(model);
  const problems: Problem[] = [];
  const claimed = new Map<string, string>();
  const routes: IrRoute[] = [];
  const clusters: IrCluster[] = [];
  const tables = emptyTables();
  const plans: IrSnapshot['plans'] = [];
  const apis = [...model.apis].sort((a, b) => compare(a.handle, b.handle));
  for (const api of apis) {
    const apiProblems: Problem[] = [];
    const apiTables = buildApiTables(api, index, options.modules, apiProblems);
    const apiRoutes = buildApiRoutes(api, apiTables, options.modules, apiProblems);
    const seen = new Set<string>();
    for (const route of apiRoutes.routes) {
      const key = claimKey(route);
      const owner = claimed.get(key);
      if (owner !== undefined || seen.has(key)) {
        apiProblems.push({ severity: 'error', api: api.handle, path: 'spec.operations', message: `route ${route.method} ${route.template} on '${route.domain}' is already served${owner ? ` by '${owner}'` : ''}` });
      }
      seen.add(key);
    }
    problems.push(...apiProblems);
    if (apiProblems.some((p) => p.severity === 'error')) continue;
    for (const key of seen) claimed.set(key, api.handle);
    routes.push(...apiRoutes.routes);
    clusters.push(...apiRoutes.clusters);
    mergeTables(tables, apiTables.tables);
    plans.push(...apiTables.plans);
  }
  const cluster: IrCluster = { name: controlPlaneClusterName, endpoint: controlPlane.endpoint, tls: controlPlane.tls, connectTimeoutMs: defaultConnectTimeoutMs };
  const ir: IrSnapshot = {
    listener: { name: listenerName, port: options.listenerPort },
    controlPlane: { url: `${controlPlane.tls ? 'https' : 'http'}://${controlPlane.endpoint.hostHeader}${controlPlane.basePath}`, cluster },
    modules: sortRecord({ ...options.modules }),
    routes: sortRoutes(routes),
    clusters: clusters.sort((a, b) => compare(a.name, b.name)),
    plans,
    tables: {
      apiKeySets: sortRecord(tables.apiKeySets),
      jwtKeySets: sortRecord(tables.jwtKeySets),
      jwtClients: sortRecord(tables.jwtClients),
      quotaPlans: sortRecord(tables.quotaPlans),
      subscriptionPlans: sortRecord(tables.subscriptionPlans),
      subscriptionApis: sortRecord(tables.subscriptionApis),
    },
  };
  problems.sort((a, b) => compare(a.api ?? '', b.api ?? '') || compare(a.path, b.path) || compare(a.message, b.message));
  return { ir, problems };
}
