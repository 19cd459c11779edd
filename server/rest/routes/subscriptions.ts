import { getApi, loadApis } from '../../domain/apis/index.ts';
import type { DomainContext } from '../../domain/context.ts';
import { ValidationError } from '../../domain/errors.ts';
import { allRows } from '../../domain/pagination.ts';
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  type Subscription,
  type SubscriptionFilters,
  updateSubscription,
} from '../../domain/subscriptions/index.ts';
import type { Route } from '../router.ts';
import {
  fromCreateSubscriptionBody,
  fromUpdateSubscriptionBody,
  type RestSubscriptionStatus,
  restStatusFilter,
  toRestSubscription,
} from '../shapes/subscription.ts';

/** v0.9 names an API by its handle: one batched load for the handles of a page of subscriptions. */
async function handlesOf(domain: DomainContext, subs: readonly Subscription[]): Promise<Map<string, string>> {
  const ids = [...new Set(subs.map((s) => s.apiId))];
  const apis = await loadApis(domain, ids);
  // An API the caller may not read keeps its id: the subscription itself was visible to it.
  return new Map(ids.map((id, i) => [id, apis[i]?.handle ?? id]));
}

/**
 * The list's filters. `status` in any case (`ACTIVE`, `active`); `apiId` a handle or id of an API the caller can
 * read, else 404 as the reference (and every other reference to an API here) answers.
 */
async function listFilters(domain: DomainContext, query: URLSearchParams): Promise<SubscriptionFilters> {
  const status = query.get('status')?.toUpperCase() ?? null;
  if (status !== null && !Object.hasOwn(restStatusFilter, status)) {
    throw new ValidationError([{ path: 'status', message: `status must be one of ${Object.keys(restStatusFilter).join(', ')}` }]);
  }
  const apiRef = query.get('apiId');
  return {
    apiId: apiRef === null ? undefined : (await getApi(domain, apiRef)).id,
    applicationId: query.get('applicationId') ?? undefined,
    status: status === null ? undefined : restStatusFilter[status as RestSubscriptionStatus],
  };
}

async function one(domain: DomainContext, s: Subscription, token?: string) {
  const handles = await handlesOf(domain, [s]);
  return toRestSubscription(s, handles.get(s.apiId) ?? s.apiId, token);
}

/** `/subscriptions`: v0.9 subscriptions (API + token + subscription plan); admins and developers write. */
export const subscriptionRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/subscriptions',
    access: 'manager',
    handle: async ({ body, domain }) => {
      const input = fromCreateSubscriptionBody(body);
      const created = await createSubscription(domain, input);
      // The one answer that carries the token: it is stored only as its SHA-256.
      return { status: 201, body: await one(domain, created, input.subscriptionToken) };
    },
  },
  {
    method: 'GET',
    path: '/subscriptions',
    handle: async ({ query, domain }) => {
      const subs = await listSubscriptions(domain, await listFilters(domain, query), allRows);
      const handles = await handlesOf(domain, subs);
      return {
        status: 200,
        body: { subscriptions: subs.map((s) => toRestSubscription(s, handles.get(s.apiId) ?? s.apiId)), count: subs.length },
      };
    },
  },
  {
    method: 'GET',
    path: '/subscriptions/:subscriptionId',
    handle: async ({ params, domain }) => ({ status: 200, body: await one(domain, await getSubscription(domain, params.subscriptionId ?? '')) }),
  },
  {
    method: 'PUT',
    path: '/subscriptions/:subscriptionId',
    access: 'manager',
    handle: async ({ params, body, domain }) => ({
      status: 200,
      body: await one(domain, await updateSubscription(domain, params.subscriptionId ?? '', fromUpdateSubscriptionBody(body))),
    }),
  },
  {
    method: 'DELETE',
    path: '/subscriptions/:subscriptionId',
    access: 'manager',
    handle: async ({ params, domain }) => {
      await deleteSubscription(domain, params.subscriptionId ?? '');
      return { status: 204 };
    },
  },
];
