import type { PublicJwk } from '../domain/deployment-model.ts';

/**
 * The intermediate representation between the deployment model and Envoy resources: what every route does
 * (match, rewrite, destination, the resolved policy chain) and the tables the policy modules share (key digests,
 * client tables, quotas), already in the policy modules' own wire vocabulary (docs/policies.md). Plain data,
 * YAML-serialisable, sorted: the Envoy step only arranges it into resources.
 */

/** One translation finding. `error`: the API is left out of the snapshot; `warning`: translated anyway. */
export interface Problem {
  severity: 'error' | 'warning';
  /** The API's handle, or null for a finding about the snapshot as a whole. */
  api: string | null;
  /** Where in the API (`spec.operations[1].policies[0].params.key`), or `plans[<id>]…`. */
  path: string;
  message: string;
}

/** The policy modules we ship (policies/<kind>/), i.e. the wasm HTTP filters the translator can configure. */
export const policyKinds = ['api-key', 'jwt', 'subscription-validation', 'throttle', 'set-headers'] as const;
export type PolicyKind = (typeof policyKinds)[number];

export interface ApiKeyRouteSettings {
  keySets: string[];
  key: string;
  in: 'header' | 'query';
  valuePrefix: string;
  propagateCredential: boolean;
}

export interface JwtRouteSettings {
  keySets: string[];
  algorithms: string[] | null;
  header: string;
  scheme: string;
  issuer: string | null;
  audience: string[] | null;
  leewaySeconds: number;
  requiredClaims: string[] | null;
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
  clients: string | null;
  clientIdClaim: string | null;
  userClaim: string | null;
  claimsToHeaders: { claim: string; header: string }[] | null;
  propagateToken: boolean;
}

export interface HeaderList {
  headers: { name: string; value: string }[];
}

export interface SetHeadersRouteSettings {
  request: HeaderList | null;
  response: HeaderList | null;
}

export interface ThrottleLimit {
  requests: number;
  windowMs: number;
  scope: 'route' | 'api' | 'application' | 'subscription';
  key: string | null;
}

export interface ThrottleRouteSettings {
  limits: ThrottleLimit[];
  planQuota: boolean;
  stopOnQuotaReach: boolean;
}

export interface SubscriptionValidationRouteSettings {
  api: string;
  header: string;
  propagateCredential: boolean;
}

export interface RouteSettingsByKind {
  'api-key': ApiKeyRouteSettings;
  jwt: JwtRouteSettings;
  'subscription-validation': SubscriptionValidationRouteSettings;
  throttle: ThrottleRouteSettings;
  'set-headers': SetHeadersRouteSettings;
}

/** Where a policy of a route's chain comes from. */
export type PolicySource = 'plan' | 'api' | 'operation';

/** One link of a route's chain; `settings` are that module's per-route settings. */
export type IrPolicy = {
  [K in PolicyKind]: { kind: K; source: PolicySource; settings: RouteSettingsByKind[K] };
}[PolicyKind];

export type IrPathMatch = { kind: 'exact'; path: string } | { kind: 'regex'; regex: string };

/** How the matched path reaches the upstream: `prefix` for exact matches, an anchored regex otherwise. */
export type IrRewrite = { kind: 'prefix'; prefix: string } | { kind: 'regex'; pattern: string; substitution: string } | null;

export type IrDestination = { kind: 'cluster'; cluster: string } | { kind: 'weighted'; clusters: { cluster: string; weight: number }[] };

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
  /** The resolved chain: plan-implied authentication, then API-level, then operation-level policies. */
  policies: IrPolicy[];
  /** The chain folded per module (what each module's `routes.<name>` entry says), in httpFilterOrder. */
  settings: Partial<RouteSettingsByKind>;
  /** Plans that may carry traffic on this route (for plan selection, a later issue). */
  plans: string[];
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
}

export interface IrApiKey {
  sha256: string;
  status: 'active';
  expiresAt: number | null;
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
  propagateCredential: boolean;
}

export interface IrClientIdentity {
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
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
  /** The plan's own policies, resolved (applied once plan selection lands). */
  policies: IrPolicy[];
}

/** Tables shared by the routes of every API, each policy module's top-level configuration. */
export interface IrTables {
  apiKeySets: Record<string, IrApiKey[]>;
  jwtKeySets: Record<string, PublicJwk[]>;
  jwtClients: Record<string, Record<string, IrClientIdentity>>;
  /** throttle `plans`, keyed by what `x-apip-plan` carries (the plan id). */
  quotaPlans: Record<string, IrQuotaPlan>;
  /** subscription-validation `plans` (v0.9 subscription plans by id) and `apis`. */
  subscriptionPlans: Record<string, IrSubscriptionPlan>;
  subscriptionApis: Record<string, { subscriptions: IrSubscription[] }>;
}

export interface IrSnapshot {
  listener: { name: string; port: number };
  controlPlane: { url: string; cluster: IrCluster };
  /** Modules available to data planes, with their sha256. */
  modules: Record<string, { sha256: string }>;
  /** Sorted by name; routes in match order. */
  routes: IrRoute[];
  clusters: IrCluster[];
  plans: IrPlan[];
  tables: IrTables;
}
