import type { IrSubscriptionPlan } from '../ir.ts';
import { type PolicyFilter, fail, isString, ok, pick, sameSettings } from './filter.ts';

/** docs/policies.md#subscription-validation */
export const subscriptionValidationFilter: PolicyFilter<'subscription-validation'> = {
  kind: 'subscription-validation',
  aliases: [],
  usesKeyDigests: true,
  fromParams(params, ctx) {
    const { header = 'subscription-key', propagateCredential = false } = params;
    if (!isString(header) || header === '') return fail([{ path: 'params.header', message: 'must be a header name' }]);
    if (typeof propagateCredential !== 'boolean') return fail([{ path: 'params.propagateCredential', message: 'must be a boolean' }]);
    return ok({ api: ctx.api, header: header.toLowerCase(), propagateCredential });
  },
  merge(earlier, later) {
    return sameSettings(earlier, later) ? earlier : 'two different subscription-validation policies apply to this route';
  },
  pluginConfiguration(routes, tables) {
    const apis = pick(tables.subscriptionApis, [...routes.values()].map((r) => r.api));
    const planIds = Object.values(apis).flatMap((a) => a.subscriptions.flatMap((s) => (s.plan === null ? [] : [s.plan])));
    const plans: Record<string, IrSubscriptionPlan> = pick(tables.subscriptionPlans, planIds);
    return {
      plans: Object.fromEntries(
        Object.entries(plans).map(([id, p]) => [
          id,
          {
            name: p.name,
            throttleLimitCount: p.throttleLimitCount,
            ...(p.throttleLimitUnit === null ? {} : { throttleLimitUnit: p.throttleLimitUnit }),
            stopOnQuotaReach: p.stopOnQuotaReach,
          },
        ]),
      ),
      apis,
      routes: Object.fromEntries(routes),
    };
  },
};
