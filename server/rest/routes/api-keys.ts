import { createApiKey, listApiKeysOfApi, regenerateApiKey, revokeApiKeyByName } from '../../domain/api-keys/index.ts';
import { apiKeyNameIssues } from '../../domain/api-keys/index.ts';
import { getApi } from '../../domain/apis/index.ts';
import { assertNoIssues } from '../../domain/errors.ts';
import type { Route } from '../router.ts';
import { apiKeyResponse, fromCreateApiKeyBody, fromUpdateApiKeyBody, toRestApiKey } from '../shapes/api-key.ts';
import { objectBody } from '../shapes/body.ts';

/** The `{apiKeyName}` of a path: a name no key can have is a 400 (the domain's naming rule), not a 404. */
function keyName(params: Record<string, string>): string {
  const name = params.apiKeyName ?? '';
  assertNoIssues(apiKeyNameIssues(name, 'apiKeyName'));
  return name;
}

/**
 * `/rest-apis/{id}/api-keys`: v0.9 keys on an API, for every role (quota per user; the domain decides who
 * sees and changes which key). The API is looked up first for its handle, the `apiId` of every answer.
 */
export const apiKeyRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/rest-apis/:id/api-keys',
    handle: async ({ params, body, domain }) => {
      const api = await getApi(domain, params.id ?? '');
      const issued = await createApiKey(domain, fromCreateApiKeyBody(api.id, body));
      // As the reference: a value the client brought is "registered" and not sent back in clear (it has it).
      const external = issued.key.source === 'external';
      return {
        status: 201,
        body: apiKeyResponse(
          external ? 'API key registered successfully' : 'API key generated successfully',
          issued.remainingApiKeyQuota,
          toRestApiKey(issued.key, api.handle, external ? undefined : issued.value),
        ),
      };
    },
  },
  {
    method: 'GET',
    path: '/rest-apis/:id/api-keys',
    handle: async ({ params, domain }) => {
      const api = await getApi(domain, params.id ?? '');
      const keys = await listApiKeysOfApi(domain, api.id);
      return { status: 200, body: { status: 'success', totalCount: keys.length, apiKeys: keys.map((k) => toRestApiKey(k, api.handle)) } };
    },
  },
  {
    method: 'POST',
    path: '/rest-apis/:id/api-keys/:apiKeyName/regenerate',
    handle: async ({ params, body, domain }) => {
      objectBody(body, { required: false }); // APIKeyRegenerationRequest has no field we read; it must still be an object.
      const api = await getApi(domain, params.id ?? '');
      const issued = await regenerateApiKey(domain, api.id, keyName(params));
      return {
        status: 200,
        body: apiKeyResponse('API key generated successfully', issued.remainingApiKeyQuota, toRestApiKey(issued.key, api.handle, issued.value)),
      };
    },
  },
  {
    method: 'PUT',
    path: '/rest-apis/:id/api-keys/:apiKeyName',
    handle: async ({ params, body, domain }) => {
      const name = keyName(params);
      const { customValue } = fromUpdateApiKeyBody(name, body);
      const api = await getApi(domain, params.id ?? '');
      const issued = await regenerateApiKey(domain, api.id, name, { customValue });
      // A custom value is the caller's own: it is not echoed back.
      return { status: 200, body: apiKeyResponse('API key updated successfully', issued.remainingApiKeyQuota, toRestApiKey(issued.key, api.handle)) };
    },
  },
  {
    method: 'DELETE',
    path: '/rest-apis/:id/api-keys/:apiKeyName',
    handle: async ({ params, domain }) => {
      const api = await getApi(domain, params.id ?? '');
      // Idempotent: a name no key holds is a success too (the reference's "for security reasons").
      await revokeApiKeyByName(domain, api.id, keyName(params));
      return { status: 200, body: { status: 'success', message: 'API key revoked successfully' } };
    },
  },
];
