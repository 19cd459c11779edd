import type { ApiKeyRouteSettings } from '../ir.ts';
import { type PolicyFilter, authPlansTable, fail, isString, ok, pick, routesObject, sameSettings, selectionFields } from './filter.ts';

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
export const apiKeyFilter: PolicyFilter<'api-key'> = {
  kind: 'api-key',
  aliases: ['api-key-auth'],
  usesKeyDigests: true,
  fromParams(params, ctx) {
    const { key, in: where = 'header', valuePrefix = '', propagateCredential = false } = params;
    if (!isString(key) || key === '') return fail([{ path: 'params.key', message: 'must be a header or query parameter name' }]);
    if (where !== 'header' && where !== 'query') return fail([{ path: 'params.in', message: 'must be header or query' }]);
    if (!isString(valuePrefix)) return fail([{ path: 'params.valuePrefix', message: 'must be a string' }]);
    if (typeof propagateCredential !== 'boolean') return fail([{ path: 'params.propagateCredential', message: 'must be a boolean' }]);
    if (ctx.apiKeySets.length === 0) return fail([{ path: 'params', message: 'no key set for this API' }]);
    return ok({
      keySets: [...ctx.apiKeySets],
      key: where === 'header' ? key.toLowerCase() : key,
      in: where,
      valuePrefix,
      propagateCredential,
      optional: false,
      plans: null,
    });
  },
  merge(earlier, later) {
    // One key location per route: two different api-key checks on one route cannot both be expressed.
    return sameSettings(earlier, later) ? earlier : 'two different api-key policies apply to this route';
  },
  pluginConfiguration(routes, tables) {
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
};
