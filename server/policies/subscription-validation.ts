import { z } from 'zod';
import { clientHeaderName, headerNamePattern } from '../domain/http-primitives.ts';
import type { IrSubscriptionPlan } from '../xds/ir.ts';
import { type PolicyKindModule, fromParsedParams, ok, pick, sameSettings, routeAttachments } from './kind.ts';
import { moduleConfiguration, sha256Hex } from './module-config.ts';

/** The subscription-validation kind (policies/subscription-validation): v0.9 subscription tokens and plan quotas. */

export interface SubscriptionValidationRouteSettings {
  api: string;
  /** Lowercase. */
  header: string;
  /** Lowercase cookie name; '' = cookies are not read. */
  cookie: string;
  /** false: the module lets the route's requests through untouched. */
  enabled: boolean;
  propagateCredential: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    'subscription-validation': SubscriptionValidationRouteSettings;
  }
}

const credentialHeader = clientHeaderName('must be a valid header name');

/**
 * The reference's params (`enabled`, `subscriptionKeyHeader`, `subscriptionKeyCookie`), plus `header`, our earlier
 * name of `subscriptionKeyHeader` (kept as a synonym), and `propagateCredential`. A blank header or cookie is the
 * default, as the reference trims and falls back.
 */
const params = z
  .strictObject({
    enabled: z.boolean().default(true),
    subscriptionKeyHeader: z.union([z.literal(''), credentialHeader]).optional(),
    header: credentialHeader.optional(),
    subscriptionKeyCookie: z.union([z.literal(''), z.string().regex(headerNamePattern, 'must be a valid cookie name')]).default(''),
    propagateCredential: z.boolean().optional(),
  })
  .refine((p) => !p.header || !p.subscriptionKeyHeader || p.header.toLowerCase() === p.subscriptionKeyHeader.toLowerCase(), {
    path: ['header'],
    message: 'names another header than subscriptionKeyHeader (header is its synonym): give one of them',
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
    routes: z.record(
      z.string(),
      z.object({
        api: z.string(),
        header: z.string().optional(),
        cookie: z.string().optional(),
        enabled: z.boolean().optional(),
        propagateCredential: z.boolean().optional(),
      }),
    ),
  },
  { digestKey: true },
);

/** docs/policies.md#subscription-validation */
export const subscriptionValidationFilter: PolicyKindModule<'subscription-validation'> = {
  kind: 'subscription-validation',
  definition: { name: 'subscription-validation', aliases: [], description: 'Subscription-Key header (or cookie, or an auth policy\'s identity) to an active subscription and its plan quota.', params, attachTo: routeAttachments },
  usesKeyDigests: true,
  fromParams: fromParsedParams('subscription-validation', params, (p, ctx) =>
    ok({
      api: ctx.api,
      header: (p.subscriptionKeyHeader || p.header || 'Subscription-Key').toLowerCase(),
      cookie: p.subscriptionKeyCookie.toLowerCase(),
      enabled: p.enabled,
      propagateCredential: p.propagateCredential ?? false,
    }),
  ),
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
