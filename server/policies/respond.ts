import { z } from 'zod';
import { headerValue } from '../domain/http-primitives.ts';
import { type PolicyKindModule, fromParsedParams, ok, routeAttachments, routesObject } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';
import { integerParam } from './param-types.ts';

/** The respond kind (policies/respond, docs/policies.md#respond): the data plane answers with the configured reply; no upstream call. */

export interface RespondRouteSettings {
  statusCode: number;
  body: string;
  headers: { name: string; value: string }[];
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    respond: RespondRouteSettings;
  }
}

/** The reference's header name pattern (policy-definition.yaml), minus what the data plane frames itself. */
const replyHeaderName = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,256}$/, 'must be a header name (letters, digits, - and _)')
  .refine((name) => !['content-length', 'transfer-encoding'].includes(name.toLowerCase()), 'is set by the data plane from the body');

// The reference allows 100-599; a 1xx is no final answer, and Envoy sends no body with 204 or 304.
const params = z
  .strictObject({
    statusCode: integerParam(200, 599).optional(),
    body: z.string().max(1_048_576, 'must be at most 1 MiB').optional(),
    headers: z.array(z.strictObject({ name: replyHeaderName, value: headerValue.max(8192, 'must be at most 8192 characters') })).optional(),
  })
  .refine((p) => !(p.body && (p.statusCode === 204 || p.statusCode === 304)), { path: ['body'], message: 'must be empty with status 204 or 304' });

const configuration = moduleConfiguration({
  routes: z.record(
    z.string(),
    z.object({
      statusCode: z.number().int().min(200).max(599).optional(),
      body: z.string().optional(),
      headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
    }),
  ),
});

/** Lowercased names (Envoy's header maps are lowercase), the last value of a name kept, as the reference's map does. */
function replyHeaders(headers: readonly { name: string; value: string }[]): { name: string; value: string }[] {
  const byName = new Map<string, string>();
  for (const h of headers) {
    const name = h.name.toLowerCase();
    byName.delete(name);
    byName.set(name, h.value);
  }
  return [...byName].map(([name, value]) => ({ name, value }));
}

/** docs/policies.md#respond */
export const respondFilter: PolicyKindModule<'respond'> = {
  kind: 'respond',
  definition: {
    name: 'respond',
    aliases: [],
    description: 'Answers with the configured status, body and headers without calling the upstream.',
    params,
    attachTo: routeAttachments,
  },
  fromParams: fromParsedParams('respond', params, (p) => ok({ statusCode: p.statusCode ?? 200, body: p.body ?? '', headers: replyHeaders(p.headers ?? []) })),
  // API-level policies run first and a reply ends the chain, so the earlier attachment answers (as in the reference).
  merge: (earlier) => earlier,
  pluginConfiguration(routes) {
    return { routes: routesObject(routes, (r) => ({ statusCode: r.statusCode, body: r.body, headers: r.headers })) };
  },
  configuration,
};
