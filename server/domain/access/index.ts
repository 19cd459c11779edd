/**
 * The one room for who may do what and who may read what. GraphQL's auth scopes, the REST handler, /metrics and
 * every domain operation ask here.
 */
export { isApiManager, requireApiManager } from './api-managers.ts';
export {
  assertPasswordCurrent,
  authScopes,
  canManageApis,
  canReadMetrics,
  canSeeApiTeam,
  canSeeOwned,
  isOwnerOrAdmin,
  requireRole,
} from './roles.ts';
export {
  apiKeysVisibleTo,
  apiVisibleTo,
  applicationsVisibleTo,
  canReadPlanStatus,
  consumerPlanStatuses,
  isApiVisible,
  requestStatsVisibleTo,
  subscriptionsVisibleTo,
} from './visibility.ts';
