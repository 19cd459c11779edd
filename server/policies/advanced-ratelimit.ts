import { z } from 'zod';
import { parseDurationMs } from '../domain/durations.ts';
import { durationWholeMs } from '../xds/translate/durations.ts';
import { type AttachmentContext, type ParamsResult, type PolicyParamsDefinition, fail, ok, paramsIssues, routeAttachments } from './kind.ts';
import type { ThrottleKeyPart, ThrottleLimit, ThrottleStage } from './throttle-settings.ts';

/**
 * advanced-ratelimit, the reference gateway's named quotas (wso2/gateway-controllers policies/advanced-ratelimit),
 * served by the throttle module: each attachment becomes one throttle stage (docs/policies.md#throttle). What the
 * module cannot count exactly is refused here, with the field named: CEL and metadata keys, cost extraction, a
 * burst other than the limit (docs/rest.md#rate-limiting).
 */

const keyTypes = ['header', 'metadata', 'ip', 'apiname', 'apiversion', 'routename', 'cel', 'constant'] as const;

const keyComponent = z
  .strictObject({
    type: z.enum(keyTypes, { error: `must be one of ${keyTypes.join(', ')}` }),
    key: z.string().min(1).max(256).optional(),
    expression: z.string().min(1).max(1024).optional(),
  })
  .superRefine((c, issues) => {
    if (c.type === 'cel' || c.type === 'metadata') {
      issues.addIssue({ code: 'custom', path: ['type'], message: `${c.type} keys are not supported by the gateway (use header, ip, apiname, apiversion, routename or constant)` });
    }
    if ((c.type === 'header' || c.type === 'constant') && c.key === undefined) issues.addIssue({ code: 'custom', path: ['key'], message: `is required for a ${c.type} key` });
  });

// The module's window bounds: at least a second (Reset and Retry-After are whole seconds), at most 400 days.
const duration = z.string().refine((v) => {
  const ms = parseDurationMs(v);
  return ms !== null && ms >= 1000 && ms <= 400 * 86_400_000;
}, 'must be a duration between 1s and 9600h (e.g. "1m", "1h")');

const limit = z
  .strictObject({
    limit: z.number().int('must be an integer').min(1, 'must be at least 1').max(1_000_000_000),
    duration,
    burst: z.number().int('must be an integer').min(1).max(1_000_000_000).optional(),
  })
  .refine((l) => l.burst === undefined || l.burst === l.limit, {
    path: ['burst'],
    message: 'must equal limit: the gateway counts a sliding window, which has no burst beyond the limit',
  });

const params = z.strictObject({
  quotas: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(128).optional(),
        limits: z.array(limit).min(1, 'must list at least one limit').max(10),
        keyExtraction: z.array(keyComponent).max(5).optional(),
        costExtraction: z
          .looseObject({ enabled: z.boolean().optional() })
          .refine((c) => c.enabled !== true, 'cost extraction is not supported by the gateway: every request costs 1')
          .optional(),
      }),
    )
    .min(1, 'must list at least one quota')
    .max(10),
  keyExtraction: z.array(keyComponent).max(5).optional(),
  onRateLimitExceeded: z
    .strictObject({
      statusCode: z.number().int().min(400).max(599).optional(),
      body: z.string().max(8192).optional(),
      bodyFormat: z.enum(['json', 'plain']).optional(),
    })
    .optional(),
  headers: z
    .strictObject({ includeXRateLimit: z.boolean().optional(), includeIETF: z.boolean().optional(), includeRetryAfter: z.boolean().optional() })
    .optional(),
});

export const advancedRateLimitDefinition: PolicyParamsDefinition = {
  name: 'advanced-ratelimit',
  aliases: [],
  description: 'Named request quotas keyed by route, API, header, client address or constants (served by throttle).',
  params,
  attachTo: routeAttachments,
};

/** The reference's default 429 body. */
const defaultBody = '{"error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later."}';

type KeyComponent = z.output<typeof keyComponent>;

/**
 * The counter's scope and request-dependent key parts, as the reference scopes its limiters: one per API when the
 * key names the API and not the route, else one per route. API and route name are the scope's own key, so only
 * headers, the client address and constants remain.
 */
function keyOf(components: readonly KeyComponent[], ctx: AttachmentContext): { scope: 'route' | 'api'; keyBy: ThrottleKeyPart[] } {
  const types = new Set(components.map((c) => c.type));
  const keyBy: ThrottleKeyPart[] = [];
  for (const c of components) {
    if (c.type === 'header') keyBy.push({ type: 'header', name: c.key!.toLowerCase() });
    else if (c.type === 'ip') keyBy.push({ type: 'ip' });
    else if (c.type === 'constant') keyBy.push({ type: 'constant', value: c.key! });
    else if (c.type === 'apiversion') keyBy.push({ type: 'constant', value: ctx.apiVersion ?? '' });
  }
  return { scope: types.has('apiname') && !types.has('routename') ? 'api' : 'route', keyBy };
}

/** An advanced-ratelimit attachment's params as one throttle stage. */
export function advancedRateLimitStage(raw: Record<string, unknown>, ctx: AttachmentContext): ParamsResult<ThrottleStage> {
  const parsed = params.safeParse(raw);
  if (!parsed.success) return fail(paramsIssues(parsed.error.issues, 'params', 'advanced-ratelimit'));
  const p = parsed.data;
  const inherited = p.keyExtraction ?? [];
  const limits: ThrottleLimit[] = p.quotas.flatMap((q, i) => {
    const components = q.keyExtraction?.length ? q.keyExtraction : inherited.length > 0 ? inherited : [{ type: 'routename' as const }];
    const { scope, keyBy } = keyOf(components, ctx);
    return q.limits.map((l) => ({ requests: l.limit, windowMs: durationWholeMs(l.duration)!, scope, key: null, quota: q.name ?? `quota-${i}`, keyBy }));
  });
  const exceeded = p.onRateLimitExceeded;
  return ok({
    limits,
    reply: {
      status: exceeded?.statusCode ?? 429,
      body: exceeded?.body ?? defaultBody,
      contentType: exceeded?.bodyFormat === 'plain' ? 'text/plain' : 'application/json',
    },
    headers: {
      xRateLimit: p.headers?.includeXRateLimit ?? true,
      ietf: p.headers?.includeIETF ?? true,
      retryAfter: p.headers?.includeRetryAfter ?? true,
      // The reference's advanced-ratelimit sends X-RateLimit-* and the IETF fields only, not our older trio.
      legacy: false,
    },
  });
}
