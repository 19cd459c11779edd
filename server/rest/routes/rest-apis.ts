import { type ApiFilters, createApi, deleteApi, getApi, listApis, updateApi } from '../../domain/apis/index.ts';
import { ValidationError } from '../../domain/errors.ts';
import { allRows } from '../../domain/pagination.ts';
import type { Route } from '../router.ts';
import { fromRestApiBody, toRestApi } from '../shapes/rest-api.ts';

const deploymentStates = ['deployed', 'undeployed'] as const;

/**
 * The reference's RestApi answers: validation failures read "Configuration validation failed" with the fields in
 * `errors[]`, and a body that does not parse says so in the reference's words (create and update differ in case).
 */
const restApiAnswers = { validationMessage: 'configuration' } as const;
const parseFailure = {
  create: (cause: string) => `failed to parse configuration: ${cause}`,
  update: (cause: string) => `Failed to parse configuration: ${cause}`,
};

function listFilters(query: URLSearchParams): ApiFilters {
  // `deployed`, `DEPLOYED`, any case: the reference's clients send both.
  const status = query.get('status')?.toLowerCase() ?? null;
  if (status !== null && !(deploymentStates as readonly string[]).includes(status)) {
    throw new ValidationError([{ path: 'status', message: `status must be one of ${deploymentStates.join(', ')}` }]);
  }
  return {
    displayName: query.get('displayName') ?? undefined,
    version: query.get('version') ?? undefined,
    context: query.get('context') ?? undefined,
    deploymentState: (status as ApiFilters['deploymentState']) ?? undefined,
  };
}

/** `/rest-apis`: the v0.9 RestAPI resource over the apis domain module. */
export const restApiRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/rest-apis',
    access: 'manager',
    ...restApiAnswers,
    parseFailureMessage: parseFailure.create,
    // v0.9 clients rely on an API without plans being open (its own policies decide): REST-created APIs are OPEN,
    // shown as such in GraphQL, where an operator can switch them to PLANS (docs/rest.md). The body has no field
    // for it, as the v0.9 reference has none; a PUT keeps the API's mode.
    handle: async ({ body, domain }) => ({ status: 201, body: toRestApi(await createApi(domain, { ...fromRestApiBody(body), accessMode: 'OPEN' })) }),
  },
  {
    method: 'GET',
    path: '/rest-apis',
    ...restApiAnswers,
    handle: async ({ query, domain }) => {
      const apis = await listApis(domain, listFilters(query), allRows);
      return {
        status: 200,
        body: { status: 'success', count: apis.length, apis: apis.map((api) => toRestApi(api, { substituteVersion: true })) },
      };
    },
  },
  {
    method: 'GET',
    path: '/rest-apis/:id',
    ...restApiAnswers,
    handle: async ({ params, domain }) => ({ status: 200, body: toRestApi(await getApi(domain, params.id ?? '')) }),
  },
  {
    method: 'PUT',
    path: '/rest-apis/:id',
    access: 'manager',
    ...restApiAnswers,
    parseFailureMessage: parseFailure.update,
    // Never creates: an unknown id is the domain's 404; a body metadata.name other than the id is its 400.
    handle: async ({ params, body, domain }) => ({
      status: 200,
      body: toRestApi(await updateApi(domain, params.id ?? '', fromRestApiBody(body))),
    }),
  },
  {
    method: 'DELETE',
    path: '/rest-apis/:id',
    access: 'manager',
    ...restApiAnswers,
    handle: async ({ params, domain }) => {
      const deleted = await deleteApi(domain, params.id ?? '');
      return { status: 200, body: { status: 'success', message: 'RestAPI deleted successfully', id: deleted.handle } };
    },
  },
];
