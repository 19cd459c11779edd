import type { IrCluster, IrTables } from '../ir.ts';
import type {
  DeployedAuthorizationServer,
  DeployedOAuth2Security,
  DeployedPlan,
} from '../../domain/deployment-model.ts';
import { parseUpstreamUrl } from '../translate/upstreams.ts';
import { type AttachmentContext, type ParamIssue, fail, isString, isStringArray, ok, type ParamsResult, pick, routesObject, sameSettings } from './filter.ts';

/**
 * The oauth2 module (policies/oauth2, docs/policies.md#oauth2): bearer tokens checked by RFC 7662 introspection
 * against an authorization server, the client id mapped to a subscription among the route's OAuth2 plans. This
 * file turns the deployment model's authorization servers, OAuth2 plans and subscriptions into that module's
 * tables, clusters and per-route settings; the translator wires them in (ir.ts, registry.ts, translate/*).
 */

/** The module keeps this many introspection answers (docs/policies.md#oauth2, `cacheSize`). */
export const oauth2CacheSize = 1024;

/** Per-route settings of the oauth2 module (`routes.<route>`). */
export interface OAuth2RouteSettings {
  /** A key of the module's `servers`. */
  server: string;
  /** Candidate OAuth2 plans in the API's plan order (keys of the module's `plans`); [] = token only / any entry. */
  plans: string[];
  /** Client table name, or null: the token is checked but no subscription is looked up. */
  clients: string | null;
  /** The API also offers other security types: a request without a bearer token passes on (docs/plan-selection.md). */
  optional: boolean;
  header: string;
  propagateToken: boolean;
  /** Introspection member with the client id; null = `client_id`. */
  clientIdClaim: string | null;
  /** Route-level scopes (an `oauth2` policy attachment); plans carry their own. */
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
  claimsToHeaders: { claim: string; header: string }[] | null;
}

/** One entry of the module's `servers`: where and how to introspect. Holds the client secret. */
export interface OAuth2ServerConfig {
  cluster: string;
  authority: string;
  path: string;
  clientId: string;
  clientSecret: string;
  tokenTypeHint: string | null;
  timeoutMs: number;
  maxCacheSeconds: number;
}

/** One subscription of a client id in a client table. */
export interface OAuth2ClientEntry {
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string;
  /** The subscription admits traffic now (ACCEPTED within its dates); false -> 403 Subscription is not active. */
  active: boolean;
}

/** One entry of the module's `plans`. */
export interface OAuth2PlanConfig {
  rule: string | null;
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
}

/** The module's shared tables, beside IrTables (the translator adds them there). */
export interface OAuth2Tables {
  oauth2Servers: Record<string, OAuth2ServerConfig>;
  /** table name -> client id -> entries in plan order. */
  oauth2Clients: Record<string, Record<string, OAuth2ClientEntry[]>>;
  oauth2Plans: Record<string, OAuth2PlanConfig>;
}

/** What an `oauth2` attachment may refer to besides its params (the translator provides it). */
export interface OAuth2AttachmentContext {
  /** True when the deployment model has this authorization server. */
  hasAuthorizationServer(id: string): boolean;
  /** The API's OAuth2 client table, when it has OAuth2 subscriptions. */
  oauth2Clients: string | null;
  /** The API's serving OAuth2 plans, in plan order. */
  oauth2Plans: readonly string[];
}

/** The cluster the gateway reaches authorization server `id` through. */
export function authorizationServerClusterName(id: string): string {
  return `apip/oauth2/${id}`;
}

/** The client table of an API's OAuth2 plans (same naming as jwt's: one table per API). */
export function oauth2ClientTableName(apiHandle: string): string {
  return apiHandle;
}

/**
 * The clusters of the authorization servers (one per server; the endpoint from its introspection URL, TLS for
 * https, the connect timeout bounded by the server's introspection timeout), and the problems of servers whose URL
 * cannot be one (the domain validates URLs, so only a hand-edited database gets there).
 */
export function authorizationServerClusters(servers: readonly DeployedAuthorizationServer[]): { clusters: IrCluster[]; problems: ParamIssue[] } {
  const clusters: IrCluster[] = [];
  const problems: ParamIssue[] = [];
  for (const server of servers) {
    const parsed = parseUpstreamUrl(server.introspectionUrl);
    if (typeof parsed === 'string') {
      problems.push({ path: `authorizationServers[${server.id}].introspectionUrl`, message: parsed });
      continue;
    }
    clusters.push({
      name: authorizationServerClusterName(server.id),
      endpoint: parsed.endpoint,
      tls: parsed.tls,
      connectTimeoutMs: Math.min(server.timeoutMs, 5000),
    });
  }
  clusters.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { clusters, problems };
}

/** The module's `servers` table from the model's authorization servers (only those with a usable URL). */
export function oauth2ServersTable(servers: readonly DeployedAuthorizationServer[]): Record<string, OAuth2ServerConfig> {
  const out: Record<string, OAuth2ServerConfig> = {};
  for (const server of [...servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    let url: URL;
    try {
      url = new URL(server.introspectionUrl);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    out[server.id] = {
      cluster: authorizationServerClusterName(server.id),
      authority: url.host,
      path: `${url.pathname}${url.search}`,
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      tokenTypeHint: server.tokenTypeHint,
      timeoutMs: server.timeoutMs,
      maxCacheSeconds: server.maxCacheSeconds,
    };
  }
  return out;
}

/** The module's `plans` entry of an OAuth2 plan: its selection rule and required scopes. */
export function oauth2PlanConfig(plan: Pick<DeployedPlan, 'selectionRule'> & { security: { oauth2: DeployedOAuth2Security | null } }): OAuth2PlanConfig {
  const options = plan.security.oauth2;
  const scopes = options?.requiredScopes ?? [];
  return {
    rule: plan.selectionRule,
    scopes: scopes.length > 0 ? [...scopes] : null,
    scopesMode: options?.strictScopes ? 'all' : 'any',
  };
}

/**
 * Route settings implied by an API's OAuth2 plans: the first plan's server and options over every OAuth2 plan
 * (each plan's scopes and rule live in the module's `plans`). `issues` lists plans that use another authorization
 * server than the first: one route introspects with one server, so those plans would be checked against the wrong
 * one (the translator reports them as errors, failing closed).
 */
export function oauth2SettingsFromPlan(
  plans: readonly (Pick<DeployedPlan, 'id' | 'name'> & { security: { oauth2: DeployedOAuth2Security | null } })[],
  clients: string | null,
  optional: boolean,
): { settings: OAuth2RouteSettings; issues: ParamIssue[] } {
  const oauth2 = plans.filter((p) => p.security.oauth2 !== null);
  const first = oauth2[0]?.security.oauth2 ?? null;
  const issues: ParamIssue[] = [];
  if (first === null) issues.push({ path: 'security.oauth2', message: 'no OAuth2 plan' });
  for (const plan of oauth2.slice(1)) {
    if (plan.security.oauth2!.authorizationServerId !== first!.authorizationServerId) {
      issues.push({
        path: `plans[${plan.id}].security.oauth2.authorizationServerId`,
        message: `OAuth2 plan '${plan.name}' uses another authorization server than plan '${oauth2[0]!.name}'; the OAuth2 plans of an API must share one`,
      });
    }
  }
  return {
    settings: {
      server: first?.authorizationServerId ?? '',
      plans: oauth2.map((p) => p.id),
      clients,
      optional,
      header: 'authorization',
      propagateToken: first?.propagateAuthHeader ?? false,
      clientIdClaim: first?.clientIdClaim ?? null,
      scopes: null,
      scopesMode: 'any',
      claimsToHeaders: first && first.extractClaims.length > 0 ? first.extractClaims.map((c) => ({ claim: c.claim, header: c.header.toLowerCase() })) : null,
    },
    issues,
  };
}

/** docs/policies.md#oauth2; params as in the policy registry (`oauth2`). */
export const oauth2Filter = {
  kind: 'oauth2' as const,
  aliases: [] as readonly string[],
  fromParams(params: Record<string, unknown>, ctx: AttachmentContext & OAuth2AttachmentContext): ParamsResult<OAuth2RouteSettings> {
    const issues: ParamIssue[] = [];
    const { authorizationServerId, requiredScopes, strictScopes = false, claimsToHeaders, propagateCredential = false } = params;
    if (!isString(authorizationServerId)) issues.push({ path: 'params.authorizationServerId', message: 'is required' });
    else if (!ctx.hasAuthorizationServer(authorizationServerId)) issues.push({ path: 'params.authorizationServerId', message: `no authorization server '${authorizationServerId}' is deployed` });
    if (requiredScopes !== undefined && !isStringArray(requiredScopes)) issues.push({ path: 'params.requiredScopes', message: 'must be a list of strings' });
    if (typeof strictScopes !== 'boolean') issues.push({ path: 'params.strictScopes', message: 'must be a boolean' });
    if (typeof propagateCredential !== 'boolean') issues.push({ path: 'params.propagateCredential', message: 'must be a boolean' });
    const mapped: { claim: string; header: string }[] = [];
    if (claimsToHeaders !== undefined) {
      if (!Array.isArray(claimsToHeaders)) issues.push({ path: 'params.claimsToHeaders', message: 'must be a list of {claim, header}' });
      else claimsToHeaders.forEach((c: unknown, i) => {
        const { claim, header } = (c ?? {}) as Record<string, unknown>;
        if (!isString(claim) || !isString(header)) issues.push({ path: `params.claimsToHeaders[${i}]`, message: 'must be {claim, header} strings' });
        else mapped.push({ claim, header: header.toLowerCase() });
      });
    }
    if (issues.length > 0) return fail(issues);
    return ok({
      server: authorizationServerId as string,
      plans: [...ctx.oauth2Plans],
      clients: ctx.oauth2Clients,
      optional: false,
      header: 'authorization',
      propagateToken: propagateCredential as boolean,
      clientIdClaim: null,
      scopes: isStringArray(requiredScopes) && requiredScopes.length > 0 ? requiredScopes : null,
      scopesMode: strictScopes ? 'all' : 'any',
      claimsToHeaders: mapped.length > 0 ? mapped : null,
    });
  },
  merge(earlier: OAuth2RouteSettings, later: OAuth2RouteSettings): OAuth2RouteSettings | string {
    return sameSettings(earlier, later) ? earlier : 'two different oauth2 policies apply to this route';
  },
  /** The module's configuration without `stripIdentityHeaders`; only the tables the routes use. */
  pluginConfiguration(routes: ReadonlyMap<string, OAuth2RouteSettings>, tables: IrTables & OAuth2Tables): Record<string, unknown> {
    const settings = [...routes.values()];
    return {
      cacheSize: oauth2CacheSize,
      servers: pick(tables.oauth2Servers, settings.map((r) => r.server)),
      clients: pick(tables.oauth2Clients, settings.flatMap((r) => (r.clients === null ? [] : [r.clients]))),
      plans: pick(tables.oauth2Plans, settings.flatMap((r) => r.plans)),
      routes: routesObject(routes, (r) => ({
        server: r.server,
        plans: r.plans,
        clients: r.clients,
        optional: r.optional,
        header: r.header,
        propagateToken: r.propagateToken,
        ...(r.clientIdClaim === null ? {} : { clientIdClaim: r.clientIdClaim }),
        ...(r.scopes === null ? {} : { scopes: r.scopes, scopesMode: r.scopesMode }),
        claimsToHeaders: r.claimsToHeaders,
      })),
    };
  },
};
