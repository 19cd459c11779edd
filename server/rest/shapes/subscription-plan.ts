import type { SubscriptionPlan, SubscriptionPlanInput, SubscriptionPlanStatus, ThrottleLimitUnit } from '../../domain/subscription-plans.ts';
import { FieldReader, objectBody } from './body.ts';
import { toRestTime, toRestTimeOrNull } from './time.ts';

/** The model with its instants as v0.9 time strings. */
export type RestSubscriptionPlanJson = Omit<SubscriptionPlan, 'expiryTime' | 'createdAt' | 'updatedAt'> & {
  expiryTime: string | null;
  createdAt: string;
  updatedAt: string;
};

export function toRestSubscriptionPlan(plan: SubscriptionPlan): RestSubscriptionPlanJson {
  return {
    id: plan.id,
    planName: plan.planName,
    billingPlan: plan.billingPlan,
    stopOnQuotaReach: plan.stopOnQuotaReach,
    throttleLimitCount: plan.throttleLimitCount,
    throttleLimitUnit: plan.throttleLimitUnit,
    expiryTime: toRestTimeOrNull(plan.expiryTime),
    gatewayId: plan.gatewayId,
    status: plan.status,
    createdAt: toRestTime(plan.createdAt),
    updatedAt: toRestTime(plan.updatedAt),
  };
}

/**
 * SubscriptionPlanCreateRequest / SubscriptionPlanUpdateRequest. Absent stays absent (PUT merges in the
 * domain); only JSON types are checked here, the values (planName required, count with unit, count > 0,
 * unit and status sets) are the domain's rules, which is why the enum casts are sound.
 */
export function fromSubscriptionPlanBody(body: unknown, options: { required: boolean }): SubscriptionPlanInput {
  const reader = new FieldReader(objectBody(body, options));
  const input: SubscriptionPlanInput = {
    planName: reader.string('planName'),
    billingPlan: reader.string('billingPlan'),
    stopOnQuotaReach: reader.boolean('stopOnQuotaReach'),
    throttleLimitCount: reader.number('throttleLimitCount'),
    throttleLimitUnit: reader.string('throttleLimitUnit') as ThrottleLimitUnit | null | undefined,
    expiryTime: reader.instant('expiryTime'),
    status: reader.string('status') as SubscriptionPlanStatus | null | undefined,
  };
  reader.assertValid();
  return input;
}
