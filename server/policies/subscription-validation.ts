import { z } from 'zod';
import { headerName } from '../domain/http-primitives.ts';
import type { IrSubscriptionPlan } from '../xds/ir.ts';
import { type PolicyKindModule, fromParsedParams, ok, pick, sameSettings, routeAttachments } from './kind.ts';
import { moduleConfiguration, sha256Hex } from './module-config.ts';

/** The subscription-validation kind (policies/subscription-validation): v0.9 subscription tokens and plan quotas. */

export interface SubscriptionValidationRouteSettings {
  api: string;
  header: string;
  propagateCredential: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    'subscription-validation': SubscriptionValidationRouteSettings;
  }
}

const params = z.strictObject({
  header: headerName('must be a valid header name').default('Subscription-Key'),
  propagateCredential: z.boolean().optional(),
});

const configuration = moduleConfiguration(
  {
    plans: z.record(
      z.string(),
      z.object({
        name: z.string().optional(),
        throttleLimitCount: z.number().int().min(0).optional(),
        throttleLimitUnit: z.enum(['Min', 'Hour', 'Day', 'Month']).optional(),
        stopOnQuotaReach: z.boolean().optional(),
      }),
    ),
    apis: z.record(
      z.string(),
      z.object({
        subscriptions: z.array(
          z.object({
            id: z.string(),
            applicationId: z.string().nullable().optional(),
            tokenSha256: sha256Hex.nullable().optional(),
            /** Only `ACTIVE` passes. */
            status: z.string(),
            plan: z.string().nullable().optional(),
          }),
        ),
      }),
    ),
    routes: z.record(z.string(), z.object({ api: z.string(), header: z.string().optional(), propagateCredential: z.boolean().optional() })),
  },
  { digestKey: true },
);

/** docs/policies.md#subscription-validation */
export const subscriptionValidationFilter: PolicyKindModule<'subscription-validation'> = {
  kind: 'subscription-validation',
  definition: { name: 'subscription-validation', aliases: [], description: 'Subscription-Key header to an active subscription and its plan quota.', params, attachTo: routeAttachments },
  usesKeyDigests: true,
  fromParams: fromParsedParams('subscription-validation', params, (p, ctx) => ok({ api: ctx.api, header: p.header.toLowerCase(), propagateCredential: p.propagateCredential ?? false })),
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
  configuration,
};
