import { z } from 'zod';
import { headerNamePattern, underscoreHeaderMessage } from '../domain/http-primitives.ts';
import type { IrTables } from '../xds/ir.ts';
import { type PlanSelectionFields, type PolicyKindModule, authPlansTable, fail, fromParsedParams, ok, pick, routesObject, sameSettings, selectionFields, routeAttachments } from './kind.ts';
import { moduleConfiguration, selectionEntry, selectionRule, sha256Hex } from './module-config.ts';

/** The api-key kind (policies/api-key, docs/policies.md#api-key): keys looked up by digest in the API's key sets. */

export interface ApiKeyRouteSettings extends PlanSelectionFields {
  keySets: string[];
  key: string;
  in: 'header' | 'query';
  valuePrefix: string;
  propagateCredential: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    'api-key': ApiKeyRouteSettings;
  }
}

const params = z.strictObject({
  key: z.string().min(1, 'must not be empty').regex(headerNamePattern, 'must be a valid header or query parameter name'),
  in: z.enum(['header', 'query'], { error: 'must be header or query' }).default('header'),
  valuePrefix: z.string().optional(),
  propagateCredential: z.boolean().optional(),
}).superRefine((p, ctx) => {
  // A header is read from clients, and the gateway drops request headers whose name has `_`.
  if (p.in === 'header' && p.key.includes('_')) ctx.addIssue({ code: 'custom', path: ['key'], message: underscoreHeaderMessage });
});

const configuration = moduleConfiguration(
  {
    plans: z.record(z.string(), z.object({ rule: selectionRule })).optional(),
    keySets: z.record(
      z.string(),
      z.array(
        z.object({
          sha256: sha256Hex,
          /** `active` authenticates, `suspended` answers 403; anything else is refused as invalid. */
          status: z.string(),
          expiresAt: z.number().int().nullable().optional(),
          applicationId: z.string().nullable().optional(),
          subscriptionId: z.string().nullable().optional(),
          plan: z.string().nullable().optional(),
          propagateCredential: z.boolean().optional(),
        }),
      ),
    ),
    routes: z.record(
      z.string(),
      z.object({
        keySets: z.array(z.string()),
        key: z.string(),
        in: z.enum(['header', 'query']).optional(),
        valuePrefix: z.string().optional(),
        propagateCredential: z.boolean().optional(),
        ...selectionEntry,
      }),
    ),
  },
  { digestKey: true },
);

/**
 * Settings implied by an API's API_KEY plans (design: the first plan's key location over the subscriptions' keys);
 * `plans` and `optional` are the plan-selection fields (set by the translator, docs/plan-selection.md).
 */
export function apiKeySettingsFromPlan(
  options: { keyLocation: 'HEADER' | 'QUERY'; keyName: string; propagateKey: boolean },
  keySets: readonly string[],
): ApiKeyRouteSettings {
  return {
    keySets: [...keySets],
    key: options.keyName,
    in: options.keyLocation === 'QUERY' ? 'query' : 'header',
    valuePrefix: '',
    propagateCredential: options.propagateKey,
    optional: false,
    plans: null,
  };
}

/** docs/policies.md#api-key */
export const apiKeyFilter: PolicyKindModule<'api-key'> = {
  kind: 'api-key',
  definition: { name: 'api-key', aliases: ['api-key-auth'], description: 'API key from a header or query parameter; 401 on failure.', params, attachTo: routeAttachments },
  usesKeyDigests: true,
  fromParams: fromParsedParams('api-key', params, (p, ctx) => {
    if (ctx.apiKeySets.length === 0) return fail([{ path: 'params', message: 'no key set for this API' }]);
    return ok({
      keySets: [...ctx.apiKeySets],
      key: p.in === 'header' ? p.key.toLowerCase() : p.key,
      in: p.in,
      valuePrefix: p.valuePrefix ?? '',
      propagateCredential: p.propagateCredential ?? false,
      optional: false,
      plans: null,
    });
  }),
  merge(earlier, later) {
    // One key location per route: two different api-key checks on one route cannot both be expressed.
    return sameSettings(earlier, later) ? earlier : 'two different api-key policies apply to this route';
  },
  pluginConfiguration(routes, tables: IrTables) {
    const used = [...routes.values()].flatMap((r) => r.keySets);
    return {
      keySets: pick(tables.apiKeySets, used),
      plans: authPlansTable(tables.apiKeyPlans, routes.values()),
      routes: routesObject(routes, (r) => ({
        keySets: r.keySets,
        key: r.key,
        in: r.in,
        valuePrefix: r.valuePrefix,
        propagateCredential: r.propagateCredential,
        ...selectionFields(r),
      })),
    };
  },
  configuration,
};
