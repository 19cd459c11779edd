/**
 * Every Envoy resource name the control plane generates. Policies look their per-route settings up by route
 * name (the `xds.route_name` property), data planes and dashboards key on the rest: renaming anything here is a
 * breaking change and its commit must say so.
 *
 * API handles (v0.9 `metadata.name`) never contain `/` or whitespace, so `api/<handle>/…` can never collide with
 * the platform's own `apip/…` names nor with another API's. Envoy's own names and type URLs are in
 * server/envoy/resources.ts.
 */
import { extensionNames } from '../envoy/resources.ts';

/** The one HTTP listener every data plane gets. */
export const listenerName = 'apip/http';

/** The one RouteConfiguration, fetched over RDS (ADS) by the listener's HttpConnectionManager. */
export const routeConfigurationName = 'apip/routes';

/** The cluster that serves `/policies/<name>.wasm` to Envoy's remote wasm fetcher. */
export const controlPlaneClusterName = 'apip/control-plane';

/** The OpenTelemetry collector Envoy's tracer sends OTLP/HTTP to (when tracing is configured). */
export const tracingCollectorClusterName = 'apip/otel-collector';

/**
 * The static cluster of envoy/bootstrap.yaml that reaches the control plane's gRPC port (ADS, and the access-log
 * service analytics read). Not in any snapshot: Envoy has it before the first one.
 */
export const xdsClusterName = 'apip-xds';

/** Envoy's gRPC access-log `log_name` (the control plane's analytics accept any). */
export const accessLogName = 'apip';

/**
 * The identity the authentication policies establish for everything after them (on each route the first module
 * that runs strips what clients send; a route with no module removes them): what analytics read from both data
 * planes, Envoy's access log and the embedded gateway's hook.
 */
export const identityHeaders = {
  applicationId: 'x-apip-application-id',
  subscriptionId: 'x-apip-subscription-id',
  plan: 'x-apip-plan',
} as const;

/**
 * Method-override headers, removed before the upstream on every route (RouteConfiguration
 * `request_headers_to_remove`): an upstream framework honouring them would run another method than the one the
 * route and its policies matched (docs/gateway.md "Request hygiene").
 */
export const methodOverrideHeaders = ['x-http-method-override', 'x-method-override', 'x-http-method'] as const;

/**
 * The condition module's verdicts for the modules after it (docs/execution-conditions.md): internal to the filter
 * chain, so a route running that module removes it before the upstream (envoy-routes.ts).
 */
export const conditionVerdictsHeader = 'x-apip-conditions';

/** Request headers every access-log entry carries: the identity the policies established (docs/analytics.md). */
export const accessLogRequestHeaders = [identityHeaders.applicationId, identityHeaders.plan] as const;

/** HttpConnectionManager stat prefix. */
export const statPrefix = 'apip';

/** A virtual host per domain (`*`, `api.example.com`, `sandbox-*`); domains are lowercased first. */
export function virtualHostName(domain: string): string {
  return `vhost/${domain.toLowerCase()}`;
}

/**
 * **Fixed by the design brief**: `<api-id>/<METHOD>/<path-template>`, the operation path as written
 * (`reading-list-api-v1.0/GET/books/{id}`). The sandbox route of an operation has the same name, so the same
 * per-route policy settings apply to it.
 */
export function routeName(apiHandle: string, method: string, operationPath: string): string {
  const template = operationPath.startsWith('/') ? operationPath.slice(1) : operationPath;
  return `${apiHandle}/${method.toUpperCase()}/${template}`;
}

/**
 * The last route of every virtual host, answering what no API serves (the reference's `no-api-found`). No `/` in
 * it, so it can never be an API's route name.
 */
export const notFoundRouteName = 'no-api-found';

/** The API id a route name belongs to (what the throttle module calls the API scope); null for a route of no API. */
export function apiOfRouteName(route: string): string | null {
  const at = route.indexOf('/');
  return at === -1 ? null : route.slice(0, at);
}

export type UpstreamEnvironment = 'main' | 'sandbox';

/** The cluster of an API's `upstream.main` / `upstream.sandbox` URL. */
export function upstreamClusterName(apiHandle: string, environment: UpstreamEnvironment): string {
  return `api/${apiHandle}/${environment}`;
}

/**
 * The cluster of one upstreamDefinition (`index` null: a single target) or of one of its targets (several
 * targets are weighted clusters of a route, one cluster per target).
 */
export function definitionClusterName(apiHandle: string, definition: string, index: number | null): string {
  return index === null ? `api/${apiHandle}/upstream/${definition}` : `api/${apiHandle}/upstream/${definition}/${index}`;
}

/** HTTP filter name of a policy module in the listener's chain. */
export function wasmFilterName(module: string): string {
  return `${extensionNames.wasm}/${module}`;
}

/**
 * The wasm VM id of a module: one VM per module, so every plugin instance of it shares one VM and its shared data
 * (throttle counters, quotas) across configuration updates. https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto#envoy-v3-api-msg-extensions-wasm-v3-vmconfig
 */
export function wasmVmId(module: string): string {
  return `apip/${module}`;
}

/** Where a data plane downloads a module (served by the management server). */
export function policyModulePath(module: string): string {
  return `/policies/${module}.wasm`;
}

/** api-key module key tables: the keys of an API's subscriptions (plans), and the API's own v0.9 keys. */
export function subscriptionKeySetName(apiHandle: string): string {
  return `${apiHandle}/subscriptions`;
}
export function apiKeySetName(apiHandle: string): string {
  return `${apiHandle}/api-keys`;
}

/** jwt module key set of a plan's resolved keys, or of a `jwt` attachment's JWKS URL. */
export function planJwtKeySetName(planId: string): string {
  return `plan/${planId}`;
}
export function urlJwtKeySetName(jwksUrl: string): string {
  return `url/${jwksUrl}`;
}
/** jwt module key set of a key manager's keys (each pinned to its issuer). */
export function keyManagerJwtKeySetName(name: string): string {
  return `keymanager/${name}`;
}

/** jwt module client table (client id -> subscription) of an API. */
export function jwtClientTableName(apiHandle: string): string {
  return apiHandle;
}
