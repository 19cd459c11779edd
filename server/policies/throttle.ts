import { z } from 'zod';
import { parseDurationMs } from '../domain/durations.ts';
import type { IrQuotaPlan } from '../xds/ir.ts';
import { durationWholeMs } from '../xds/translate/durations.ts';
import { advancedRateLimitDefinition, advancedRateLimitStage } from './advanced-ratelimit.ts';
import { type PolicyKindModule, fail, ok, paramsIssues, routesObject, anyAttachment } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';

/**
 * The throttle kind (policies/throttle, docs/policies.md#throttle): sliding-window limits and plan quotas, for
 * `throttle` / `basic-ratelimit` and `advanced-ratelimit` attachments alike.
 */

import type { ThrottleHeaders, ThrottleLimit, ThrottleRouteSettings, ThrottleScope } from './throttle-settings.ts';

export type { ThrottleRouteSettings } from './throttle-settings.ts';

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

const allHeaders: ThrottleHeaders = { xRateLimit: true, ietf: true, retryAfter: true, legacy: true };

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
const keyPart = z.union([
  z.object({ type: z.literal('header'), name: z.string().min(1) }),
  z.object({ type: z.literal('ip') }),
  z.object({ type: z.literal('constant'), value: z.string() }),
]);
const routeLimit = window.extend({
  scope: z.enum(['route', 'api', 'application', 'subscription']).optional(),
  key: z.string().min(1).optional(),
  quota: z.string().min(1).optional(),
  keyBy: z.array(keyPart).optional(),
});
const configuration = moduleConfiguration({
  plans: z.record(z.string(), z.object({ limits: z.array(window), stopOnQuotaReach: z.boolean().optional() })).optional(),
  routes: z.record(
    z.string(),
    z.object({
      /** One stage of limits (hand-written configurations); the translator writes `stages`. */
      limits: z.array(routeLimit).optional(),
      stages: z
        .array(
          z.object({
            limits: z.array(routeLimit),
            reply: z.object({ status: z.number().int().min(200).max(599), body: z.string(), contentType: z.string().min(1) }).optional(),
            headers: z.object({ xRateLimit: z.boolean(), ietf: z.boolean(), retryAfter: z.boolean(), legacy: z.boolean().optional() }).optional(),
          }),
        )
        .optional(),
      planQuota: z.boolean().optional(),
      stopOnQuotaReach: z.boolean().optional(),
    }),
  ),
});

/** Throttle settings of a plan's own `throttle` policy, as a quota (`plans.<id>.limits`). */
export function quotaFromSettings(settings: ThrottleRouteSettings): IrQuotaPlan {
  const limits = settings.stages.flatMap((s) => s.limits);
  return { limits: limits.map((l) => ({ requests: l.requests, windowMs: l.windowMs })), stopOnQuotaReach: settings.stopOnQuotaReach };
}

function limitJson(l: ThrottleLimit): Record<string, unknown> {
  return {
    requests: l.requests,
    windowMs: l.windowMs,
    scope: l.scope,
    ...(l.key === null ? {} : { key: l.key }),
    ...(l.quota === 'default' ? {} : { quota: l.quota }),
    ...(l.keyBy.length === 0 ? {} : { keyBy: l.keyBy }),
  };
}

const sameHeaders = (a: ThrottleHeaders, b: ThrottleHeaders) => a.xRateLimit === b.xRateLimit && a.ietf === b.ietf && a.retryAfter === b.retryAfter && a.legacy === b.legacy;

/** docs/policies.md#throttle */
export const throttleFilter: PolicyKindModule<'throttle'> = {
  kind: 'throttle',
  definition: { name: 'throttle', aliases: ['basic-ratelimit'], description: 'Request limits per route or API, plan and subscription quotas.', params, attachTo: anyAttachment },
  variants: [advancedRateLimitDefinition],
  fromParams(raw, ctx, site) {
    if (site?.name === advancedRateLimitDefinition.name) {
      const stage = advancedRateLimitStage(raw, ctx);
      return stage.ok ? ok({ stages: [stage.settings], planQuota: false, stopOnQuotaReach: true }) : stage;
    }
    const parsed = params.safeParse(raw);
    if (!parsed.success) return fail(paramsIssues(parsed.error.issues, 'params', 'throttle'));
    const p = parsed.data;
    // The reference's basic-ratelimit: an API-level limit is one bucket for the whole API, an operation's its own.
    const scope: ThrottleScope = site?.source === 'api' ? 'api' : 'route';
    const limits = (p.limits ?? []).map((l): ThrottleLimit => ({
      requests: l.requests,
      windowMs: durationWholeMs(l.duration)!,
      scope: l.scope ?? scope,
      key: l.key ?? null,
      quota: 'default',
      keyBy: [],
    }));
    return ok({
      stages: limits.length === 0 ? [] : [{ limits, reply: null, headers: allHeaders }],
      planQuota: p.planQuota ?? false,
      stopOnQuotaReach: p.stopOnQuotaReach ?? true,
    });
  },
  merge(earlier, later) {
    // Both apply, one stage after the other; a quota stops traffic when either attachment asks it to.
    return {
      stages: [...earlier.stages, ...later.stages],
      planQuota: earlier.planQuota || later.planQuota,
      stopOnQuotaReach: earlier.stopOnQuotaReach || later.stopOnQuotaReach,
    };
  },
  pluginConfiguration(routes, tables) {
    const usesPlans = [...routes.values()].some((r) => r.planQuota);
    return {
      plans: usesPlans ? tables.quotaPlans : {},
      routes: routesObject(routes, (r) => ({
        stages: r.stages.map((s) => ({
          limits: s.limits.map(limitJson),
          ...(s.reply === null ? {} : { reply: s.reply }),
          ...(sameHeaders(s.headers, allHeaders) ? {} : { headers: s.headers }),
        })),
        planQuota: r.planQuota,
        stopOnQuotaReach: r.stopOnQuotaReach,
      })),
    };
  },
  configuration,
};
