import type { HostRewrite, HttpMethod, UpstreamResilience } from './apis/index.ts';
import type { DeployedKeyManager } from './key-managers.ts';
import type { JwtAlgorithm, JwtKeyResolver, PlanSecurityType } from './plan-security.ts';
import type { PlanStatus } from './plans/index.ts';
import type { AccessMode } from './reachability.ts';
import type { ThrottleLimitUnit } from './subscription-plans.ts';
import type { SubscriptionStatus } from './subscriptions/index.ts';

/**
 * What the translator reads: the deployed part of the model at one instant, as plain JSON-able data (no Dates:
 * instants are epoch milliseconds) so that it can be written as YAML for golden tests, hashed, or shipped between
 * replicas. Built by `loadDeploymentModel` (deployment.ts), with JWT keys filled in by
 * `resolveJwks` (server/xds/jwks-resolver.ts).
 */
export interface DeploymentModel {
  /** Deployed APIs only. */
  apis: DeployedApi[];
  /** Plans of deployed APIs that can carry traffic (PUBLISHED, DEPRECATED). */
  plans: DeployedPlan[];
  /** Subscriptions of deployed APIs (every status: the policies need to refuse inactive ones by name). */
  subscriptions: DeployedSubscription[];
  /**
   * Every key neither revoked nor expired at the model's instant, with a grant per API it opens; a grant of a
   * subscription that does not admit traffic now is kept with `live: false` (the data plane answers 403 there).
   */
  keys: DeployedKey[];
  /** v0.9 subscription plans (quotas). */
  subscriptionPlans: DeployedSubscriptionPlan[];
  /**
   * Public JWKs per key source (`plan/<planId>` for a JWT plan, `url/<jwksUrl>` for a `jwt` attachment,
   * `keymanager/<name>` for a key manager), resolved
   * with jose outside the translator. A source without an entry has no usable key.
   */
  jwks: Record<string, PublicJwk[]>;
  /**
   * OAuth2 authorization servers the oauth2 module introspects with: those referenced by serving OAUTH2 plans of
   * deployed APIs, plus one implicit server per plan still using the inline options (id `plan:<planId>`). Sorted
   * by id. Holds client secrets: never leaves the control plane except in the oauth2 module's configuration.
   */
  authorizationServers: DeployedAuthorizationServer[];
  /**
   * Key managers (docs/key-managers.md) by name, whose keys `resolveJwks` adds to `jwks` as `keymanager/<name>`.
   * Absent = none (models written before key managers).
   */
  keyManagers?: DeployedKeyManager[];
}

export type { DeployedKeyManager };

export interface ModelPolicy {
  /** As attached: canonical name or v0.9 alias. */
  name: string;
  version: string;
  executionCondition: string | null;
  params: Record<string, unknown> | null;
}

export interface ModelUpstream {
  url: string | null;
  ref: string | null;
  hostRewrite: HostRewrite | null;
}

export interface ModelUpstreamDefinition {
  name: string;
  basePath: string | null;
  /** Go-style duration as given ("5s", "500ms"). */
  connectTimeout: string | null;
  upstreams: { url: string; weight: number | null }[];
}

export interface ModelOperation {
  method: HttpMethod;
  /** As written, with `{param}` segments. */
  path: string;
  policies: ModelPolicy[];
  /** The route keeps the method-override headers (docs/gateway.md "Request hygiene"). Absent: false. */
  allowMethodOverride?: boolean;
}

export interface DeployedApi {
  id: string;
  /** v0.9 id (`metadata.name`): what route names and policy tables use. */
  handle: string;
  version: string;
  /** As given, possibly holding `$version`. */
  context: string;
  upstream: { main: ModelUpstream; sandbox: ModelUpstream | null };
  upstreamDefinitions: ModelUpstreamDefinition[];
  vhosts: { main: string; sandbox: string | null } | null;
  policies: ModelPolicy[];
  operations: ModelOperation[];
  /** v0.9 spec.subscriptionPlans (names offered). */
  subscriptionPlans: string[];
  /** `private`: only applications with a contract pass (KEYLESS plans admit nothing there). */
  visibility: 'public' | 'private';
  /**
   * How the API admits traffic while `plans` holds none of its plans (domain/reachability.ts): `PLANS` = nobody
   * (every route answers 403), `OPEN` = its own policies decide.
   */
  accessMode: AccessMode;
  /** Health check, outlier detection and retries of the API's clusters and routes (defaults filled in). Absent: none. */
  upstreamResilience?: UpstreamResilience;
}

export interface DeployedPlanSecurity {
  type: PlanSecurityType;
  apiKey: { keyLocation: 'HEADER' | 'QUERY'; keyName: string; propagateKey: boolean } | null;
  jwt: {
    signatureAlgorithms: JwtAlgorithm[];
    keyResolver: JwtKeyResolver;
    jwksUrl: string | null;
    /** Only with GIVEN_KEY; may be a symmetric key, which never leaves the control plane except to the jwt module. */
    givenKey: string | null;
    clientIdClaim: string | null;
    userClaim: string;
    requiredScopes: string[];
    strictScopes: boolean;
    extractClaims: { claim: string; header: string }[];
    propagateAuthHeader: boolean;
    leewaySeconds: number;
    /** Tokens without `exp` cannot select the plan; absent = false. */
    requireExpiration?: boolean;
    /** The longest exp - iat the plan admits, in seconds; absent or null = no bound. */
    maxTokenLifetimeSeconds?: number | null;
  } | null;
  oauth2: DeployedOAuth2Security | null;
}

/** The OAuth2 options of a plan as the translator reads them (docs/authorization-servers.md). */
export interface DeployedOAuth2Security {
  /** An entry of `DeploymentModel.authorizationServers` (`plan:<planId>` for an inline plan); absent there = unusable. */
  authorizationServerId: string;
  requiredScopes: string[];
  strictScopes: boolean;
  /** Introspection member holding the client id; null = `client_id`. */
  clientIdClaim: string | null;
  extractClaims: { claim: string; header: string }[];
  propagateAuthHeader: boolean;
}

export interface DeployedAuthorizationServer {
  id: string;
  name: string;
  introspectionUrl: string;
  clientId: string;
  clientSecret: string;
  tokenTypeHint: string | null;
  timeoutMs: number;
  maxCacheSeconds: number;
}

export interface DeployedPlan {
  id: string;
  apiId: string;
  name: string;
  status: PlanStatus;
  /** Order among the API's plans (first wins where one setting must be chosen). */
  position: number;
  security: DeployedPlanSecurity;
  policies: ModelPolicy[];
  /** Kept for plan selection (a later issue); not yet interpreted. */
  selectionRule: string | null;
}

export interface DeployedSubscription {
  id: string;
  apiId: string;
  /** Our application id, else the v0.9 applicationRef as given. */
  applicationId: string | null;
  /** The application's token client id (JWT plans). */
  clientId: string | null;
  planId: string | null;
  subscriptionPlanId: string | null;
  status: SubscriptionStatus;
  /** SHA-256 hex of the v0.9 subscription token. */
  tokenSha256: string | null;
  /**
   * ACCEPTED, within its starting/ending dates and (v0.9) on an ACTIVE, unexpired subscription plan, at the
   * model's instant (the translator has no clock).
   */
  isLive: boolean;
}

export interface DeployedKey {
  id: string;
  /** Lowercase hex SHA-256 of the key as presented. */
  sha256: string;
  /** Epoch ms or null. */
  expiresAt: number | null;
  owner: 'subscription' | 'application' | 'api';
  applicationId: string | null;
  /**
   * Per API: the subscription and plan the key authenticates as (both null for v0.9 keys), and whether that
   * subscription admits traffic now (ACCEPTED within its dates; always true for v0.9 keys).
   */
  grants: { apiId: string; subscriptionId: string | null; planId: string | null; live: boolean }[];
}

export interface DeployedSubscriptionPlan {
  id: string;
  planName: string;
  stopOnQuotaReach: boolean;
  throttleLimitCount: number | null;
  throttleLimitUnit: ThrottleLimitUnit | null;
  status: 'ACTIVE' | 'INACTIVE';
}

/** A public JWK as jose exports it (`d` and other private members never appear). */
export type PublicJwk = Record<string, string>;

/** An empty model (nothing deployed). */
export function emptyDeploymentModel(): DeploymentModel {
  return { apis: [], plans: [], subscriptions: [], keys: [], subscriptionPlans: [], jwks: {}, authorizationServers: [] };
}
