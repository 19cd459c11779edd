/**
 * The intermediate representation between the deployment model and Envoy resources: what every route does
 * (match, rewrite, destination, the resolved policy chain) and the tables the policy modules share (key digests,
 * client tables, quotas), already in the policy modules' own wire vocabulary (docs/policies.md). Plain data,
 * YAML-serialisable, sorted: the Envoy step only arranges it into resources.
 */

import type { Reachability } from '../domain/reachability.ts';

/** A public JWK as JSON members (what the deployment model's resolved `jwks` hold); never a private member. */
export type IrJwk = Record<string, string>;

/**
 * Each policy kind's per-route settings, by kind name. Empty here on purpose: every kind module
 * (server/policies/<kind>.ts) adds its own entry by declaration merging, so the IR imports no kind and adding a kind
 * touches no IR file. The list of kinds, and the order their filters run in, is server/policies/index.ts.
 */
export interface RouteSettingsByKind {}
export type PolicyKind = keyof RouteSettingsByKind;

/** Where a policy of a route's chain comes from. */
export type PolicySource = 'plan' | 'api' | 'operation';

/**
 * One link of a route's chain; `settings` are that module's per-route settings; `condition` the compiled execution
 * condition (docs/execution-conditions.md), absent when the policy always runs.
 */
export type IrPolicy = {
  [K in PolicyKind]: { kind: K; source: PolicySource; settings: RouteSettingsByKind[K]; condition?: unknown[] };
}[PolicyKind];

/**
 * How a route matches the path: always an anchored RE2 regex (translate/paths.ts `pathMatch`); `kind` is the
 * operation's shape, which decides match order: `exact` (a literal path, one trailing slash tolerated),
 * `template` (`{param}` segments), `prefix` (a `/*` operation: the prefix with a segment boundary).
 */
export interface IrPathMatch {
  kind: 'exact' | 'template' | 'prefix';
  regex: string;
  /**
   * A further regex the path must match (a request-rewrite ReplaceRegexMatch pattern after the context): the Envoy
   * route then matches the path on it and `regex` on the `:path` header; the same operation's unguarded route
   * follows, for the paths the pattern does not match.
   */
  guard?: string;
}

/**
 * How the matched path reaches the upstream (the query string is always kept): `prefix` replaces the whole path
 * (a regex-matched route's "matched path"), `regex` substitutes every match of `pattern` (RE2).
 */
export type IrRewrite = { kind: 'prefix'; prefix: string } | { kind: 'regex'; pattern: string; substitution: string } | null;

/**
 * Where a matched request goes: a cluster, a weighted choice of clusters, or nowhere: a `reply` the data plane
 * answers itself (a CLOSED API, docs/plan-selection.md), `body` being JSON (content-type application/json).
 */
export type IrDestination =
  | { kind: 'cluster'; cluster: string }
  | { kind: 'weighted'; clusters: { cluster: string; weight: number }[] }
  | { kind: 'reply'; status: number; body: string };

export interface IrRoute {
  /** `<api-handle>/<METHOD>/<path-template>` (names.ts). */
  name: string;
  api: string;
  method: string;
  /** The operation path as written. */
  template: string;
  /** Lowercased domain of the virtual host (`*`, `sandbox-*`, `api.example.com`). */
  domain: string;
  match: IrPathMatch;
  rewrite: IrRewrite;
  destination: IrDestination;
  /** hostRewrite `auto` (the default): Host becomes the upstream's; `manual`: the client's Host is kept. */
  autoHostRewrite: boolean;
  /** With `manual`, the Host a host-rewrite policy sets (Envoy's `host_rewrite_literal`); null: none. */
  hostRewrite: string | null;
  /**
   * The resolved chain: plan-implied authentication, then API-level, then operation-level policies, then the
   * plan entry (and the plan quota). Plan policies are per plan, in `IrPlan.policies` and `tables.planPolicies`.
   */
  policies: IrPolicy[];
  /** The chain folded per module (what each module's `routes.<name>` entry says), in httpFilterOrder. */
  settings: Partial<RouteSettingsByKind>;
  /** Serving plans that admit traffic on this route, in the API's plan order (the plan module's `plans`). */
  plans: string[];
  /** The operation opted in to keeping the method-override headers; otherwise the route removes them. */
  allowMethodOverride: boolean;
  /** The API's retry policy (Envoy route `retry_policy`); absent: no retries. */
  retry?: IrRetryPolicy;
}

/** Envoy's `retry_policy` in its own vocabulary: `retryOn` is the comma-separated condition list. */
export interface IrRetryPolicy {
  retryOn: string;
  /** With `retriable-status-codes` in retryOn. */
  retriableStatusCodes: number[];
  numRetries: number;
  perTryTimeoutMs: number | null;
}

/** An HTTP active health check (Envoy `health_checks[]` with `http_health_check`). */
export interface IrHealthCheck {
  path: string;
  host: string | null;
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  /** Half-open [start, end) ranges, as Envoy's Int64Range. */
  expectedStatuses: { start: number; end: number }[];
}

export interface IrOutlierDetection {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
}

export interface IrEndpoint {
  /** Host name or IP literal (no brackets). */
  host: string;
  port: number;
  isIp: boolean;
  /** For auto host rewrite: `host[:port]` as in the URL (port omitted when it is the scheme's default). */
  hostHeader: string;
}

export interface IrCluster {
  name: string;
  endpoint: IrEndpoint;
  tls: boolean;
  connectTimeoutMs: number;
  healthCheck?: IrHealthCheck;
  outlierDetection?: IrOutlierDetection;
  /** Envoy `circuit_breakers.thresholds[].retry_budget.budget_percent`, with routes that retry. */
  retryBudgetPercent?: number;
}

export interface IrApiKey {
  sha256: string;
  /** `suspended`: the key's subscription does not admit traffic now (403, not 401). */
  status: 'active' | 'suspended';
  expiresAt: number | null;
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
  propagateCredential: boolean;
}

/** One subscription of a token client (jwt / oauth2 `clients` tables); `active: false` -> 403. */
export interface IrClientIdentity {
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
  active: boolean;
}

/** A plan as the authentication modules see it (their top-level `plans`). */
export interface IrAuthPlan {
  /** Selection rule (docs/plan-selection.md), null: always. */
  rule: string | null;
}

/** A JWT plan: its rule, its own required scopes and its token lifetime rules. */
export interface IrJwtPlan extends IrAuthPlan {
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
  /** A token without `exp` cannot select the plan. */
  requireExpiration: boolean;
  /** The longest exp - iat admitted, in seconds; null = no bound. */
  maxLifetimeSeconds: number | null;
}

/** A plan as the `plan` module sees it. */
export interface IrSelectionPlan {
  name: string;
  security: IrPlan['security'];
  rule: string | null;
}

/** One entry of the oauth2 module's `servers`: where and how to introspect. Holds the client secret. */
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

/** One subscription of a client id in an oauth2 client table. */
export interface OAuth2ClientEntry {
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string;
  /** The subscription admits traffic now (ACCEPTED within its dates); false -> 403 Subscription is not active. */
  active: boolean;
}

/** One entry of the oauth2 module's `plans`. */
export interface OAuth2PlanConfig {
  /** The plan's authorization server: only tokens it says active select the plan. */
  server?: string;
  rule: string | null;
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
}

export interface IrQuotaPlan {
  limits: { requests: number; windowMs: number }[];
  stopOnQuotaReach: boolean;
}

export interface IrSubscriptionPlan {
  name: string;
  throttleLimitCount: number;
  throttleLimitUnit: 'Min' | 'Hour' | 'Day' | 'Month' | null;
  stopOnQuotaReach: boolean;
}

export interface IrSubscription {
  id: string;
  applicationId: string | null;
  tokenSha256: string | null;
  status: 'ACTIVE' | 'INACTIVE' | 'REVOKED';
  plan: string | null;
}

export interface IrPlan {
  id: string;
  api: string;
  name: string;
  security: 'KEYLESS' | 'API_KEY' | 'JWT' | 'OAUTH2';
  rule: string | null;
  /** The plan's own policies, resolved (`planPolicies.<id>` of their modules; a throttle is the plan's quota). */
  policies: IrPolicy[];
}

/**
 * Tables shared by the routes of every API, each policy module's top-level configuration. Every table is a record
 * keyed by something a single API owns (its handle, its plans' ids, a key source), so APIs' tables merge by key.
 */
export interface IrTables {
  apiKeySets: Record<string, IrApiKey[]>;
  /** api-key `plans`: the API_KEY plans' selection rules. */
  apiKeyPlans: Record<string, IrAuthPlan>;
  jwtKeySets: Record<string, IrJwk[]>;
  /** client id -> its subscriptions to the API's JWT plans, in plan order. */
  jwtClients: Record<string, Record<string, IrClientIdentity[]>>;
  /** jwt `plans`: the JWT plans' rules and scopes. */
  jwtPlans: Record<string, IrJwtPlan>;
  /** oauth2 `servers`: the authorization servers' introspection settings (with their client secrets). */
  oauth2Servers: Record<string, OAuth2ServerConfig>;
  /** oauth2 `clients`, as jwtClients for the API's OAUTH2 plans. */
  oauth2Clients: Record<string, Record<string, OAuth2ClientEntry[]>>;
  /** oauth2 `plans`: the OAUTH2 plans' rules and scopes. */
  oauth2Plans: Record<string, OAuth2PlanConfig>;
  /** plan `plans`: every serving plan of the translated APIs. */
  selectionPlans: Record<string, IrSelectionPlan>;
  /** Plan policies by plan id, folded per module: each module's `planPolicies.<plan id>`. */
  planPolicies: Record<string, Partial<RouteSettingsByKind>>;
  /** throttle `plans`, keyed by what `x-apip-plan` carries (the plan id). */
  quotaPlans: Record<string, IrQuotaPlan>;
  /** subscription-validation `plans` (v0.9 subscription plans by id) and `apis`. */
  subscriptionPlans: Record<string, IrSubscriptionPlan>;
  subscriptionApis: Record<string, { subscriptions: IrSubscription[] }>;
}

/** Downstream TLS of the listener (operator settings `GATEWAY_TLS_*`): file paths each data plane reads on its own
 *  machine, so no key travels in the configuration. */
export interface IrDownstreamTls {
  certFile: string;
  keyFile: string;
  /** CA bundle client certificates are verified against; required unless clientCert is `none`. */
  clientCaFile?: string | undefined;
  /** `optional`: a presented certificate must verify; `required`: a client without one is refused. */
  clientCert: 'none' | 'optional' | 'required';
}

export interface IrSnapshot {
  listener: { name: string; port: number; tls?: IrDownstreamTls | undefined };
  controlPlane: { url: string; cluster: IrCluster };
  /** Modules available to data planes, with their sha256. */
  modules: Record<string, { sha256: string }>;
  /** HMAC key of the key digests in `tables`, hex; shipped only to the modules that digest keys. */
  keyDigestSecret: string;
  /** Platform-wide settings of a module, merged into its plugin configuration (absent: the module's defaults). */
  moduleSettings?: Partial<Record<string, Record<string, unknown>>>;
  /**
   * How each translated API (by handle) is reachable (domain/reachability.ts): an API left out by an error is
   * absent; a CLOSED API's routes all have a `reply` destination.
   */
  reachability: Record<string, Exclude<Reachability, 'NOT_DEPLOYED'>>;
  /** Sorted by name; routes in match order. */
  routes: IrRoute[];
  clusters: IrCluster[];
  plans: IrPlan[];
  tables: IrTables;
  /** Envoy's OpenTelemetry tracer (absent: no tracing): the collector's traces URL and cluster. */
  tracing?: { url: string; cluster: IrCluster; serviceName: string; samplingPercent: number };
}
