/**
 * The API-keys aggregate: the only writer of `api_keys`. Other aggregates issue, share and revoke keys through
 * these functions, inside their own write (passing the scope).
 */
export { deleteApiKeysOfApi, renewApiKey, revokeApiKey, revokeKeysCreatedBy, revokeKeysOfSubscriptions, revokeSubscriptionKeys, shareSubscriptionKey } from './lifecycle.ts';
export { issueApiKey, type IssueKeyOptions, type KeyOwnerRef } from './issue.ts';
export {
  type ApiKey,
  type ApiKeyFilters,
  type ApiKeyOwner,
  type ApiKeyStatus,
  apiKeyStatusAt,
  type CreateApiKeyInput,
  type IssuedApiKey,
  type IssuedApiKeyWithQuota,
  keyUsableAt,
  type RenewApiKeyInput,
  toApiKey,
} from './model.ts';
export {
  getApiKey,
  hasLiveSharedKey,
  listApiKeys,
  listApiKeysForApis,
  listApiKeysForSubscriptions,
  loadApiKeys,
  loadSharedKeysForApplications,
  subscriptionsWithLiveKey,
} from './reads.ts';
export { createApiKey, listApiKeysOfApi, regenerateApiKey, remainingApiKeyQuota, revokeApiKeyByName } from './v09.ts';
export * from './validation.ts';
