import type { CreateSubscriptionInput, Subscription, SubscriptionStatus, UpdateSubscriptionInput } from '../../domain/subscriptions/index.ts';
import { FieldReader, objectBody } from './body.ts';
import { toRestTime } from './time.ts';

/** v0.9 statuses onto ours (docs/architecture.md): ACTIVE = ACCEPTED, INACTIVE = PAUSED, REVOKED = CLOSED. */
export const fromRestStatus = { ACTIVE: 'ACCEPTED', INACTIVE: 'PAUSED', REVOKED: 'CLOSED' } as const satisfies Record<string, SubscriptionStatus>;
export type RestSubscriptionStatus = keyof typeof fromRestStatus;

/** And back: PENDING and REJECTED (contracts made over GraphQL) read as INACTIVE. */
const toRestStatus: Record<SubscriptionStatus, RestSubscriptionStatus> = {
  PENDING: 'INACTIVE',
  ACCEPTED: 'ACTIVE',
  REJECTED: 'INACTIVE',
  PAUSED: 'INACTIVE',
  CLOSED: 'REVOKED',
};

/** The statuses of ours a v0.9 status filter selects. */
export const restStatusFilter: Record<RestSubscriptionStatus, SubscriptionStatus[]> = {
  ACTIVE: ['ACCEPTED'],
  INACTIVE: ['PAUSED', 'PENDING', 'REJECTED'],
  REVOKED: ['CLOSED'],
};

export interface RestSubscriptionJson {
  id: string;
  apiId: string;
  applicationId: string | null;
  /** Only in the create response: the token is stored as SHA-256 and never readable again. */
  subscriptionToken?: string;
  subscriptionPlanId: string | null;
  billingCustomerId: string | null;
  billingSubscriptionId: string | null;
  gatewayId: string | null;
  status: RestSubscriptionStatus;
  createdAt: string;
  updatedAt: string;
}

/** `apiHandle`: the API's handle (its v0.9 id); `token`: only from the call that set it. */
export function toRestSubscription(s: Subscription, apiHandle: string, token?: string): RestSubscriptionJson {
  const out: RestSubscriptionJson = {
    id: s.id,
    apiId: apiHandle,
    applicationId: s.applicationRef ?? s.applicationId,
    subscriptionPlanId: s.subscriptionPlanId,
    billingCustomerId: s.billingCustomerId,
    billingSubscriptionId: s.billingSubscriptionId,
    gatewayId: s.gatewayId,
    status: toRestStatus[s.status],
    createdAt: toRestTime(s.createdAt),
    updatedAt: toRestTime(s.updatedAt),
  };
  if (token !== undefined) out.subscriptionToken = token;
  return out;
}

/** The fields create and update requests share, read (and reported) in the same order. */
function readSharedFields(reader: FieldReader) {
  return {
    applicationId: reader.string('applicationId'),
    subscriptionPlanId: reader.string('subscriptionPlanId'),
    billingCustomerId: reader.string('billingCustomerId'),
    billingSubscriptionId: reader.string('billingSubscriptionId'),
    status: reader.oneOf('status', fromRestStatus),
  };
}

/** SubscriptionCreateRequest: apiId (handle or id) and subscriptionToken required. */
export function fromCreateSubscriptionBody(body: unknown): CreateSubscriptionInput {
  const reader = new FieldReader(objectBody(body, { required: true }));
  const apiId = reader.string('apiId', { required: true });
  const subscriptionToken = reader.string('subscriptionToken', { required: true });
  const input = readSharedFields(reader);
  reader.assertValid();
  return { apiId: apiId as string, subscriptionToken: subscriptionToken as string, ...input };
}

/** SubscriptionUpdateRequest: every field optional; absent fields stay. */
export function fromUpdateSubscriptionBody(body: unknown): UpdateSubscriptionInput {
  const reader = new FieldReader(objectBody(body, { required: false }));
  const input: UpdateSubscriptionInput = { subscriptionToken: reader.string('subscriptionToken'), ...readSharedFields(reader) };
  reader.assertValid();
  return input;
}
