/**
 * The subscriptions aggregate: the only writer of `subscriptions`. Contracts (application x plan) and their
 * lifecycle, the keys of API-key plans (through the api-keys aggregate), v0.9 subscriptions, reads.
 */
export {
  approveSubscription,
  closeSubscription,
  closeSubscriptionsOfPlan,
  deleteSubscriptionsOfApi,
  pauseSubscription,
  planHasSubscriptions,
  rejectSubscription,
  resumeSubscription,
  subscribe,
  transferSubscription,
} from './contracts.ts';
export {
  type ApproveInput,
  type CreateSubscriptionInput,
  type ProcessInput,
  type SubscribeInput,
  type Subscription,
  type SubscriptionFilters,
  type SubscriptionResult,
  type SubscriptionStatus,
  subscriptionStatuses,
  toSubscription,
  type UpdateSubscriptionInput,
} from './model.ts';
export {
  getSubscription,
  listSubscriptions,
  listSubscriptionsForApis,
  listSubscriptionsForApplications,
  listSubscriptionsForPlans,
  loadSubscriptions,
} from './reads.ts';
export { createSubscription, deleteSubscription, updateSubscription } from './v09.ts';
