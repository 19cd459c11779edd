import { z } from 'zod';
import { headerNamePattern } from '../domain/http-primitives.ts';
import { type PolicyKindModule, fromParsedParams, ok, routeAttachments, routesObject } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';
import { integerParam } from './param-types.ts';

/**
 * The cors kind (policies/cors, docs/policies.md#cors): preflights answered by the data plane, CORS headers on the
 * responses of allowed origins. Routes with cors also get preflight routes (xds/translate/preflight-routes.ts).
 */

export interface CorsRouteSettings {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposedHeaders: string[];
  allowCredentials: boolean | null;
  maxAge: number | null;
  forwardPreflight: boolean;
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    cors: CorsRouteSettings;
  }
}

/**
 * `*`, or an origin whose host may hold `*` (a run of characters without `/`): `https://*.example.com`. The
 * reference reads origins as unanchored regular expressions, so `http://example.com` there also admits
 * `http://example.com.evil.net`; ours match whole origins only, and a regular expression is refused.
 */
const originPattern = /^https?:\/\/([A-Za-z0-9.*-]+|\[[0-9A-Fa-f:.]+\])(:(\d{1,5}|\*))?$/;
const origin = z
  .string()
  .min(1)
  .max(2048)
  .refine((o) => o === '*' || originPattern.test(o), "must be '*' or an origin such as https://example.com, where '*' may stand for part of the host (https://*.example.com); regular expressions are not supported");

const method = z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', '*'], 'must be one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD or *');
const header = z.string().max(256).refine((h) => h === '*' || headerNamePattern.test(h), 'must be a header name or *');

const params = z
  .strictObject({
    allowedOrigins: z.array(origin).min(1, 'must list at least one origin'),
    allowedMethods: z.array(method).min(1, 'must list at least one method').optional(),
    allowedHeaders: z.array(header).optional(),
    exposedHeaders: z.array(header).optional(),
    allowCredentials: z.boolean().optional(),
    maxAge: integerParam(0, 86400).optional(),
    forwardPreflight: z.boolean().optional(),
  })
  .refine(
    (p) => p.allowCredentials !== true || ![p.allowedOrigins, p.allowedMethods ?? [], p.allowedHeaders ?? [], p.exposedHeaders ?? []].some((list) => list.includes('*')),
    // The CORS protocol forbids `*` with credentials (https://fetch.spec.whatwg.org/#cors-protocol-and-credentials).
    { path: ['allowCredentials'], message: "cannot be true while an allowed origin, method or header is '*'" },
  );

const entryJson = z.object({
  allowedOrigins: z.array(z.string()).min(1),
  allowedMethods: z.array(z.string()).min(1),
  allowedHeaders: z.array(z.string()),
  exposedHeaders: z.array(z.string()),
  allowCredentials: z.boolean().optional(),
  maxAge: z.number().int().min(0).max(86400).optional(),
  forwardPreflight: z.boolean().optional(),
});
const configuration = moduleConfiguration({ routes: z.record(z.string(), entryJson) });

/** The reference's default methods when `allowedMethods` is absent (policy-definition.yaml). */
const defaultMethods = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'];

/** A list holding `*` is `['*']` alone, as the reference reduces it. */
function wildcardOnly(list: string[]): string[] {
  return list.includes('*') ? ['*'] : list;
}

/** docs/policies.md#cors */
export const corsFilter: PolicyKindModule<'cors'> = {
  kind: 'cors',
  definition: {
    name: 'cors',
    aliases: [],
    description: 'Answers CORS preflights and adds CORS headers to the responses of allowed origins.',
    params,
    attachTo: routeAttachments,
  },
  fromParams: fromParsedParams('cors', params, (p) =>
    ok({
      // Scheme and host are case-insensitive; browsers send them lowercase.
      allowedOrigins: wildcardOnly(p.allowedOrigins.map((o) => o.toLowerCase())),
      allowedMethods: wildcardOnly(p.allowedMethods ?? defaultMethods),
      allowedHeaders: wildcardOnly(p.allowedHeaders ?? []),
      exposedHeaders: p.exposedHeaders ?? [],
      allowCredentials: p.allowCredentials ?? null,
      maxAge: p.maxAge ?? null,
      forwardPreflight: p.forwardPreflight ?? false,
    }),
  ),
  // An operation's own cors replaces the API's: one answer per origin, the most specific attachment's.
  merge: (_earlier, later) => later,
  pluginConfiguration(routes) {
    return {
      routes: routesObject(routes, (r) => ({
        allowedOrigins: r.allowedOrigins,
        allowedMethods: r.allowedMethods,
        allowedHeaders: r.allowedHeaders,
        exposedHeaders: r.exposedHeaders,
        ...(r.allowCredentials === null ? {} : { allowCredentials: r.allowCredentials }),
        ...(r.maxAge === null ? {} : { maxAge: r.maxAge }),
        ...(r.forwardPreflight ? { forwardPreflight: true } : {}),
      })),
    };
  },
  configuration,
};
