import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import {
  createSubscriptionPlan,
  deleteSubscriptionPlan,
  getSubscriptionPlan,
  listSubscriptionPlans,
  loadSubscriptionPlans,
  type SubscriptionPlan,
  subscriptionPlanStatuses,
  throttleLimitUnits,
  updateSubscriptionPlan,
} from '../../domain/subscription-plans.ts';
import { builder } from '../builder.ts';
import { subscriptionPlanId } from '../global-id.ts';
import { connectionQueryField, deletionPayload, idMutationField, nodeById, nodePayload, nodeQueryField } from '../node-fields.ts';

export const ThrottleLimitUnitEnum = builder.enumType('ThrottleLimitUnit', { values: throttleLimitUnits });
export const SubscriptionPlanStatusEnum = builder.enumType('SubscriptionPlanStatus', { values: subscriptionPlanStatuses });

/** v0.9 subscription plan node; subscriptions refer to it. */
export const SubscriptionPlanRef = builder.loadableNode('SubscriptionPlan', {
  description: 'A v0.9 subscription plan: a named throttle quota.',
  ...nodeById('SubscriptionPlan', loadSubscriptionPlans),
  fields: (t) => ({
    planName: t.exposeString('planName'),
    billingPlan: t.exposeString('billingPlan', { nullable: true }),
    stopOnQuotaReach: t.exposeBoolean('stopOnQuotaReach'),
    throttleLimitCount: t.exposeInt('throttleLimitCount', { nullable: true }),
    throttleLimitUnit: t.field({ type: ThrottleLimitUnitEnum, nullable: true, resolve: (p) => p.throttleLimitUnit }),
    expiryTime: t.expose('expiryTime', { type: 'DateTime', nullable: true }),
    gatewayId: t.exposeString('gatewayId', { nullable: true }),
    status: t.field({ type: SubscriptionPlanStatusEnum, resolve: (p) => p.status }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

nodeQueryField('subscriptionPlan', SubscriptionPlanRef, getSubscriptionPlan);

connectionQueryField('subscriptionPlans', SubscriptionPlanRef, {
  description: 'v0.9 subscription plans, oldest first.',
  args: (arg) => ({
    status: arg({ type: SubscriptionPlanStatusEnum, required: false }),
    planName: arg.string({ required: false }),
  }),
  list: (ctx, args, page) => listSubscriptionPlans(ctx, { status: args.status ?? undefined, planName: args.planName ?? undefined }, page),
});

const PlanPayload = (name: string) => nodePayload(name, 'subscriptionPlan', SubscriptionPlanRef);

builder.mutationField('createSubscriptionPlan', (t) =>
  t.fieldWithInput({
    type: PlanPayload('CreateSubscriptionPlanPayload'),
    authScopes: { manager: true },
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      planName: t.input.string(),
      billingPlan: t.input.string({ required: false }),
      stopOnQuotaReach: t.input.boolean({ required: false, description: 'Default true.' }),
      throttleLimitCount: t.input.int({ required: false, description: 'With throttleLimitUnit; > 0.' }),
      throttleLimitUnit: t.input.field({ type: ThrottleLimitUnitEnum, required: false }),
      expiryTime: t.input.field({ type: 'DateTime', required: false }),
      gatewayId: t.input.string({ required: false }),
      status: t.input.field({ type: SubscriptionPlanStatusEnum, required: false, description: 'Default ACTIVE.' }),
    },
    resolve: async (_root, { input }, ctx) => ({ subscriptionPlan: await createSubscriptionPlan(ctx.domain, input) }),
  }),
);

builder.mutationField('updateSubscriptionPlan', (t) =>
  t.fieldWithInput({
    type: PlanPayload('UpdateSubscriptionPlanPayload'),
    authScopes: { manager: true },
    description: 'Merges: absent fields keep their value, null clears an optional one.',
    errors: { types: [ValidationError, NotFoundError, ConflictError, ForbiddenError] },
    input: {
      id: t.input.globalID(),
      planName: t.input.string({ required: false }),
      billingPlan: t.input.string({ required: false }),
      stopOnQuotaReach: t.input.boolean({ required: false }),
      throttleLimitCount: t.input.int({ required: false }),
      throttleLimitUnit: t.input.field({ type: ThrottleLimitUnitEnum, required: false }),
      expiryTime: t.input.field({ type: 'DateTime', required: false }),
      gatewayId: t.input.string({ required: false }),
      status: t.input.field({ type: SubscriptionPlanStatusEnum, required: false }),
    },
    resolve: async (_root, { input: { id, ...changes } }, ctx) => ({
      subscriptionPlan: await updateSubscriptionPlan(ctx.domain, subscriptionPlanId(id), changes),
    }),
  }),
);

const DeleteSubscriptionPlanPayload = deletionPayload('DeleteSubscriptionPlanPayload', 'subscriptionPlan', 'SubscriptionPlan', {
  field: 'planName',
  of: (plan: SubscriptionPlan) => plan.planName,
});

idMutationField('deleteSubscriptionPlan', DeleteSubscriptionPlanPayload, {
  manager: true,
  description: 'Refused with ConflictError while subscriptions use the plan.',
  errors: [NotFoundError, ConflictError, ForbiddenError],
  run: async (ctx, id) => ({ subscriptionPlan: await deleteSubscriptionPlan(ctx, subscriptionPlanId(id)) }),
});
