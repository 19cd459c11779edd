import type { DeployedSubscription } from '../../../domain/deployment-model.ts';
import type { IrSubscription } from '../../ir.ts';
import type { TablesStep } from './step.ts';

function v09Status(sub: DeployedSubscription): IrSubscription['status'] {
  if (sub.status === 'CLOSED') return 'REVOKED';
  return sub.isLive ? 'ACTIVE' : 'INACTIVE';
}

/** subscription-validation: every subscription of the API, with the v0.9 subscription plans they name. */
export const subscriptionValidationTables: TablesStep = {
  kind: 'subscription-validation',
  tables(input, { tables }) {
    if (!input.attaches('subscription-validation')) return;
    const v09: IrSubscription[] = [];
    for (const sub of input.subscriptions) {
      const subscriptionPlan = sub.subscriptionPlanId === null ? undefined : input.index.subscriptionPlans.get(sub.subscriptionPlanId);
      if (subscriptionPlan) {
        tables.subscriptionPlans[subscriptionPlan.id] = {
          name: subscriptionPlan.planName,
          throttleLimitCount: subscriptionPlan.throttleLimitCount ?? 0,
          throttleLimitUnit: subscriptionPlan.throttleLimitUnit,
          stopOnQuotaReach: subscriptionPlan.stopOnQuotaReach,
        };
      }
      v09.push({ id: sub.id, applicationId: sub.applicationId, tokenSha256: sub.tokenSha256, status: v09Status(sub), plan: subscriptionPlan ? subscriptionPlan.id : null });
    }
    tables.subscriptionApis[input.api.handle] = { subscriptions: v09 };
  },
};
