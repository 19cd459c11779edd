import { z } from 'zod';
import type { FieldIssue } from '../domain/errors.ts';
import { headerName } from '../domain/http-primitives.ts';
import type { IrTables } from '../xds/ir.ts';
import { type PolicyKindModule, fail, fromParsedParams, ok, pick, routesObject, sameSettings, routeAttachments } from './kind.ts';
import { claimToHeader, moduleConfiguration, scopesMode, selectionRule } from './module-config.ts';

/**
 * The oauth2 module (policies/oauth2, docs/policies.md#oauth2): bearer tokens checked by RFC 7662 introspection
 * against an authorization server, the client id mapped to a subscription among the route's OAuth2 plans. This
 * file turns the deployment model's authorization servers, OAuth2 plans and subscriptions into that module's
 * tables, clusters and per-route settings; the translator wires them in (ir.ts, registry.ts, translate/*).
 */

/** The module keeps this many introspection answers (docs/policies.md#oauth2, `cacheSize`). */
export const oauth2CacheSize = 1024;

/** Per-route settings of the oauth2 module (`routes.<route>`). */
export interface OAuth2RouteSettings {
  /** Keys of the module's `servers`, asked in this order until one says a token is active. */
  servers: string[];
  /** Candidate OAuth2 plans in the API's plan order (keys of the module's `plans`); [] = token only / any entry. */
  plans: string[];
  /** Client table name, or null: the token is checked but no subscription is looked up. */
  clients: string | null;
  /** The API also offers other security types: a request without a bearer token passes on (docs/plan-selection.md). */
  optional: boolean;
  header: string;
  propagateToken: boolean;
  /** Introspection member with the client id; null = `client_id`. */
  clientIdClaim: string | null;
  /** Route-level scopes (an `oauth2` policy attachment); plans carry their own. */
  scopes: string[] | null;
  scopesMode: 'any' | 'all';
  claimsToHeaders: { claim: string; header: string }[] | null;
}

/** What this kind reads of an OAuth2 plan's security options (the deployment model's `security.oauth2`). */
export interface OAuth2PlanOptions {
  authorizationServerId: string;
  requiredScopes: readonly string[];
  strictScopes: boolean;
  clientIdClaim: string | null;
  extractClaims: readonly { claim: string; header: string }[];
  propagateAuthHeader: boolean;
}

/** An OAuth2 plan as this kind reads it. */
export interface OAuth2Plan {
  id: string;
  name: string;
  selectionRule: string | null;
  security: { oauth2: OAuth2PlanOptions | null };
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    oauth2: OAuth2RouteSettings;
  }
}

/**
 * An `oauth2` attachment introspects with an authorization server defined once (server/domain/authorization-servers.ts,
 * which holds the URL, client credentials, timeout and cache bound); docs/authorization-servers.md.
 */
const params = z.strictObject({
  authorizationServerId: z.string().regex(/^asv_[0-9a-z]{26}$/, 'must be the id of an authorization server'),
  requiredScopes: z.array(z.string().min(1, 'must not be empty')).optional(),
  strictScopes: z.boolean().optional(),
  claimsToHeaders: z.array(z.strictObject({ claim: z.string().min(1), header: headerName('must be a valid header name') })).optional(),
  propagateCredential: z.boolean().optional(),
});

const configuration = moduleConfiguration({
  cacheSize: z.number().int().min(0).max(100_000).optional(),
  servers: z.record(
    z.string(),
    z.object({
      cluster: z.string(),
      authority: z.string(),
      path: z.string().regex(/^\//).optional(),
      clientId: z.string(),
      clientSecret: z.string(),
      tokenTypeHint: z.string().nullable().optional(),
      timeoutMs: z.number().int().min(100).max(30_000).optional(),
      maxCacheSeconds: z.number().int().min(0).max(3600).optional(),
    }),
  ),
  clients: z.record(z.string(), z.record(z.string(), z.array(z.object({ applicationId: z.string().nullable(), subscriptionId: z.string().nullable(), plan: z.string(), active: z.boolean() })))).optional(),
  plans: z
    .record(z.string(), z.object({ server: z.string().optional(), rule: selectionRule, scopes: z.array(z.string()).nullable().optional(), scopesMode: scopesMode.optional() }))
    .optional(),
  routes: z.record(
    z.string(),
    z.object({
      servers: z.array(z.string()).min(1),
      plans: z.array(z.string()).optional(),
      clients: z.string().nullable().optional(),
      optional: z.boolean().optional(),
      header: z.string().optional(),
      propagateToken: z.boolean().optional(),
      clientIdClaim: z.string().optional(),
      scopes: z.array(z.string()).optional(),
      scopesMode: scopesMode.optional(),
      claimsToHeaders: z.array(claimToHeader).nullable().optional(),
    }),
  ),
});

/** The cluster the gateway reaches authorization server `id` through. */
export function authorizationServerClusterName(id: string): string {
  return `apip/oauth2/${id}`;
}

/** The client table of an API's OAuth2 plans (same naming as jwt's: one table per API). */
export function oauth2ClientTableName(apiHandle: string): string {
  return apiHandle;
}

/**
 * The module's `plans` entry of an OAuth2 plan: its authorization server (only tokens that server says active
 * select it: client ids are each server's own names), selection rule and required scopes.
 */
export function oauth2PlanConfig(plan: Pick<OAuth2Plan, 'selectionRule' | 'security'>): IrTables['oauth2Plans'][string] {
  const options = plan.security.oauth2;
  const scopes = options?.requiredScopes ?? [];
  return {
    ...(options ? { server: options.authorizationServerId } : {}),
    rule: plan.selectionRule,
    scopes: scopes.length > 0 ? [...scopes] : null,
    scopesMode: options?.strictScopes ? 'all' : 'any',
  };
}

/**
 * Route settings implied by an API's OAuth2 plans: their authorization servers in plan order (a token is
 * introspected with each until one says active, then only that server's plans are candidates) and the first plan's
 * options over every OAuth2 plan (each plan's server, scopes and rule live in the module's `plans`).
 */
export function oauth2SettingsFromPlan(
  plans: readonly Pick<OAuth2Plan, 'id' | 'name' | 'security'>[],
  clients: string | null,
  optional: boolean,
): { settings: OAuth2RouteSettings; issues: FieldIssue[] } {
  const oauth2 = plans.filter((p) => p.security.oauth2 !== null);
  const first = oauth2[0]?.security.oauth2 ?? null;
  const issues: FieldIssue[] = [];
  if (first === null) issues.push({ path: 'security.oauth2', message: 'no OAuth2 plan' });
  return {
    settings: {
      servers: [...new Set(oauth2.map((p) => p.security.oauth2!.authorizationServerId))],
      plans: oauth2.map((p) => p.id),
      clients,
      optional,
      header: 'authorization',
      propagateToken: first?.propagateAuthHeader ?? false,
      clientIdClaim: first?.clientIdClaim ?? null,
      scopes: null,
      scopesMode: 'any',
      claimsToHeaders: first && first.extractClaims.length > 0 ? first.extractClaims.map((c) => ({ claim: c.claim, header: c.header.toLowerCase() })) : null,
    },
    issues,
  };
}

/** docs/policies.md#oauth2 */
export const oauth2Filter: PolicyKindModule<'oauth2'> = {
  kind: 'oauth2',
  definition: { name: 'oauth2', aliases: [], description: 'OAuth2 bearer tokens checked by token introspection, with scopes.', params, attachTo: routeAttachments },
  fromParams: fromParsedParams('oauth2', params, (p, ctx) => {
    if (!ctx.hasAuthorizationServer(p.authorizationServerId)) {
      return fail([{ path: 'params.authorizationServerId', message: `no authorization server '${p.authorizationServerId}' is deployed` }]);
    }
    const mapped = (p.claimsToHeaders ?? []).map((c) => ({ claim: c.claim, header: c.header.toLowerCase() }));
    return ok({
      servers: [p.authorizationServerId],
      plans: [...ctx.oauth2Plans],
      clients: ctx.oauth2Clients,
      optional: false,
      header: 'authorization',
      propagateToken: p.propagateCredential ?? false,
      clientIdClaim: null,
      scopes: p.requiredScopes !== undefined && p.requiredScopes.length > 0 ? p.requiredScopes : null,
      scopesMode: p.strictScopes ? 'all' : 'any',
      claimsToHeaders: mapped.length > 0 ? mapped : null,
    });
  }),
  merge(earlier, later) {
    return sameSettings(earlier, later) ? earlier : 'two different oauth2 policies apply to this route';
  },
  /** The module's configuration without `stripIdentityHeaders`; only the tables the routes use. */
  pluginConfiguration(routes, tables) {
    const settings = [...routes.values()];
    return {
      cacheSize: oauth2CacheSize,
      servers: pick(tables.oauth2Servers, settings.flatMap((r) => r.servers)),
      clients: pick(tables.oauth2Clients, settings.flatMap((r) => (r.clients === null ? [] : [r.clients]))),
      plans: pick(tables.oauth2Plans, settings.flatMap((r) => r.plans)),
      routes: routesObject(routes, (r) => ({
        servers: r.servers,
        plans: r.plans,
        clients: r.clients,
        optional: r.optional,
        header: r.header,
        propagateToken: r.propagateToken,
        ...(r.clientIdClaim === null ? {} : { clientIdClaim: r.clientIdClaim }),
        ...(r.scopes === null ? {} : { scopes: r.scopes, scopesMode: r.scopesMode }),
        claimsToHeaders: r.claimsToHeaders,
      })),
    };
  },
  configuration,
};
