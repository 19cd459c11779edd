import { boolean, integer, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { id, lifecycleDates, timestamptz } from './columns.ts';

export const throttleLimitUnit = pgEnum('throttle_limit_unit', ['Min', 'Hour', 'Day', 'Month']);
export const subscriptionPlanStatus = pgEnum('subscription_plan_status', ['ACTIVE', 'INACTIVE']);

/** v0.9 subscription plans: named throttle quotas that subscriptions refer to. */
export const subscriptionPlans = pgTable(
  'subscription_plans',
  {
    id: id(),
    planName: text('plan_name').notNull(),
    billingPlan: text('billing_plan'),
    stopOnQuotaReach: boolean('stop_on_quota_reach').notNull().default(true),
    throttleLimitCount: integer('throttle_limit_count'),
    throttleLimitUnit: throttleLimitUnit('throttle_limit_unit'),
    expiryTime: timestamptz('expiry_time'),
    gatewayId: text('gateway_id'),
    status: subscriptionPlanStatus('status').notNull().default('ACTIVE'),
    ...lifecycleDates,
  },
  (t) => [
    // planName is unique (409 on a second).
    uniqueIndex('subscription_plans_plan_name_key').on(t.planName),
  ],
);
