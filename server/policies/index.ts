import { z } from 'zod';
import type { PolicyKind } from '../xds/ir.ts';
import { apiKeyFilter } from './api-key.ts';
import { basicAuthFilter } from './basic-auth.ts';
import { conditionFilter } from './condition.ts';
import { corsFilter } from './cors.ts';
import { jwtFilter } from './jwt.ts';
import type { PolicyKindModule, PolicyParamsDefinition } from './kind.ts';
import { oauth2Filter } from './oauth2.ts';
import { planFilter } from './plan.ts';
import { routeActionDefinitions } from './route-actions/index.ts';
import { redirectFilter } from './redirect.ts';
import { respondFilter } from './respond.ts';
import { setHeadersFilter } from './set-headers.ts';
import { subscriptionValidationFilter } from './subscription-validation.ts';
import { throttleFilter } from './throttle.ts';

/**
 * The registry list: every policy kind the control plane knows. Adding a kind = one module beside these
 * (server/policies/<kind>.ts), its AssemblyScript folder (policies/<kind>/), and one line in each list below.
 */

/** The kinds with a wasm module (policies/<kind>/), by kind. */
export const policyFilters: { readonly [K in PolicyKind]: PolicyKindModule<K> } = {
  condition: conditionFilter,
  cors: corsFilter,
  'api-key': apiKeyFilter,
  jwt: jwtFilter,
  oauth2: oauth2Filter,
  plan: planFilter,
  'basic-auth': basicAuthFilter,
  'subscription-validation': subscriptionValidationFilter,
  throttle: throttleFilter,
  'set-headers': setHeadersFilter,
  redirect: redirectFilter,
  respond: respondFilter,
};

/**
 * The order of the wasm filters on the listener, i.e. the order every route's policies run in. Envoy's HTTP
 * filter chain is per listener, so one module instance serves every route in this one order, whatever order
 * the attachments were listed in (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters);
 * each route enables only its own modules (translate/route-modules.ts). On each route the first module that runs
 * also strips client-supplied `x-apip-*` headers. How the modules choose a plan
 * together: docs/plan-selection.md.
 */
export const httpFilterOrder = [
  // First where a route has conditional attachments (docs/execution-conditions.md): it strips client-sent x-apip-*
  // (it is the route's first module), then evaluates the route's execution conditions once and passes the verdicts
  // to the modules below in x-apip-conditions; a conditional module reads its own and runs, skips or denies.
  'condition',
  // Before authentication: a browser's preflight carries no credentials, so it is answered here or never; and the
  // CORS headers it adds in its response callback then also reach a later module's local reply (a 401 the page
  // must be able to read). Preflight routes run it alone (xds/translate/preflight-routes.ts).
  'cors',
  // Authentication first, one module per credential type: each looks for its own credential and, when valid, sets
  // x-apip-application-id / -subscription-id / -plan for everything after it (the plan its subscription holds,
  // among the route's plans of that type whose selection rule holds). A request an earlier module admitted
  // passes the later ones untouched; without its credential a module lets the request on only where the route
  // is `optional` (the API offers plans of several security types).
  'api-key',
  'jwt',
  'oauth2',
  // Closes authentication on routes of APIs with plans: the identity's plan must be one of the route's, else the
  // first KEYLESS plan whose rule holds is chosen, else 401 with one challenge per security type offered.
  'plan',
  // From here on x-apip-plan is set: plan policies (`planPolicies.<plan id>`) run before API and operation ones.
  // Basic credentials of a KEYLESS plan (or an API/operation policy).
  'basic-auth',
  // Reads the identity set above (or its own subscription token) and enforces the v0.9 plan quota.
  'subscription-validation',
  // Counts only authenticated, subscribed requests, per route/API/application/subscription and plan.
  'throttle',
  // After the checks: rejected requests never get the configured headers, and they reach the upstream as configured;
  // its response headers also go on the replies of redirect and respond below.
  'set-headers',
  // Terminal answers, after authentication, plans and quotas: a redirect or a mock answers only requests the API
  // admits, and counts against their limits. Each replies locally, so the upstream is never called; when both
  // apply to a route, redirect answers.
  'redirect',
  'respond',
] as const satisfies readonly PolicyKind[];

/** The policy modules we ship (policies/<kind>/), i.e. the wasm HTTP filters the translator can configure. */
export const policyKinds: readonly PolicyKind[] = httpFilterOrder;

/**
 * The catalogue of design.md (what attachments may name), in the order clients see it: the kinds with a module,
 * then the route actions (host-rewrite, request-rewrite: route fields, not modules, route-actions/kind.ts), so
 * every name it lists is served.
 */
export const policyDefinitions: readonly PolicyParamsDefinition[] = [
  apiKeyFilter.definition!,
  jwtFilter.definition!,
  setHeadersFilter.definition!,
  throttleFilter.definition!,
  ...throttleFilter.variants!,
  subscriptionValidationFilter.definition!,
  basicAuthFilter.definition!,
  oauth2Filter.definition!,
  corsFilter.definition!,
  respondFilter.definition!,
  redirectFilter.definition!,
  ...routeActionDefinitions,
];

// The one place aliases are resolved: name or alias -> canonical name.
const canonical = new Map<string, string>();
for (const def of policyDefinitions) {
  canonical.set(def.name, def.name);
  for (const alias of def.aliases) canonical.set(alias, def.name);
}
// Canonical name -> the kind whose module serves it: its own name, and its variants' (advanced-ratelimit -> throttle).
const kindByName = new Map<string, PolicyKind>(httpFilterOrder.map((kind) => [kind, kind]));
for (const kind of httpFilterOrder) for (const variant of policyFilters[kind].variants ?? []) kindByName.set(variant.name, kind);

/** The canonical name of a policy name or alias (`basic-ratelimit` -> `throttle`), or undefined when unknown. */
export function canonicalPolicyName(name: string): string | undefined {
  return canonical.get(name);
}

/** The module kind of a policy name or alias, or undefined when no module implements it. */
export function policyKindOf(name: string): PolicyKind | undefined {
  return kindByName.get(canonical.get(name) ?? name);
}

/** JSON Schema (draft 2020-12) of the plugin configuration `kind`'s module accepts (docs/policies.md). */
export function configurationJsonSchema(kind: PolicyKind): Record<string, unknown> {
  return z.toJSONSchema(policyFilters[kind].configuration, { io: 'input' }) as Record<string, unknown>;
}
