import type { ParamsResult, PolicyParamsDefinition } from '../kind.ts';

/**
 * A policy kind that is a route action, not a wasm module: the translator folds its attachments into the route's
 * own Envoy fields (`host_rewrite_literal`, `prefix_rewrite` / `regex_rewrite`), decided from static params.
 * Why not a module: Envoy re-selects the route when a filter changes request headers (clearRouteCache,
 * docs/gateway.md "Known gaps"), so a module rewriting `:authority` or `:path` would send the request to another
 * virtual host or route, or to 404 (docs/architecture.md). Listed in the catalogue (server/policies/index.ts
 * `policyDefinitions`) so attachments naming them validate; never in `policyFilters` or `httpFilterOrder`.
 */
export interface RouteActionKind<S> {
  readonly definition: PolicyParamsDefinition;
  /** Params (the definition's zod schema is the one check) as the route action's settings. */
  fromParams(params: Record<string, unknown>): ParamsResult<S>;
}
