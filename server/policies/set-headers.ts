import { z } from 'zod';
import { headerName, headerValue } from '../domain/http-primitives.ts';
import { type PolicyKindModule, fromParsedParams, ok, planPoliciesOf, routesObject, anyAttachment } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';

/** The set-headers kind (policies/set-headers, docs/policies.md#set-headers): request and response headers set, last in the chain. */

export interface HeaderList {
  headers: { name: string; value: string }[];
}

export interface SetHeadersRouteSettings {
  request: HeaderList | null;
  response: HeaderList | null;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    'set-headers': SetHeadersRouteSettings;
  }
}

export const header = z.strictObject({ name: headerName('must be a valid header name'), value: headerValue });
const headerSection = z.strictObject({ headers: z.array(header).min(1, 'must list at least one header') });

const params = z
  .strictObject({ request: headerSection.optional(), response: headerSection.optional() })
  .refine((p) => p.request !== undefined || p.response !== undefined, 'must set request or response headers');

const headerListJson = z.object({ headers: z.array(z.object({ name: z.string(), value: z.string() })) });
const entryJson = z.object({ request: headerListJson.optional(), response: headerListJson.optional() });
const configuration = moduleConfiguration({
  planPolicies: z.record(z.string(), entryJson).optional(),
  routes: z.record(z.string(), entryJson),
});

// The module wants lowercased names (HTTP/2 and Envoy's header maps are lowercase).
function headerList(section: { headers: { name: string; value: string }[] } | undefined): HeaderList | null {
  return section === undefined ? null : { headers: section.headers.map((h) => ({ name: h.name.toLowerCase(), value: h.value })) };
}

/** Later entries replace earlier ones of the same name (set semantics), keeping first-seen order. */
function combine(a: HeaderList | null, b: HeaderList | null): HeaderList | null {
  if (a === null) return b;
  if (b === null) return a;
  const names = new Set(b.headers.map((h) => h.name));
  return { headers: [...a.headers.filter((h) => !names.has(h.name)), ...b.headers] };
}

/** docs/policies.md#set-headers */
export const setHeadersFilter: PolicyKindModule<'set-headers'> = {
  kind: 'set-headers',
  definition: { name: 'set-headers', aliases: [], description: 'Sets (overwrites) request and response headers.', params, attachTo: anyAttachment },
  fromParams: fromParsedParams('set-headers', params, (p) => ok({ request: headerList(p.request), response: headerList(p.response) })),
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
  configuration,
};
