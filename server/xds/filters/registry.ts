import type { PolicyKind } from '../ir.ts';
import { apiKeyFilter } from './api-key.ts';
import type { PolicyFilter } from './filter.ts';
import { jwtFilter } from './jwt.ts';
import { setHeadersFilter } from './set-headers.ts';
import { subscriptionValidationFilter } from './subscription-validation.ts';
import { throttleFilter } from './throttle.ts';

export const policyFilters: { readonly [K in PolicyKind]: PolicyFilter<K> } = {
  'api-key': apiKeyFilter,
  jwt: jwtFilter,
  'subscription-validation': subscriptionValidationFilter,
  throttle: throttleFilter,
  'set-headers': setHeadersFilter,
};

/**
 * The order of the wasm filters on the listener, i.e. the order every route's policies run in. Envoy's HTTP
 * filter chain is per listener, so one module instance serves every route in this one order, whatever order
 * the attachments were listed in (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters).
 * The first filter present also strips client-supplied `x-apip-*` headers.
 */
export const httpFilterOrder: readonly PolicyKind[] = [
  // Authentication first: sets x-apip-application-id / -subscription-id / -plan for everything after it.
  'api-key',
  // Also authentication; an API uses one of the two per route.
  'jwt',
  // Reads the identity set above (or its own subscription token) and enforces the v0.9 plan quota.
  'subscription-validation',
  // Counts only authenticated, subscribed requests, per route/API/application/subscription and plan.
  'throttle',
  // Last: rejected requests never get the configured headers, and they reach the upstream as configured.
  'set-headers',
];

const byName = new Map<string, PolicyKind>();
for (const kind of httpFilterOrder) {
  byName.set(kind, kind);
  for (const alias of policyFilters[kind].aliases) byName.set(alias, kind);
}

/** The module kind of a policy name or alias, or undefined when no module implements it. */
export function policyKindOf(name: string): PolicyKind | undefined {
  return byName.get(name);
}
