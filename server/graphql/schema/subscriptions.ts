import { listApiKeysForSubscriptions } from '../../domain/api-keys/index.ts';
import { loadApplications } from '../../domain/applications.ts';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { loadPlans } from '../../domain/plans/index.ts';
import {
  approveSubscription,
  closeSubscription,
  listSubscriptions,
  listSubscriptionsForApplications,
  listSubscriptionsForPlans,
  loadSubscriptions,
  pauseSubscription,
  rejectSubscription,
  resumeSubscription,
  type SubscriptionResult,
  subscribe,
  subscriptionStatuses,
  transferSubscription,
} from '../../domain/subscriptions/index.ts';
import { builder } from '../builder.ts';
import { ApiKeyRef, IssuedApiKeyRef } from './api-keys.ts';
import { ApiRef } from './apis.ts';
import { ApplicationRef } from './applications.ts';
import { PlanRef } from './plans.ts';
import { rawId } from '../global-id.ts';
import { childListField, connectionQueryField, idMutationField, loadOne, nodeById, nodePayload, nodeQueryField, referencedNode } from '../node-fields.ts';

export const SubscriptionStatusEnum = builder.enumType('SubscriptionStatus', { values: subscriptionStatuses });

const KeyModeChoiceEnum = builder.enumType('SubscriptionApiKeyMode', {
  description: "The application's API-key mode, chosen at its second API-key subscription (default EXCLUSIVE).",
  values: ['SHARED', 'EXCLUSIVE'] as const,
});

export const SubscriptionRef = builder.loadableNode('ApiSubscription', {
  description: 'A contract between an application and an API through a plan, or a v0.9 subscription (API + token).',
  ...nodeById('Subscription', loadSubscriptions),
  fields: (t) => ({
    status: t.field({ type: SubscriptionStatusEnum, resolve: (s) => s.status }),
    api: t.field({ type: ApiRef, resolve: (s) => s.apiId }),
    application: t.loadable({ ...referencedNode(ApplicationRef, loadApplications), resolve: (s) => s.applicationId }),
    plan: t.loadable({ ...referencedNode(PlanRef, loadPlans), resolve: (s) => s.planId }),
    keys: t.loadableList({
      type: ApiKeyRef,
      description: 'Keys this subscription authenticates with (its own, or its application’s shared key), masked.',
      load: (ids: string[], ctx) => listApiKeysForSubscriptions(ctx.domain, ids),
      resolve: (s) => s.id,
    }),
    usesSharedKey: t.exposeBoolean('usesSharedKey'),
    applicationRef: t.exposeString('applicationRef', { nullable: true, description: 'v0.9 applicationId as sent.' }),
    subscriptionPlanId: t.exposeString('subscriptionPlanId', { nullable: true, description: 'v0.9 subscription plan id.' }),
    hasToken: t.exposeBoolean('hasToken', { description: 'Whether a v0.9 subscription token is set (never readable).' }),
    billingCustomerId: t.exposeString('billingCustomerId', { nullable: true }),
    billingSubscriptionId: t.exposeString('billingSubscriptionId', { nullable: true }),
    requestMessage: t.exposeString('requestMessage', { nullable: true }),
    reason: t.exposeString('reason', { nullable: true }),
    startingAt: t.expose('startingAt', { type: 'DateTime', nullable: true }),
    endingAt: t.expose('endingAt', { type: 'DateTime', nullable: true }),
    processedAt: t.expose('processedAt', { type: 'DateTime', nullable: true }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.objectField(ApiKeyRef, 'subscription', (t) =>
  t.field({
    type: SubscriptionRef,
    nullable: true,
    description: 'The subscription owning an exclusive key.',
    resolve: (key) => key.subscriptionId,
  }),
);

childListField(PlanRef, 'subscriptions', {
  type: SubscriptionRef,
  description: "The plan's subscriptions, oldest first (consumers: their own).",
  load: listSubscriptionsForPlans,
});

childListField(ApplicationRef, 'subscriptions', {
  type: SubscriptionRef,
  description: "The application's subscriptions, oldest first.",
  load: listSubscriptionsForApplications,
});

// ---- queries

nodeQueryField('subscription', SubscriptionRef, loadOne(loadSubscriptions));

connectionQueryField('subscriptions', SubscriptionRef, {
  description: 'Subscriptions in creation order; consumers see their applications’ only.',
  args: (arg) => ({
    apiId: arg.globalID({ required: false }),
    applicationId: arg.globalID({ required: false }),
    planId: arg.globalID({ required: false }),
    status: arg({ type: [SubscriptionStatusEnum], required: false }),
  }),
  list: (ctx, args, page) =>
    listSubscriptions(
      ctx,
      {
        apiId: args.apiId ? rawId(args.apiId, 'Api') : undefined,
        applicationId: args.applicationId ? rawId(args.applicationId, 'Application') : undefined,
        planId: args.planId ? rawId(args.planId, 'Plan') : undefined,
        status: args.status ?? undefined,
      },
      page,
    ),
});

// ---- mutations

const SubscriptionResultPayload = (name: string) =>
  builder.objectRef<SubscriptionResult>(name).implement({
    fields: (t) => ({
      subscription: t.field({ type: SubscriptionRef, resolve: (p) => p.subscription }),
      issuedKey: t.field({
        type: IssuedApiKeyRef,
        nullable: true,
        description: 'Set when a new key value was made: shown here once. Null when none was (or the shared key is reused).',
        resolve: (p) => p.issuedKey,
      }),
    }),
  });

const SubscriptionPayload = (name: string) => nodePayload(name, 'subscription', SubscriptionRef);

const lifecycleErrors = [NotFoundError, ForbiddenError, InvalidTransitionError, ValidationError] as const;

builder.mutationField('subscribe', (t) =>
  t.fieldWithInput({
    type: SubscriptionResultPayload('SubscribePayload'),
    description: 'AUTO plans accept at once (issuing the key of an API-key plan); MANUAL plans wait for approval.',
    errors: { types: [...lifecycleErrors, ConflictError] },
    input: {
      applicationId: t.input.globalID(),
      planId: t.input.globalID(),
      requestMessage: t.input.string({ required: false }),
      startingAt: t.input.field({ type: 'DateTime', required: false }),
      endingAt: t.input.field({ type: 'DateTime', required: false }),
      customApiKey: t.input.string({ required: false, description: 'A custom key value (8-64 URL-safe characters).' }),
      apiKeyMode: t.input.field({ type: KeyModeChoiceEnum, required: false }),
    },
    resolve: (_root, { input }, ctx) =>
      subscribe(ctx.domain, {
        applicationId: rawId(input.applicationId, 'Application'),
        planId: rawId(input.planId, 'Plan'),
        requestMessage: input.requestMessage,
        startingAt: input.startingAt,
        endingAt: input.endingAt,
        customApiKey: input.customApiKey,
        apiKeyMode: input.apiKeyMode,
      }),
  }),
);

builder.mutationField('approveSubscription', (t) =>
  t.fieldWithInput({
    type: SubscriptionResultPayload('ApproveSubscriptionPayload'),
    errors: { types: [...lifecycleErrors, ConflictError] },
    input: {
      id: t.input.globalID(),
      reason: t.input.string({ required: false }),
      startingAt: t.input.field({ type: 'DateTime', required: false }),
      endingAt: t.input.field({ type: 'DateTime', required: false }),
      customApiKey: t.input.string({ required: false }),
    },
    resolve: (_root, { input }, ctx) =>
      approveSubscription(ctx.domain, rawId(input.id, 'ApiSubscription'), {
        reason: input.reason,
        startingAt: input.startingAt,
        endingAt: input.endingAt,
        customApiKey: input.customApiKey,
      }),
  }),
);

// reject, pause and close: an id and an optional reason in, the subscription out.
for (const [field, act, description] of [
  ['rejectSubscription', rejectSubscription, undefined],
  ['pauseSubscription', pauseSubscription, undefined],
  ['closeSubscription', closeSubscription, 'Ends the contract and revokes the keys it owns (a shared key stays).'],
] as const) {
  builder.mutationField(field, (t) =>
    t.fieldWithInput({
      type: SubscriptionPayload(`${field[0]!.toUpperCase()}${field.slice(1)}Payload`),
      description,
      errors: { types: [...lifecycleErrors] },
      input: { id: t.input.globalID(), reason: t.input.string({ required: false }) },
      resolve: async (_root, { input }, ctx) => ({
        subscription: await act(ctx.domain, rawId(input.id, 'ApiSubscription'), { reason: input.reason }),
      }),
    }),
  );
}

idMutationField('resumeSubscription', SubscriptionPayload('ResumeSubscriptionPayload'), {
  errors: lifecycleErrors,
  run: async (ctx, id) => ({ subscription: await resumeSubscription(ctx, rawId(id, 'ApiSubscription')) }),
});

builder.mutationField('transferSubscription', (t) =>
  t.fieldWithInput({
    type: SubscriptionPayload('TransferSubscriptionPayload'),
    description: 'Moves the subscription to another PUBLISHED plan of the same API with the same security type.',
    errors: { types: [...lifecycleErrors, ConflictError] },
    input: { id: t.input.globalID(), planId: t.input.globalID() },
    resolve: async (_root, { input }, ctx) => ({
      subscription: await transferSubscription(ctx.domain, rawId(input.id, 'ApiSubscription'), { planId: rawId(input.planId, 'Plan') }),
    }),
  }),
);
