/**
 * The APIs aggregate: the only writer of `apis`, its parts (operations, policies, upstreams) and its team
 * (members.ts). Deleting an API asks the plans, subscriptions and api-keys aggregates to remove what hangs on it.
 */
export type {
  Api,
  ApiFilters,
  ApiInput,
  ApiSpecInput,
  ApiVisibility,
  DeploymentState,
  HostRewrite,
  Operation,
  PolicyAttachment,
  PolicyInput,
  UpdateApiInput,
  Upstream,
  UpstreamDefinition,
  UpstreamInput,
  UpstreamTarget,
} from './model.ts';
export { resolvedContext } from './model.ts';
export {
  type HealthCheck,
  type OutlierDetection,
  type RetryCondition,
  retryConditions,
  type RetryPolicy,
  type StatusRange,
  type UpstreamResilience,
  type UpstreamResilienceInput,
} from './upstream-resilience.ts';
export { addApiMember, listMembersForApis, loadApiOwners, removeApiMember, transferApiOwnership, viewerCanManage } from './members.ts';
export { getApi, getApiByHandle, listApis, loadApis, loadApisByHandle } from './reads.ts';
export { loadApiReachability } from './reachability.ts';
export { resolveContext, routePath, type RouteClaimant } from './routes.ts';
export { type HttpMethod, httpMethods, isHttpUrl, isValidOperationPath, routeTemplate, validateApiInput } from './validation.ts';
export { type ApiRefRow, findVisibleApi } from './visibility.ts';
export { createApi, deleteApi, deployApi, undeployApi, updateApi } from './writes.ts';
