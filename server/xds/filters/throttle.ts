import type { ThrottleLimit, ThrottleRouteSettings } from '../ir.ts';
import { parseDurationMs } from '../translate/durations.ts';
import { type ParamIssue, type PolicyFilter, fail, isString, ok, routesObject } from './filter.ts';

const scopes = ['route', 'api', 'application', 'subscription'] as const;
/** The module's bounds for windowMs (docs/policies.md#throttle). */
const minWindowMs = 1000;
const maxWindowMs = 400 * 86_400_000;

function limitOf(value: unknown, path: string, issues: ParamIssue[]): ThrottleLimit | null {
  const { requests, duration, scope = 'route', key = null } = (value ?? {}) as Record<string, unknown>;
  const windowMs = isString(duration) ? parseDurationMs(duration) : null;
  const before = issues.length;
  if (typeof requests !== 'number' || !Number.isInteger(requests) || requests < 1) issues.push({ path: `${path}.requests`, message: 'must be an integer >= 1' });
  if (windowMs === null || windowMs < minWindowMs || windowMs > maxWindowMs) issues.push({ path: `${path}.duration`, message: 'must be a duration between 1s and 400 days' });
  if (!(scopes as readonly unknown[]).includes(scope)) issues.push({ path: `${path}.scope`, message: 'must be route, api, application or subscription' });
  if (key !== null && (!isString(key) || key === '')) issues.push({ path: `${path}.key`, message: 'must be a non-empty string' });
  if (issues.length > before) return null;
  return { requests: requests as number, windowMs: windowMs as number, scope: scope as ThrottleLimit['scope'], key: key as string | null };
}

/** Throttle settings of a plan's own `throttle` policy, as a quota (`plans.<id>.limits`). */
export function quotaFromSettings(settings: ThrottleRouteSettings): { limits: { requests: number; windowMs: number }[]; stopOnQuotaReach: boolean } {
  return { limits: settings.limits.map((l) => ({ requests: l.requests, windowMs: l.windowMs })), stopOnQuotaReach: settings.stopOnQuotaReach };
}

/** docs/policies.md#throttle */
export const throttleFilter: PolicyFilter<'throttle'> = {
  kind: 'throttle',
  aliases: ['basic-ratelimit'],
  fromParams(params) {
    const issues: ParamIssue[] = [];
    const { limits = [], planQuota = false, stopOnQuotaReach = true } = params;
    const parsed: ThrottleLimit[] = [];
    if (!Array.isArray(limits)) issues.push({ path: 'params.limits', message: 'must be a list' });
    else limits.forEach((l: unknown, i) => {
      const limit = limitOf(l, `params.limits[${i}]`, issues);
      if (limit) parsed.push(limit);
    });
    if (typeof planQuota !== 'boolean') issues.push({ path: 'params.planQuota', message: 'must be a boolean' });
    if (typeof stopOnQuotaReach !== 'boolean') issues.push({ path: 'params.stopOnQuotaReach', message: 'must be a boolean' });
    if (issues.length === 0 && parsed.length === 0 && planQuota !== true) issues.push({ path: 'params.limits', message: 'must list at least one limit or set planQuota' });
    if (issues.length > 0) return fail(issues);
    return ok({ limits: parsed, planQuota: planQuota as boolean, stopOnQuotaReach: stopOnQuotaReach as boolean });
  },
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
};
