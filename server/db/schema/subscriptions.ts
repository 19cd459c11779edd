import { relations, sql } from 'drizzle-orm';
import { boolean, index, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { apis, owningApiId } from './apis.ts';
import { applications } from './applications.ts';
import { id, lifecycleDates, timestamptz } from './columns.ts';
import { plans } from './plans.ts';
import { subscriptionPlans } from './subscription-plans.ts';
import { users } from './users.ts';

export const subscriptionStatus = pgEnum('subscription_status', ['PENDING', 'ACCEPTED', 'REJECTED', 'PAUSED', 'CLOSED']);

/**
 * A contract between an application and an API through a plan (seed 001), or a v0.9 subscription
 * (API + token + subscription plan). Both are one entity so that either interface sees the other's.
 */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: id(),
    apiId: owningApiId(),
    applicationId: text('application_id').references(() => applications.id, { onDelete: 'cascade' }),
    /** v0.9 applicationId as the client sent it, when it names no application of ours. */
    applicationRef: text('application_ref'),
    planId: text('plan_id').references(() => plans.id, { onDelete: 'restrict' }),
    subscriptionPlanId: text('subscription_plan_id').references(() => subscriptionPlans.id, { onDelete: 'restrict' }),
    status: subscriptionStatus('status').notNull().default('PENDING'),
    /** SHA-256 hex of the v0.9 subscription token; the token itself is never stored. */
    tokenHash: text('token_hash'),
    billingCustomerId: text('billing_customer_id'),
    billingSubscriptionId: text('billing_subscription_id'),
    gatewayId: text('gateway_id'),
    /** The subscription authenticates with its application's shared key (seed 000) instead of a key of its own. */
    usesSharedKey: boolean('uses_shared_key').notNull().default(false),
    requestMessage: text('request_message'),
    reason: text('reason'),
    startingAt: timestamptz('starting_at'),
    endingAt: timestamptz('ending_at'),
    processedAt: timestamptz('processed_at'),
    processedById: text('processed_by_id').references(() => users.id, { onDelete: 'set null' }),
    closedAt: timestamptz('closed_at'),
    createdById: text('created_by_id').references(() => users.id, { onDelete: 'set null' }),
    ...lifecycleDates,
  },
  (t) => [
    // An API's subscriptions (REST filter apiId, translator).
    index('subscriptions_api_id_idx').on(t.apiId),
    // An application's subscriptions (shared keys, consumer views).
    index('subscriptions_application_id_idx').on(t.applicationId),
    // Closing a plan closes its subscriptions.
    index('subscriptions_plan_id_idx').on(t.planId),
    // Deleting a subscription plan is refused while subscriptions use it.
    index('subscriptions_subscription_plan_id_idx').on(t.subscriptionPlanId),
    // One subscription per API and token (409 on a second).
    uniqueIndex('subscriptions_api_token_key').on(t.apiId, t.tokenHash).where(sql`${t.tokenHash} is not null`),
    // One live subscription per application and plan (the domain pre-checks; this backs it up under races).
    uniqueIndex('subscriptions_application_plan_live_key')
      .on(t.applicationId, t.planId)
      .where(sql`${t.status} in ('PENDING', 'ACCEPTED', 'PAUSED')`),
  ],
);

export const subscriptionsRelations = relations(subscriptions, ({ one }) => ({
  api: one(apis, { fields: [subscriptions.apiId], references: [apis.id] }),
  application: one(applications, { fields: [subscriptions.applicationId], references: [applications.id] }),
  plan: one(plans, { fields: [subscriptions.planId], references: [plans.id] }),
  subscriptionPlan: one(subscriptionPlans, {
    fields: [subscriptions.subscriptionPlanId],
    references: [subscriptionPlans.id],
  }),
}));
