import { z } from 'zod';
import { parseDurationMs } from '../domain/durations.ts';
import type { IrQuotaPlan } from '../xds/ir.ts';
import { durationWholeMs } from '../xds/translate/durations.ts';
import { type PolicyKindModule, fromParsedParams, ok, routesObject, anyAttachment } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';

/** The throttle kind (policies/throttle, docs/policies.md#throttle): sliding-window limits and plan quotas. */

export interface ThrottleLimit {
  requests: number;
  windowMs: number;
  scope: 'route' | 'api' | 'application' | 'subscription';
  key: string | null;
}

export interface ThrottleRouteSettings {
  limits: ThrottleLimit[];
  planQuota: boolean;
  stopOnQuotaReach: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    throttle: ThrottleRouteSettings;
  }
}

// Windows: at least a second (RateLimit-Reset and Retry-After are whole seconds), at most 400 days, the bounds the
// module accepts for windowMs.
const minWindowMs = 1000;
const maxWindowMs = 400 * 86_400_000;
const windowDuration = z.string().refine((v) => {
  const ms = parseDurationMs(v);
  return ms !== null && ms >= minWindowMs && ms <= maxWindowMs;
}, 'must be a duration between 1s and 9600h (e.g. "1m", "1h")');

const params = z
  .strictObject({
    limits: z
      .array(
        z.strictObject({
          requests: z.number().int('must be an integer').min(1, 'must be at least 1'),
          duration: windowDuration,
          scope: z.enum(['route', 'api', 'application', 'subscription'], {
            error: 'must be route, api, application or subscription',
          }).optional(),
          /** Explicit counter key, to share one counter across routes (docs/policies.md#throttle). */
          key: z.string().min(1).optional(),
        }),
      )
      .optional(),
    planQuota: z.boolean().optional(),
    stopOnQuotaReach: z.boolean().optional(),
  })
  .refine((p) => (p.limits?.length ?? 0) > 0 || p.planQuota === true, {
    message: 'must list at least one limit or set planQuota',
    path: ['limits'],
  });

const window = z.object({ requests: z.number().int().min(1), windowMs: z.number().int().min(minWindowMs).max(maxWindowMs) });
const configuration = moduleConfiguration({
  plans: z.record(z.string(), z.object({ limits: z.array(window), stopOnQuotaReach: z.boolean().optional() })).optional(),
  routes: z.record(
    z.string(),
    z.object({
      limits: z.array(window.extend({ scope: z.enum(['route', 'api', 'application', 'subscription']).optional(), key: z.string().min(1).optional() })).optional(),
      planQuota: z.boolean().optional(),
      stopOnQuotaReach: z.boolean().optional(),
    }),
  ),
});

/** Throttle settings of a plan's own `throttle` policy, as a quota (`plans.<id>.limits`). */
export function quotaFromSettings(settings: ThrottleRouteSettings): IrQuotaPlan {
  return { limits: settings.limits.map((l) => ({ requests: l.requests, windowMs: l.windowMs })), stopOnQuotaReach: settings.stopOnQuotaReach };
}

/** docs/policies.md#throttle */
export const throttleFilter: PolicyKindModule<'throttle'> = {
  kind: 'throttle',
  definition: { name: 'throttle', aliases: ['basic-ratelimit'], description: 'Request limits per route or API, plan and subscription quotas.', params, attachTo: anyAttachment },
  fromParams: fromParsedParams('throttle', params, (p) =>
    ok({
      limits: (p.limits ?? []).map((l) => ({ requests: l.requests, windowMs: durationWholeMs(l.duration)!, scope: l.scope ?? 'route', key: l.key ?? null })),
      planQuota: p.planQuota ?? false,
      stopOnQuotaReach: p.stopOnQuotaReach ?? true,
    }),
  ),
  merge(earlier, later) {
    // Both apply: every limit counts; a quota stops traffic when either attachment asks it to.
    return {
      limits: [...earlier.limits, ...later.limits],
      planQuota: earlier.planQuota || later.planQuota,
      stopOnQuotaReach: earlier.stopOnQuotaReach || later.stopOnQuotaReach,
    };
  },
  pluginConfiguration(routes, tables) {
    const usesPlans = [...routes.values()].some((r) => r.planQuota);
    return {
      plans: usesPlans ? tables.quotaPlans : {},
      routes: routesObject(routes, (r) => ({
        limits: r.limits.map((l) => ({ requests: l.requests, windowMs: l.windowMs, scope: l.scope, ...(l.key === null ? {} : { key: l.key }) })),
        planQuota: r.planQuota,
        stopOnQuotaReach: r.stopOnQuotaReach,
      })),
    };
  },
  configuration,
};
