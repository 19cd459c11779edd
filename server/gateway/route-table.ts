// A RouteConfiguration compiled for matching: virtual hosts by authority, then routes in order (first match
// wins) on path (`prefix`, `path`, `safe_regex`, `path_separated_prefix`), headers (incl. `:method`) and query.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-routematch
import { compileDirectResponse, type DirectResponse } from './direct-response.ts';
import { durationMs } from './duration.ts';
import {
  arrayAt, booleanAt, ConfigError, type JsonObject, numberAt, objectAt, stringAt,
} from './json-fields.ts';
import { type FilterStates, mergeFilterStates, readFilterStates } from './per-filter-config.ts';
import { compileHeaderMatcher, compileQueryMatcher, type HeaderLookup, type HeaderMatcher, type QueryMatcher } from './matchers.ts';
import { compilePathRewrite, type PathRewriter } from './path-rewrite.ts';
import { compileFullMatch, literalPrefixOf } from '../envoy/re2.ts';
import { VirtualHostIndex } from './virtual-host-index.ts';
import { readRetryPolicy, type RetryPolicy } from './retry-policy.ts';

/** Envoy's default route timeout when `timeout` is absent; `0s` disables it.
 *  https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-timeout */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
}

export type HostRewrite = { kind: 'auto' } | { kind: 'literal'; value: string } | null;

export type RouteAction =
  | {
    readonly kind: 'forward';
    /** One entry for `cluster`; several for `weighted_clusters`. */
    readonly clusters: readonly WeightedCluster[];
    readonly totalWeight: number;
    readonly rewrite: PathRewriter | null;
    /** 0 = no timeout. */
    readonly timeoutMs: number;
    readonly hostRewrite: HostRewrite;
    /** `retry_policy`; null: no retries. */
    readonly retry: RetryPolicy | null;
  }
  | DirectResponse;

type PathTest = (pathOnly: string) => number;

export interface CompiledRoute {
  readonly name: string;
  readonly action: RouteAction;
  /** Length of the path the match consumed (for prefix_rewrite), or -1 when the path does not match. */
  readonly matchPath: PathTest;
  readonly headers: readonly HeaderMatcher[];
  readonly query: readonly QueryMatcher[];
  /** `request_headers_to_remove` of the route configuration, virtual host and route (lower-case), removed before
   *  the upstream as Envoy's router does (filters still see them); null when none. */
  readonly removeHeaders: ReadonlySet<string> | null;
  /** HTTP filters turned on or off for this route (`typed_per_filter_config` of the route, its virtual host and
   *  the route configuration, the most specific winning); null when none of them has an entry. */
  readonly filterStates: FilterStates;
}

export interface RouteRequest {
  authority: string;
  /** The full `:path`, query included. */
  path: string;
  header: HeaderLookup;
}

export interface RouteMatch {
  route: CompiledRoute;
  virtualHost: string;
  matchedPrefixLength: number;
}

function compilePathTest(match: JsonObject, where: string): PathTest {
  const caseSensitive = booleanAt(match, 'caseSensitive', where) !== false;
  const norm = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  const prefix = stringAt(match, 'prefix', where);
  if (prefix !== undefined) {
    const want = norm(prefix);
    return (pathOnly) => (norm(pathOnly).startsWith(want) ? want.length : -1);
  }
  const path = stringAt(match, 'path', where);
  if (path !== undefined) {
    const want = norm(path);
    return (pathOnly) => (norm(pathOnly) === want ? pathOnly.length : -1);
  }
  const separated = stringAt(match, 'pathSeparatedPrefix', where);
  if (separated !== undefined) {
    const want = norm(separated);
    return (pathOnly) => {
      const candidate = norm(pathOnly);
      return candidate === want || candidate.startsWith(`${want}/`) ? want.length : -1;
    };
  }
  const safeRegex = objectAt(match, 'safeRegex', where);
  if (safeRegex !== undefined) {
    const regex = stringAt(safeRegex, 'regex', `${where}.safeRegex`);
    if (regex === undefined) throw new ConfigError(`${where}.safeRegex.regex is required`);
    const compiled = compileFullMatch(regex);
    // Most paths fail on their literal start: one startsWith before the regex (case-insensitive flags give '').
    const literal = literalPrefixOf(regex);
    if (literal === '') return (pathOnly) => (compiled.test(pathOnly) ? pathOnly.length : -1);
    return (pathOnly) => (pathOnly.startsWith(literal) && compiled.test(pathOnly) ? pathOnly.length : -1);
  }
  throw new ConfigError(`${where} needs one of prefix, path, pathSeparatedPrefix, safeRegex`);
}

function compileForward(action: JsonObject, where: string): RouteAction {
  const cluster = stringAt(action, 'cluster', where);
  const weighted = objectAt(action, 'weightedClusters', where);
  let clusters: WeightedCluster[];
  if (cluster !== undefined) {
    clusters = [{ name: cluster, weight: 1 }];
  } else if (weighted !== undefined) {
    clusters = arrayAt(weighted, 'clusters', `${where}.weightedClusters`).map((entry, i) => {
      const at = `${where}.weightedClusters.clusters[${i}]`;
      const name = stringAt(entry, 'name', at);
      if (name === undefined) throw new ConfigError(`${at}.name is required`);
      return { name, weight: numberAt(entry, 'weight', at) ?? 0 };
    });
  } else {
    throw new ConfigError(`${where} needs cluster or weightedClusters (clusterHeader is not supported)`);
  }
  const totalWeight = clusters.reduce((sum, entry) => sum + entry.weight, 0);
  if (totalWeight <= 0) throw new ConfigError(`${where}: weighted clusters need a positive total weight`);
  const literal = stringAt(action, 'hostRewriteLiteral', where);
  const hostRewrite: HostRewrite = literal !== undefined
    ? { kind: 'literal', value: literal }
    : booleanAt(action, 'autoHostRewrite', where) === true ? { kind: 'auto' } : null;
  return {
    kind: 'forward',
    clusters,
    totalWeight,
    rewrite: compilePathRewrite(action, where),
    timeoutMs: durationMs(action.timeout, DEFAULT_ROUTE_TIMEOUT_MS),
    hostRewrite,
    retry: readRetryPolicy(action, where),
  };
}

/** `request_headers_to_remove` at one level; Envoy refuses pseudo-headers and Host there. */
function headersToRemove(spec: JsonObject, where: string): string[] {
  const value = spec.requestHeadersToRemove;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((name): name is string => typeof name === 'string' && name !== '')) {
    throw new ConfigError(`${where}.requestHeadersToRemove must be an array of header names`);
  }
  return value.map((name, i) => {
    const lower = name.toLowerCase();
    if (lower.startsWith(':') || lower === 'host') throw new ConfigError(`${where}.requestHeadersToRemove[${i}]: ${name} may not be removed`);
    return lower;
  });
}

function compileRoute(spec: JsonObject, where: string, inheritedRemovals: readonly string[], inheritedFilters: FilterStates): CompiledRoute {
  const match = objectAt(spec, 'match', where);
  if (match === undefined) throw new ConfigError(`${where}.match is required`);
  const route = objectAt(spec, 'route', where);
  const direct = objectAt(spec, 'directResponse', where);
  let action: RouteAction;
  if (route !== undefined) {
    // Response headers are added to direct responses only (the one use we have); refused rather than ignored here.
    if (spec.responseHeadersToAdd !== undefined) throw new ConfigError(`${where}.responseHeadersToAdd is supported on directResponse routes only`);
    action = compileForward(route, `${where}.route`);
  } else if (direct !== undefined) {
    action = compileDirectResponse(spec, direct, where);
  } else {
    throw new ConfigError(`${where}: only route and directResponse actions are supported`);
  }
  const removals = [...inheritedRemovals, ...headersToRemove(spec, where)];
  return {
    name: stringAt(spec, 'name', where) ?? '',
    action,
    matchPath: compilePathTest(match, `${where}.match`),
    headers: arrayAt(match, 'headers', `${where}.match`).map((header, i) => compileHeaderMatcher(header, `${where}.match.headers[${i}]`)),
    query: arrayAt(match, 'queryParameters', `${where}.match`).map((query, i) => compileQueryMatcher(query, `${where}.match.queryParameters[${i}]`)),
    removeHeaders: removals.length === 0 ? null : new Set(removals),
    filterStates: mergeFilterStates(inheritedFilters, readFilterStates(spec, where)),
  };
}

interface CompiledVirtualHost {
  name: string;
  routes: CompiledRoute[];
}

export class RouteTable {
  constructor(readonly name: string, private readonly hosts: VirtualHostIndex<CompiledVirtualHost>) {}

  /** The first route of the selected virtual host that matches, or null (Envoy answers 404). */
  match(request: RouteRequest): RouteMatch | null {
    const host = this.hosts.select(request.authority);
    if (host === undefined) return null;
    const queryAt = request.path.indexOf('?');
    const pathOnly = queryAt < 0 ? request.path : request.path.slice(0, queryAt);
    let query: URLSearchParams | undefined;
    for (const route of host.routes) {
      const consumed = route.matchPath(pathOnly);
      if (consumed < 0) continue;
      if (!route.headers.every((header) => header.matches(request.header))) continue;
      if (route.query.length > 0) {
        query ??= new URLSearchParams(queryAt < 0 ? '' : request.path.slice(queryAt + 1));
        const params = query;
        if (!route.query.every((matcher) => matcher.matches(params))) continue;
      }
      return { route, virtualHost: host.name, matchedPrefixLength: consumed };
    }
    return null;
  }
}

/** Compiles a RouteConfiguration; throws ConfigError (or RegexError) on anything Envoy would refuse. */
export function compileRouteTable(config: JsonObject): RouteTable {
  const name = stringAt(config, 'name', 'routeConfiguration') ?? '';
  const where = `routeConfiguration ${JSON.stringify(name)}`;
  const index = new VirtualHostIndex<CompiledVirtualHost>();
  const configRemovals = headersToRemove(config, where);
  const configFilters = readFilterStates(config, where);
  arrayAt(config, 'virtualHosts', where).forEach((host, i) => {
    const at = `${where}.virtualHosts[${i}]`;
    const domains = host.domains;
    if (!Array.isArray(domains) || !domains.every((domain): domain is string => typeof domain === 'string') || domains.length === 0) {
      throw new ConfigError(`${at}.domains must be a non-empty array of strings`);
    }
    const hostRemovals = [...configRemovals, ...headersToRemove(host, at)];
    const hostFilters = mergeFilterStates(configFilters, readFilterStates(host, at));
    const routes = arrayAt(host, 'routes', at).map((route, r) => compileRoute(route, `${at}.routes[${r}]`, hostRemovals, hostFilters));
    index.add(domains, { name: stringAt(host, 'name', at) ?? '', routes }, at);
  });
  return new RouteTable(name, index);
}
