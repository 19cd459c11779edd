import type { IrDestination, IrRewrite, IrRoute, IrSnapshot, PolicyKind } from '../ir.ts';
import { conditionVerdictsHeader, identityHeaders, notFoundRouteName, methodOverrideHeaders, routeConfigurationName, virtualHostName, wasmFilterName } from '../names.ts';
import { modulesByRoute } from './route-modules.ts';
import { withQuery } from './paths.ts';
import { protoDuration } from './durations.ts';
import { type EnvoyResource, extensionTypeUrls } from '../../envoy/resources.ts';

/**
 * A FilterConfig with no `config` and `disabled` false: enables, on the route that has it, an HTTP filter the
 * connection manager disables by default (envoy-listener.ts `buildHttpFilters`); Envoy keys the entry by the
 * filter's name in the connection manager.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-filterconfig
 */
const enableFilter = { '@type': extensionTypeUrls.filterConfig };

/** Client-sent identity headers, removed before the upstream on routes no module runs on (none strips them). */
const clientIdentity: readonly string[] = Object.values(identityHeaders);

/** The headers a route removes before the upstream, by which modules run on it and whether it allows method
 *  overrides: six lists shared by every route (a 10,000-route configuration holds six arrays, not 10,000). */
const removedHeaders = {
  modules: { removed: [...methodOverrideHeaders] as readonly string[], allowed: [] as readonly string[] },
  // The condition module's verdicts are for the modules after it only.
  conditional: { removed: [...methodOverrideHeaders, conditionVerdictsHeader] as readonly string[], allowed: [conditionVerdictsHeader] as readonly string[] },
  none: { removed: [...methodOverrideHeaders, ...clientIdentity] as readonly string[], allowed: clientIdentity },
};

/**
 * Sub-objects many routes have in common are built once per translation and shared: the `:method` header match
 * per method, and the whole route action of regex routes (one per API environment, whose rewrite is the
 * context's). Resources are never mutated after translation (serialised, encoded, compiled by the gateway).
 */
class RouteParts {
  private readonly enabledFilters = new Map<readonly PolicyKind[], Record<string, unknown>>();
  private readonly methodHeaders = new Map<string, Record<string, unknown>[]>();
  private readonly sharedActions = new Map<IrDestination, { action: Record<string, unknown>; rewrite: IrRewrite; autoHostRewrite: boolean; hostRewrite: string | null }>();

  match(route: IrRoute): Record<string, unknown> {
    let headers = this.methodHeaders.get(route.method);
    // The method is the `:method` pseudo-header. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-headermatcher
    if (headers === undefined) this.methodHeaders.set(route.method, (headers = [{ name: ':method', stringMatch: { exact: route.method } }]));
    const { regex, guard } = route.match;
    if (guard === undefined) return { safeRegex: { regex }, headers };
    // A guarded route: the path (without query) must match the guard, and the operation's own regex is checked on
    // the `:path` header, whose query string withQuery allows.
    return { safeRegex: { regex: guard }, headers: [...headers, { name: ':path', stringMatch: { safeRegex: { regex: withQuery(regex) } } }] };
  }

  /** `typed_per_filter_config` enabling a route's modules; one object per set of modules (modulesByRoute shares them). */
  filters(kinds: readonly PolicyKind[]): Record<string, unknown> {
    let config = this.enabledFilters.get(kinds);
    if (config === undefined) this.enabledFilters.set(kinds, (config = Object.fromEntries(kinds.map((kind) => [wasmFilterName(kind), enableFilter]))));
    return config;
  }

  action(route: IrRoute): Record<string, unknown> {
    const rewrite = route.rewrite;
    // prefix rewrites are per operation; the others depend on the API environment only.
    if (rewrite?.kind === 'prefix') return routeAction(route);
    const shared = this.sharedActions.get(route.destination);
    if (shared && shared.autoHostRewrite === route.autoHostRewrite && shared.hostRewrite === route.hostRewrite && sameRewrite(shared.rewrite, rewrite)) return shared.action;
    const action = routeAction(route);
    if (!shared) this.sharedActions.set(route.destination, { action, rewrite, autoHostRewrite: route.autoHostRewrite, hostRewrite: route.hostRewrite });
    return action;
  }
}

function sameRewrite(a: IrRewrite, b: IrRewrite): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind === 'regex' && b.kind === 'regex') return a.pattern === b.pattern && a.substitution === b.substitution;
  return a.kind === 'prefix' && b.kind === 'prefix' && a.prefix === b.prefix;
}

/**
 * A route answered by the data plane itself (IR `reply`): Envoy's router sends the body as a local reply, after
 * applying the route's `response_headers_to_add`, so the content type is set there (a local reply with a body is
 * text/plain unless a header says otherwise).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-directresponseaction
 */
function directResponseRoute(name: string, match: Record<string, unknown>, reply: Extract<IrDestination, { kind: 'reply' }>): Record<string, unknown> {
  return {
    name,
    match,
    directResponse: { status: reply.status, body: { inlineString: reply.body } },
    responseHeadersToAdd: [{ header: { key: 'content-type', value: 'application/json' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  };
}

/** Last in every virtual host: the reference's `no-api-found`, 404 `{"error":"Not Found"}` for any path and method. */
function notFoundRoute(): Record<string, unknown> {
  return directResponseRoute(notFoundRouteName, { prefix: '/' }, { kind: 'reply', status: 404, body: '{"error":"Not Found"}' });
}

function routeAction(route: IrRoute): Record<string, unknown> {
  if (route.destination.kind === 'reply') throw new Error(`route ${route.name} has no route action: it answers itself`);
  const action: Record<string, unknown> =
    route.destination.kind === 'cluster'
      ? { cluster: route.destination.cluster }
      : { weightedClusters: { clusters: route.destination.clusters.map((c) => ({ name: c.cluster, weight: c.weight })) } };
  if (route.rewrite?.kind === 'prefix') action.prefixRewrite = route.rewrite.prefix;
  if (route.rewrite?.kind === 'regex') action.regexRewrite = { pattern: { regex: route.rewrite.pattern }, substitution: route.rewrite.substitution };
  // Host becomes the chosen endpoint's `hostname` (set on every endpoint, see envoy-clusters.ts).
  // https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-auto-host-rewrite
  if (route.autoHostRewrite) action.autoHostRewrite = true;
  // hostRewrite manual with a host-rewrite policy (one of the host_rewrite_specifier oneof).
  // https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-host-rewrite-literal
  else if (route.hostRewrite !== null) action.hostRewriteLiteral = route.hostRewrite;
  if (route.retry) action.retryPolicy = retryPolicy(route.retry);
  return action;
}

/** A retry avoids the hosts already tried (Envoy retries in the same cluster, possibly on the same host). */
const previousHosts = [{
  name: 'envoy.retry_host_predicates.previous_hosts',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
}];

/** https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-retrypolicy */
function retryPolicy(retry: NonNullable<IrRoute['retry']>): Record<string, unknown> {
  return {
    retryOn: retry.retryOn,
    numRetries: retry.numRetries,
    ...(retry.perTryTimeoutMs === null ? {} : { perTryTimeout: protoDuration(retry.perTryTimeoutMs) }),
    retryHostPredicate: previousHosts,
    hostSelectionRetryMaxAttempts: 3,
    ...(retry.retriableStatusCodes.length === 0 ? {} : { retriableStatusCodes: retry.retriableStatusCodes }),
  };
}

/**
 * One RouteConfiguration; a virtual host per domain (sorted by name), its routes in IR order, which is match
 * order: Envoy takes the first route that matches (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_routing).
 * Each route enables the wasm filters of the modules it runs (modulesByRoute). Before the upstream, a route removes
 * the method-override headers unless its operation allows them (`allowMethodOverride`), and client-sent identity
 * headers when no module runs on it (where modules run, the first strips them before the others read them, and
 * removing them at the router would also remove the identity the modules set). Per route, not on the
 * RouteConfiguration: Envoy removes the union of the levels' lists, so a route could not keep a header removed above.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-route-request-headers-to-remove
 */
export function buildRouteConfiguration(ir: IrSnapshot): EnvoyResource {
  const parts = new RouteParts();
  const { modules } = modulesByRoute(ir);
  const byDomain = new Map<string, Record<string, unknown>[]>();
  for (const route of ir.routes) {
    if (route.destination.kind === 'reply') {
      // A direct response reaches no upstream and runs no module (closed APIs are in no module's tables).
      const list = byDomain.get(route.domain);
      const envoyRoute = directResponseRoute(route.name, parts.match(route), route.destination);
      if (list) list.push(envoyRoute);
      else byDomain.set(route.domain, [envoyRoute]);
      continue;
    }
    const envoyRoute: Record<string, unknown> = { name: route.name, match: parts.match(route), route: parts.action(route) };
    const kinds = modules.get(route.name) ?? [];
    if (kinds.length > 0) envoyRoute.typedPerFilterConfig = parts.filters(kinds);
    const removed = removedHeaders[kinds[0] === 'condition' ? 'conditional' : kinds.length > 0 ? 'modules' : 'none'][route.allowMethodOverride ? 'allowed' : 'removed'];
    if (removed.length > 0) envoyRoute.requestHeadersToRemove = removed;
    const list = byDomain.get(route.domain);
    if (list) list.push(envoyRoute);
    else byDomain.set(route.domain, [envoyRoute]);
  }
  // Every host is served, with or without APIs: what no route matches gets the same JSON 404 from Envoy as from
  // the embedded gateway (Envoy's own no-route answer has no body).
  if (!byDomain.has('*')) byDomain.set('*', []);
  const virtualHosts = [...byDomain.entries()]
    .map(([domain, routes]) => ({ name: virtualHostName(domain), domains: [domain], routes: [...routes, notFoundRoute()] }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name: routeConfigurationName, virtualHosts };
}
