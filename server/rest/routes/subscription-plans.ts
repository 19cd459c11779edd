import { allRows } from '../../domain/pagination.ts';
import {
  createSubscriptionPlan,
  deleteSubscriptionPlan,
  getSubscriptionPlan,
  listSubscriptionPlans,
  updateSubscriptionPlan,
} from '../../domain/subscription-plans.ts';
import type { Route } from '../router.ts';
import { fromSubscriptionPlanBody, toRestSubscriptionPlan } from '../shapes/subscription-plan.ts';

/** `/subscription-plans`: everyone reads; admins and developers (our publishers) write. */
export const subscriptionPlanRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/subscription-plans',
    access: 'manager',
    handle: async ({ body, domain }) => ({
      status: 201,
      body: toRestSubscriptionPlan(await createSubscriptionPlan(domain, fromSubscriptionPlanBody(body, { required: true }))),
    }),
  },
  {
    method: 'GET',
    path: '/subscription-plans',
    handle: async ({ domain }) => {
      const plans = await listSubscriptionPlans(domain, {}, allRows);
      return { status: 200, body: { subscriptionPlans: plans.map(toRestSubscriptionPlan), count: plans.length } };
    },
  },
  {
    method: 'GET',
    path: '/subscription-plans/:planId',
    handle: async ({ params, domain }) => ({ status: 200, body: toRestSubscriptionPlan(await getSubscriptionPlan(domain, params.planId ?? '')) }),
  },
  {
    method: 'PUT',
    path: '/subscription-plans/:planId',
    access: 'manager',
    // Merges: the seed's body is optional, and absent fields keep their value.
    handle: async ({ params, body, domain }) => ({
      status: 200,
      body: toRestSubscriptionPlan(await updateSubscriptionPlan(domain, params.planId ?? '', fromSubscriptionPlanBody(body, { required: false }))),
    }),
  },
  {
    method: 'DELETE',
    path: '/subscription-plans/:planId',
    access: 'manager',
    handle: async ({ params, domain }) => {
      await deleteSubscriptionPlan(domain, params.planId ?? '');
      return { status: 204 };
    },
  },
];
