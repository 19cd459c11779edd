import { z } from 'zod';
import { type PolicyKindModule, fromParsedParams, ok, routeAttachments, routesObject } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';
import { integerParam } from './param-types.ts';

/**
 * The redirect kind (policies/redirect, docs/policies.md#redirect): a 3xx with a Location built from the request and
 * the settings, Gateway API RequestRedirect semantics as the reference's redirect policy (major version v0 there).
 */

export interface RedirectRouteSettings {
  statusCode: number;
  scheme: 'http' | 'https' | null;
  hostname: string | null;
  port: number | null;
  path: { mode: 'full' | 'prefix'; value: string } | null;
  /** The route's literal path prefix, what `prefix` mode replaces; set per route by the translator (`forRoute`). */
  matchedPrefix: string;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    redirect: RedirectRouteSettings;
  }
}

const hostnamePattern = /^(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
// An absolute path: no query, fragment, whitespace or control character (the query is always the request's).
// eslint-disable-next-line no-control-regex
const absolutePath = /^\/[^\x00-\x20\x7f?#]*$/;

const params = z
  .strictObject({
  statusCode: integerParam(100, 599)
    .refine((s) => [301, 302, 303, 307, 308].includes(s), 'must be 301, 302, 303, 307 or 308')
    .optional(),
  scheme: z.enum(['http', 'https'], 'must be http or https').optional(),
  hostname: z.string().regex(hostnamePattern, 'must be a host name').optional(),
  port: integerParam(1, 65535).optional(),
  path: z
    .strictObject({
      mode: z.enum(['full', 'prefix'], 'must be full or prefix'),
      value: z.string().regex(absolutePath, 'must be an absolute path without query or fragment'),
    })
    .optional(),
  })
  // With nothing to change the Location is the request's own URL: a redirect loop, refused rather than served.
  .refine((p) => p.scheme !== undefined || p.hostname !== undefined || p.port !== undefined || p.path !== undefined, 'must set at least one of scheme, hostname, port or path');

const configuration = moduleConfiguration({
  routes: z.record(
    z.string(),
    z.object({
      statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]),
      scheme: z.enum(['http', 'https']).nullable().optional(),
      hostname: z.string().nullable().optional(),
      port: z.number().int().min(1).max(65535).nullable().optional(),
      path: z.object({ mode: z.enum(['full', 'prefix']), value: z.string() }).optional(),
      matchedPrefix: z.string(),
    }),
  ),
});

/** A full path's literal prefix: the segments before the first `{param}` or `*`, without a trailing slash. */
export function literalPrefix(fullPath: string): string {
  const segments = fullPath.split('/');
  const at = segments.findIndex((s) => s.includes('{') || s.includes('*'));
  return (at === -1 ? segments : segments.slice(0, at)).join('/').replace(/\/+$/, '');
}

/** docs/policies.md#redirect */
export const redirectFilter: PolicyKindModule<'redirect'> = {
  kind: 'redirect',
  definition: {
    name: 'redirect',
    aliases: [],
    description: 'Answers with a redirect (3xx and Location) built from the request and the configured scheme, host, port and path.',
    params,
    attachTo: routeAttachments,
    majorVersion: 'v0',
  },
  fromParams: fromParsedParams('redirect', params, (p) =>
    ok({ statusCode: p.statusCode ?? 302, scheme: p.scheme ?? null, hostname: p.hostname ?? null, port: p.port ?? null, path: p.path ?? null, matchedPrefix: '' }),
  ),
  forRoute: (settings, route) => ({ ...settings, matchedPrefix: literalPrefix(route.fullPath) }),
  // API-level policies run first and a reply ends the chain, so the earlier attachment answers (as in the reference).
  merge: (earlier) => earlier,
  pluginConfiguration(routes) {
    return {
      routes: routesObject(routes, (r) => ({
        statusCode: r.statusCode,
        ...(r.scheme === null ? {} : { scheme: r.scheme }),
        ...(r.hostname === null ? {} : { hostname: r.hostname }),
        ...(r.port === null ? {} : { port: r.port }),
        ...(r.path === null ? {} : { path: r.path }),
        matchedPrefix: r.matchedPrefix,
      })),
    };
  },
  configuration,
};
