import type { IrCluster, IrDownstreamTls, IrRoute, IrSnapshot, IrTables } from '../ir.ts';
import type { Problem } from '../../domain/errors.ts';
import type { DeployedApi, DeploymentModel } from '../../domain/deployment-model.ts';
import { routeClaims } from '../../domain/route-claims.ts';
import { reachabilityOf, servingPlanStatuses } from '../../domain/reachability.ts';
import { controlPlaneClusterName, listenerName, tracingCollectorClusterName } from '../names.ts';
import { buildApiRoutes } from './api-routes.ts';
import { buildApiTables, emptyTables } from './api-tables.ts';
import { indexModel } from './model-index.ts';
import { matchOrderKey } from './paths.ts';
import { parseUpstreamUrl } from '../upstream-url.ts';
import { defaultConnectTimeoutMs } from './upstreams.ts';

export interface TranslateOptions {
  /** Base URL data planes fetch `/policies/<name>.wasm` from (`http://control-plane:9090`). */
  controlPlaneUrl: string;
  /** Port of the HTTP listener. */
  listenerPort: number;
  /** Downstream TLS of the listener (`GATEWAY_TLS_*`). @default plaintext */
  downstreamTls?: IrDownstreamTls | undefined;
  /** Policy modules the control plane serves, by name, with their sha256 (policies/build/manifest.json). */
  modules: Readonly<Record<string, { sha256: string }>>;
  /** The digest key as 64 hex characters (secrets.ts `keyDigest`): the key-checking modules' `digestKey`. */
  keyDigestSecret: string;
  /** Platform-wide settings merged into a module's plugin configuration (basic-auth's PBKDF2 budget). */
  moduleSettings?: IrSnapshot['moduleSettings'];
  /** Envoy traces to this OTLP/HTTP collector (`…/v1/traces`), `samplingPercent` of new traces. @default no tracing */
  tracing?: { collectorUrl: string; serviceName: string; samplingPercent: number } | undefined;
}

/** The tracer's collector as an IR cluster; a URL that is not one is the operator's start-up error, not an API's problem. */
function tracingOf(options: TranslateOptions): IrSnapshot['tracing'] {
  if (options.tracing === undefined) return undefined;
  const collector = parseUpstreamUrl(options.tracing.collectorUrl);
  if (typeof collector === 'string') throw new Error(`tracing.collectorUrl: ${collector}`);
  const cluster: IrCluster = { name: tracingCollectorClusterName, endpoint: collector.endpoint, tls: collector.tls, connectTimeoutMs: defaultConnectTimeoutMs };
  return { url: options.tracing.collectorUrl, cluster, serviceName: options.tracing.serviceName, samplingPercent: options.tracing.samplingPercent };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Routes by domain, then match order (paths.ts `matchOrderKey`: literal paths, then templates with fewer
 * parameters, then wildcard prefixes; longer regexes first within each), then name, and a guarded route before
 * its operation's plain one. The keys are computed once per route into typed arrays and an index is sorted: no
 * tuple or wrapper object per route (tens of thousands of them for a large catalogue).
 */
function sortRoutes(routes: IrRoute[]): IrRoute[] {
  const n = routes.length;
  const rank = new Float64Array(n);
  const params = new Float64Array(n);
  const length = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [r, p, l] = matchOrderKey(routes[i]!.match);
    rank[i] = r;
    params[i] = p;
    length[i] = l;
  }
  const order: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const unguarded = (route: IrRoute) => (route.match.guard === undefined ? 1 : 0);
  order.sort((x, y) => {
    const a = routes[x]!;
    const b = routes[y]!;
    if (a.domain !== b.domain) return compare(a.domain, b.domain);
    return rank[x]! - rank[y]! || params[x]! - params[y]! || length[x]! - length[y]! || compare(a.name, b.name) || compare(a.method, b.method) || unguarded(a) - unguarded(b);
  });
  const sorted: IrRoute[] = new Array<IrRoute>(n);
  for (let i = 0; i < n; i++) sorted[i] = routes[order[i]!]!;
  return sorted;
}

/** The routes an API claims, by the rule the domain's deploy check uses (server/domain/route-claims.ts). */
function claimsOf(api: DeployedApi) {
  return routeClaims({
    context: api.context,
    version: api.version,
    vhostMain: api.vhosts?.main ?? null,
    vhostSandbox: api.vhosts?.sandbox ?? null,
    hasSandbox: api.upstream.sandbox !== null,
    operations: api.operations,
  });
}

/** Every table is a record keyed by something one API owns (its handle, its plans' ids, a key source). */
function mergeTables(into: IrTables, from: IrTables): void {
  for (const name of Object.keys(from) as (keyof IrTables)[]) Object.assign(into[name], from[name]);
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
  const sharedClusters = new Set<string>();
  const tables = emptyTables();
  const plans: IrSnapshot['plans'] = [];
  const reachability: IrSnapshot['reachability'] = {};
  const apis = [...model.apis].sort((a, b) => compare(a.handle, b.handle));
  for (const api of apis) {
    const apiProblems: Problem[] = [];
    // The one access rule (domain/reachability.ts): no serving plan on a PLANS or private API = every route answers 403.
    const servingPlanTypes = (index.plansByApi.get(api.id) ?? []).filter((p) => (servingPlanStatuses as readonly string[]).includes(p.status)).map((p) => p.security.type);
    const reach = reachabilityOf({ accessMode: api.accessMode, isDeployed: true, servingPlanTypes, isPrivate: api.visibility === 'private' });
    const closed = reach === 'CLOSED';
    const apiTables = buildApiTables(api, index, options.modules, apiProblems);
    const apiRoutes = buildApiRoutes(api, apiTables, options.modules, apiProblems, closed);
    const seen = new Set<string>();
    for (const claim of claimsOf(api)) {
      const owner = claimed.get(claim.key);
      if (owner !== undefined || seen.has(claim.key)) {
        apiProblems.push({ severity: 'error', api: api.handle, path: 'spec.operations', message: `route ${claim.method} ${claim.operationPath} on '${claim.vhost}' is already served${owner ? ` by '${owner}'` : ''}` });
      }
      seen.add(claim.key);
    }
    problems.push(...apiProblems);
    if (apiProblems.some((p) => p.severity === 'error')) continue;
    for (const key of seen) claimed.set(key, api.handle);
    if (reach !== 'NOT_DEPLOYED') reachability[api.handle] = reach;
    routes.push(...apiRoutes.routes);
    // A closed API sends nothing anywhere: none of its clusters or policy tables are needed.
    if (closed) continue;
    // API clusters are named after their API; an authorization server's cluster is shared by the APIs using it.
    for (const c of apiRoutes.clusters) if (!sharedClusters.has(c.name)) clusters.push(c);
    for (const c of apiTables.clusters) sharedClusters.add(c.name);
    mergeTables(tables, apiTables.tables);
    plans.push(...apiTables.plans);
  }
  const cluster: IrCluster = { name: controlPlaneClusterName, endpoint: controlPlane.endpoint, tls: controlPlane.tls, connectTimeoutMs: defaultConnectTimeoutMs };
  const tracing = tracingOf(options);
  const ir: IrSnapshot = {
    listener: { name: listenerName, port: options.listenerPort, ...(options.downstreamTls ? { tls: options.downstreamTls } : {}) },
    controlPlane: { url: `${controlPlane.tls ? 'https' : 'http'}://${controlPlane.endpoint.hostHeader}${controlPlane.basePath}`, cluster },
    modules: sortRecord({ ...options.modules }),
    keyDigestSecret: options.keyDigestSecret,
    ...(options.moduleSettings ? { moduleSettings: options.moduleSettings } : {}),
    reachability: sortRecord(reachability),
    routes: sortRoutes(routes),
    clusters: clusters.sort((a, b) => compare(a.name, b.name)),
    plans,
    tables: Object.fromEntries(Object.entries(tables).map(([name, table]) => [name, sortRecord(table)])) as unknown as IrTables,
    ...(tracing === undefined ? {} : { tracing }),
  };
  problems.sort((a, b) => compare(a.api ?? '', b.api ?? '') || compare(a.path, b.path) || compare(a.message, b.message));
  return { ir, problems };
}
