/**
 * Who can reach an API (docs/plan-selection.md "Who can reach an API"), decided once for everyone who needs it:
 * the translator (a CLOSED API's routes answer 403 without calling the upstream, xds/translate/api-routes.ts),
 * GraphQL's `Api.reachability` and `deploymentStatus`. Pure: no database, no xds imports.
 */

/**
 * How an API admits traffic while it has no serving plan. `PLANS`: only through its PUBLISHED or DEPRECATED
 * plans, nobody without one (the GraphQL default). `OPEN`: the v0.9 behaviour, the API's own policies decide
 * until a plan is published (the REST v0.9 default). Serving plans govern traffic in both modes.
 */
export const accessModes = ['PLANS', 'OPEN'] as const;
export type AccessMode = (typeof accessModes)[number];

/**
 * What a request meets: `OPEN` (no plan decides: the API's own policies, possibly none), `PLANS` (its serving
 * plans decide), `CLOSED` (deployed but nobody is admitted: 403), `NOT_DEPLOYED` (no route at all: 404).
 */
export const reachabilities = ['OPEN', 'PLANS', 'CLOSED', 'NOT_DEPLOYED'] as const;
export type Reachability = (typeof reachabilities)[number];

/** Plan statuses that carry traffic: a deprecated plan keeps serving its existing subscriptions. */
export const servingPlanStatuses = ['PUBLISHED', 'DEPRECATED'] as const;

export interface ReachabilityInput {
  accessMode: AccessMode;
  isDeployed: boolean;
  /** The security types of the API's PUBLISHED or DEPRECATED plans (one entry per plan, or per type). */
  servingPlanTypes: readonly string[];
  /** A private API admits only applications with a contract, which needs a plan. */
  isPrivate: boolean;
}

/**
 * The one access rule: serving plans govern; without one, an OPEN public API is open and any other API is closed
 * (a private API admits only contracted applications, and there is no contract without a plan). On a private API a
 * KEYLESS plan admits no one (only contracts pass, and a keyless request names no application), so it does not count.
 */
export function reachabilityOf({ accessMode, isDeployed, servingPlanTypes, isPrivate }: ReachabilityInput): Reachability {
  if (!isDeployed) return 'NOT_DEPLOYED';
  if (servingPlanTypes.some((type) => !isPrivate || type !== 'KEYLESS')) return 'PLANS';
  return accessMode === 'OPEN' && !isPrivate ? 'OPEN' : 'CLOSED';
}
