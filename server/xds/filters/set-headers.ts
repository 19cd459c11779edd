import type { HeaderList, SetHeadersRouteSettings } from '../ir.ts';
import { type ParamIssue, type PolicyFilter, fail, isString, ok, planPoliciesOf, routesObject } from './filter.ts';

function headerList(value: unknown, path: string, issues: ParamIssue[]): HeaderList | null {
  if (value === undefined || value === null) return null;
  const headers = (value as { headers?: unknown }).headers;
  if (!Array.isArray(headers)) {
    issues.push({ path: `${path}.headers`, message: 'must be a list of {name, value}' });
    return null;
  }
  const out: HeaderList = { headers: [] };
  headers.forEach((h: unknown, i) => {
    const { name, value: v } = (h ?? {}) as { name?: unknown; value?: unknown };
    if (!isString(name) || !isString(v)) issues.push({ path: `${path}.headers[${i}]`, message: 'must be {name, value} strings' });
    // The module wants lowercased names (HTTP/2 and Envoy's header maps are lowercase).
    else out.headers.push({ name: name.toLowerCase(), value: v });
  });
  return out;
}

/** Later entries replace earlier ones of the same name (set semantics), keeping first-seen order. */
function combine(a: HeaderList | null, b: HeaderList | null): HeaderList | null {
  if (a === null) return b;
  if (b === null) return a;
  const names = new Set(b.headers.map((h) => h.name));
  return { headers: [...a.headers.filter((h) => !names.has(h.name)), ...b.headers] };
}

/** docs/policies.md#set-headers */
export const setHeadersFilter: PolicyFilter<'set-headers'> = {
  kind: 'set-headers',
  aliases: [],
  fromParams(params) {
    const issues: ParamIssue[] = [];
    const request = headerList(params.request, 'params.request', issues);
    const response = headerList(params.response, 'params.response', issues);
    if (issues.length > 0) return fail(issues);
    return ok({ request, response });
  },
  merge(earlier, later) {
    return { request: combine(earlier.request, later.request), response: combine(earlier.response, later.response) };
  },
  pluginConfiguration(routes, tables) {
    const entry = (r: SetHeadersRouteSettings) => ({
      ...(r.request ? { request: r.request } : {}),
      ...(r.response ? { response: r.response } : {}),
    });
    const planPolicies = planPoliciesOf('set-headers', tables);
    return {
      // Applied first for requests their plan admitted (docs/plan-selection.md); the route's entry then wins.
      ...(Object.keys(planPolicies).length > 0 ? { planPolicies: Object.fromEntries(Object.entries(planPolicies).map(([id, r]) => [id, entry(r)])) } : {}),
      routes: routesObject(routes, entry),
    };
  },
};
