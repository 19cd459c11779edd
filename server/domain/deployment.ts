import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lte, min, or } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import {
  apiKeys,
  apiPolicies,
  apis,
  apiUpstreams,
  applications,
  operations,
  planPolicies,
  plans,
  subscriptionPlans,
  subscriptions,
  upstreamDefinitions,
  upstreamTargets,
} from '../db/schema/index.ts';
import type { DeployedApi, DeployedKey, DeployedPlan, DeployedPlanSecurity, DeploymentModel, ModelPolicy } from './deployment-model.ts';
import { type ApiKeyOptions, type JwtOptions, oauth2TokenRules, type StoredOAuth2Options, openSecurityConfig } from './plan-security.ts';
import { tokenLifetimeSeconds } from './token-lifetime.ts';
import type { SecretBox } from './secret-box.ts';
import { loadStoredAuthorizationServers } from './authorization-servers.ts';
import { loadDeployedKeyManagers } from './key-managers.ts';
import type { DeployedAuthorizationServer } from './deployment-model.ts';
import { keyUsableAt } from './api-keys/index.ts';
import { servingPlanStatuses } from './reachability.ts';
import type { UpstreamResilience } from './apis/index.ts';

/** The ids of deployed APIs, as a subquery. */
function deployedIdsQuery(db: Executor) {
  return db.select({ id: apis.id }).from(apis).where(eq(apis.deploymentState, 'deployed'));
}

/**
 * The deployed part of the model at `now`, read-only, as the xDS translator takes it: deployed APIs with their
 * operations, policies and upstreams; their serving plans, subscriptions and the keys the data plane must accept;
 * v0.9 subscription plans. JWT keys are left to `resolveJwks` (server/xds/jwks-resolver.ts). A fixed number of
 * queries whatever the number of APIs, each ordered so that the model is deterministic.
 */
export async function loadDeploymentModel(db: Executor, now: Date, box: SecretBox): Promise<DeploymentModel> {
  const deployedIds = deployedIdsQuery(db);
  const [apiRows, ups, defs, targets, ops, pols, planRows, planPolicyRows, subRows, subPlanRows, keys] = await Promise.all([
    db.select().from(apis).where(eq(apis.deploymentState, 'deployed')).orderBy(asc(apis.handle)),
    db.select().from(apiUpstreams).where(inArray(apiUpstreams.apiId, deployedIds)),
    db.select().from(upstreamDefinitions).where(inArray(upstreamDefinitions.apiId, deployedIds)).orderBy(asc(upstreamDefinitions.apiId), asc(upstreamDefinitions.position)),
    db
      .select({ definitionId: upstreamTargets.definitionId, url: upstreamTargets.url, weight: upstreamTargets.weight })
      .from(upstreamTargets)
      .innerJoin(upstreamDefinitions, eq(upstreamDefinitions.id, upstreamTargets.definitionId))
      .where(inArray(upstreamDefinitions.apiId, deployedIds))
      .orderBy(asc(upstreamTargets.definitionId), asc(upstreamTargets.position)),
    db.select().from(operations).where(inArray(operations.apiId, deployedIds)).orderBy(asc(operations.apiId), asc(operations.position)),
    db.select().from(apiPolicies).where(inArray(apiPolicies.apiId, deployedIds)).orderBy(asc(apiPolicies.apiId), asc(apiPolicies.position)),
    db
      .select()
      .from(plans)
      .where(and(inArray(plans.apiId, deployedIds), inArray(plans.status, [...servingPlanStatuses])))
      .orderBy(asc(plans.apiId), asc(plans.position), asc(plans.id)),
    db
      .select()
      .from(planPolicies)
      .innerJoin(plans, eq(plans.id, planPolicies.planId))
      .where(and(inArray(plans.apiId, deployedIds), inArray(plans.status, [...servingPlanStatuses])))
      .orderBy(asc(planPolicies.planId), asc(planPolicies.position)),
    db
      .select({ sub: subscriptions, clientId: applications.clientId })
      .from(subscriptions)
      .leftJoin(applications, eq(applications.id, subscriptions.applicationId))
      .where(inArray(subscriptions.apiId, deployedIds))
      .orderBy(asc(subscriptions.id)),
    db.select().from(subscriptionPlans).orderBy(asc(subscriptionPlans.id)),
    listKeyRows(db, now, deployedIds),
  ]);
  const live = new Set(
    (
      await db
        .select({ id: subscriptions.id })
        .from(subscriptions)
        .where(
          and(
            inArray(subscriptions.apiId, deployedIds),
            eq(subscriptions.status, 'ACCEPTED'),
            or(isNull(subscriptions.startingAt), lte(subscriptions.startingAt, now)),
            or(isNull(subscriptions.endingAt), gt(subscriptions.endingAt, now)),
          ),
        )
    ).map((r) => r.id),
  );

  const group = <T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> => {
    const map = new Map<string, T[]>();
    for (const row of rows) {
      const list = map.get(key(row));
      if (list) list.push(row);
      else map.set(key(row), [row]);
    }
    return map;
  };
  const toPolicy = (p: { name: string; version: string; executionCondition: string | null; params: Record<string, unknown> | null }): ModelPolicy => ({
    name: p.name,
    version: p.version,
    executionCondition: p.executionCondition,
    params: p.params,
  });
  const upsByApi = group(ups, (u) => u.apiId);
  const defsByApi = group(defs, (d) => d.apiId);
  const targetsByDef = group(targets, (t) => t.definitionId);
  const opsByApi = group(ops, (o) => o.apiId);
  const polsByOwner = group(pols, (p) => p.operationId ?? `api:${p.apiId}`);
  const planPolsByPlan = group(planPolicyRows, (r) => r.plan_policies.planId);
  const upstream = (u: (typeof ups)[number] | undefined) => ({ url: u?.url ?? null, ref: u?.ref ?? null, hostRewrite: u?.hostRewrite ?? null });

  const deployed: DeployedApi[] = apiRows.map((row) => {
    const apiUps = upsByApi.get(row.id) ?? [];
    const sandbox = apiUps.find((u) => u.environment === 'sandbox');
    return {
      id: row.id,
      handle: row.handle,
      version: row.version,
      context: row.context,
      upstream: { main: upstream(apiUps.find((u) => u.environment === 'main')), sandbox: sandbox ? upstream(sandbox) : null },
      upstreamDefinitions: (defsByApi.get(row.id) ?? []).map((d) => ({
        name: d.name,
        basePath: d.basePath,
        connectTimeout: d.connectTimeout,
        upstreams: (targetsByDef.get(d.id) ?? []).map((t) => ({ url: t.url, weight: t.weight })),
      })),
      vhosts: row.vhostMain === null ? null : { main: row.vhostMain, sandbox: row.vhostSandbox },
      policies: (polsByOwner.get(`api:${row.id}`) ?? []).map(toPolicy),
      operations: (opsByApi.get(row.id) ?? []).map((o) => ({
        method: o.method,
        path: o.path,
        policies: (polsByOwner.get(o.id) ?? []).map(toPolicy),
        allowMethodOverride: o.allowMethodOverride,
      })),
      subscriptionPlans: row.subscriptionPlanNames,
      visibility: row.visibility,
      accessMode: row.accessMode,
      ...(row.upstreamResilience === null ? {} : { upstreamResilience: row.upstreamResilience as unknown as UpstreamResilience }),
    };
  });

  const deployedPlans: DeployedPlan[] = planRows.map((row) => ({
    id: row.id,
    apiId: row.apiId,
    name: row.name,
    status: row.status,
    position: row.position,
    security: planSecurity(row.security, openSecurityConfig(box, row.security, row.securityConfig), row.id),
    policies: (planPolsByPlan.get(row.id) ?? []).map((r) => toPolicy(r.plan_policies)),
    selectionRule: row.selectionRule,
  }));

  const authorizationServers = await deployedAuthorizationServers(db, box, planRows, [...pols, ...planPolicyRows.map((r) => r.plan_policies)]);
  const deployedApiIds = new Set(apiRows.map((r) => r.id));
  // A v0.9 subscription plan that is INACTIVE or past its expiryTime stops its subscriptions (issue 12).
  const stoppedPlans = new Set(subPlanRows.filter((p) => p.status !== 'ACTIVE' || (p.expiryTime !== null && p.expiryTime <= now)).map((p) => p.id));
  return {
    apis: deployed,
    plans: deployedPlans,
    subscriptions: subRows.map(({ sub, clientId }) => ({
      id: sub.id,
      apiId: sub.apiId,
      applicationId: sub.applicationId ?? sub.applicationRef,
      clientId,
      planId: sub.planId,
      subscriptionPlanId: sub.subscriptionPlanId,
      status: sub.status,
      tokenSha256: sub.tokenHash,
      isLive: live.has(sub.id) && (sub.subscriptionPlanId === null || !stoppedPlans.has(sub.subscriptionPlanId)),
    })),
    keys: deployedKeys(keys, live, deployedApiIds),
    subscriptionPlans: subPlanRows.map((p) => ({
      id: p.id,
      planName: p.planName,
      stopOnQuotaReach: p.stopOnQuotaReach,
      throttleLimitCount: p.throttleLimitCount,
      throttleLimitUnit: p.throttleLimitUnit,
      status: p.status,
    })),
    jwks: {},
    authorizationServers,
    keyManagers: await loadDeployedKeyManagers(db),
  };
}

/**
 * Every usable key of a deployed API, with the subscriptions it may stand for, whatever their status: v0.9 keys
 * (the API's own), exclusive keys (their subscription), shared keys (every subscription of their application to a
 * serving API_KEY plan). Three queries.
 */
function listKeyRows(db: Executor, now: Date, deployedIds: ReturnType<typeof deployedIdsQuery>) {
  // Keys usable now are what the data plane knows (it answers 403 where the key's subscription is not live).
  const usable = keyUsableAt(now);
  return Promise.all([
    db
      .select({ id: apiKeys.id, digest: apiKeys.digest, expiresAt: apiKeys.expiresAt, apiId: apiKeys.apiId })
      .from(apiKeys)
      .where(and(usable, isNotNull(apiKeys.apiId), isNull(apiKeys.subscriptionId), isNull(apiKeys.applicationId), inArray(apiKeys.apiId, deployedIds)))
      .orderBy(asc(apiKeys.id)),
    db
      .select({
        id: apiKeys.id,
        digest: apiKeys.digest,
        expiresAt: apiKeys.expiresAt,
        apiId: subscriptions.apiId,
        subscriptionId: subscriptions.id,
        applicationId: subscriptions.applicationId,
        planId: subscriptions.planId,
      })
      .from(apiKeys)
      .innerJoin(subscriptions, eq(subscriptions.id, apiKeys.subscriptionId))
      .where(and(usable, inArray(subscriptions.apiId, deployedIds)))
      .orderBy(asc(apiKeys.id)),
    db
      .select({
        id: apiKeys.id,
        digest: apiKeys.digest,
        expiresAt: apiKeys.expiresAt,
        applicationId: apiKeys.applicationId,
        apiId: subscriptions.apiId,
        subscriptionId: subscriptions.id,
        planId: subscriptions.planId,
        usesSharedKey: subscriptions.usesSharedKey,
      })
      .from(apiKeys)
      .innerJoin(subscriptions, eq(subscriptions.applicationId, apiKeys.applicationId))
      .innerJoin(plans, eq(plans.id, subscriptions.planId))
      .where(
        and(
          usable,
          isNull(apiKeys.subscriptionId),
          inArray(subscriptions.apiId, deployedIds),
          eq(plans.security, 'API_KEY'),
          inArray(plans.status, [...servingPlanStatuses]),
        ),
      )
      .orderBy(asc(apiKeys.id), desc(subscriptions.usesSharedKey), asc(subscriptions.id)),
  ]);
}

/**
 * The key rows as model keys, sorted by id. A shared key gets one grant per API: a live subscription before a
 * suspended one, then the subscription that uses the shared key, then the oldest (rows come in that order but
 * for liveness).
 */
function deployedKeys([own, exclusive, shared]: Awaited<ReturnType<typeof listKeyRows>>, live: ReadonlySet<string>, deployedApiIds: ReadonlySet<string>): DeployedKey[] {
  const ms = (d: Date | null) => (d === null ? null : new Date(d).getTime());
  const out: DeployedKey[] = [];
  for (const k of own) {
    if (k.apiId === null || !deployedApiIds.has(k.apiId)) continue;
    out.push({ id: k.id, sha256: k.digest, expiresAt: ms(k.expiresAt), owner: 'api', applicationId: null, grants: [{ apiId: k.apiId, subscriptionId: null, planId: null, live: true }] });
  }
  for (const k of exclusive) {
    out.push({
      id: k.id,
      sha256: k.digest,
      expiresAt: ms(k.expiresAt),
      owner: 'subscription',
      applicationId: k.applicationId,
      grants: [{ apiId: k.apiId, subscriptionId: k.subscriptionId, planId: k.planId, live: live.has(k.subscriptionId) }],
    });
  }
  const sharedById = new Map<string, DeployedKey>();
  for (const k of shared) {
    let key = sharedById.get(k.id);
    if (!key) {
      key = { id: k.id, sha256: k.digest, expiresAt: ms(k.expiresAt), owner: 'application', applicationId: k.applicationId, grants: [] };
      sharedById.set(k.id, key);
      out.push(key);
    }
    const grant = { apiId: k.apiId, subscriptionId: k.subscriptionId, planId: k.planId, live: live.has(k.subscriptionId) };
    const at = key.grants.findIndex((g) => g.apiId === k.apiId);
    if (at === -1) key.grants.push(grant);
    else if (grant.live && !key.grants[at]!.live) key.grants[at] = grant;
  }
  for (const key of out) key.grants.sort((a, b) => (a.apiId < b.apiId ? -1 : a.apiId > b.apiId ? 1 : 0));
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The stored (validated) security options as the translator reads them; the JWT given key is kept as stored for the resolver. */
function planSecurity(type: DeployedPlanSecurity['type'], config: Record<string, unknown>, planId: string): DeployedPlanSecurity {
  const security: DeployedPlanSecurity = { type, apiKey: null, jwt: null, oauth2: null };
  if (type === 'API_KEY') {
    const o = config as ApiKeyOptions;
    security.apiKey = { keyLocation: o.keyLocation, keyName: o.keyName, propagateKey: o.propagateKey };
  }
  if (type === 'JWT') {
    const o = config as JwtOptions;
    security.jwt = {
      signatureAlgorithms: o.signatureAlgorithms,
      keyResolver: o.keyResolver,
      jwksUrl: o.jwksUrl ?? null,
      givenKey: o.givenKey ?? null,
      clientIdClaim: o.clientIdClaim,
      userClaim: o.userClaim,
      requiredScopes: o.requiredScopes,
      strictScopes: o.strictScopes,
      extractClaims: o.extractClaims,
      propagateAuthHeader: o.propagateAuthHeader,
      leewaySeconds: o.leewaySeconds,
      // Absent in plans stored before these options: no requirement, no bound (as they always behaved).
      requireExpiration: o.requireExpiration ?? false,
      maxTokenLifetimeSeconds: tokenLifetimeSeconds(o.maxTokenLifetime),
    };
  }
  if (type === 'OAUTH2') {
    const o = config as unknown as StoredOAuth2Options;
    security.oauth2 = {
      authorizationServerId: o.authorizationServerId ?? inlineServerId(planId),
      ...oauth2TokenRules(o),
    };
  }
  return security;
}

/** The implicit authorization server of a plan using the inline OAuth2 options. */
export function inlineServerId(planId: string): string {
  return `plan:${planId}`;
}

/**
 * The authorization servers serving OAUTH2 plans and `oauth2` attachments of deployed APIs use: referenced servers
 * (read with their secrets) and one implicit server per inline plan (its cacheTtlSeconds as the cache bound; the
 * introspection timeout default).
 * A reference to a server that no longer exists yields no entry: the translator then fails that plan closed.
 */
async function deployedAuthorizationServers(
  db: Executor,
  box: SecretBox,
  planRows: readonly { id: string; name: string; security: DeployedPlanSecurity['type']; securityConfig: Record<string, unknown> }[],
  attachments: readonly { name: string; params: Record<string, unknown> | null }[],
): Promise<DeployedAuthorizationServer[]> {
  const referenced: string[] = [];
  // `oauth2` policy attachments (API, operation or plan level) name a server too.
  for (const policy of attachments) {
    const id = policy.name === 'oauth2' ? policy.params?.authorizationServerId : undefined;
    if (typeof id === 'string') referenced.push(id);
  }
  const inline: DeployedAuthorizationServer[] = [];
  for (const row of planRows) {
    if (row.security !== 'OAUTH2') continue;
    const o = row.securityConfig as unknown as StoredOAuth2Options;
    if (o.authorizationServerId !== undefined) {
      referenced.push(o.authorizationServerId);
    } else if (o.introspectionUrl !== undefined && o.clientId !== undefined && o.clientSecret !== undefined) {
      inline.push({
        id: inlineServerId(row.id),
        name: `plan ${row.name}`,
        introspectionUrl: o.introspectionUrl,
        clientId: o.clientId,
        clientSecret: box.open(o.clientSecret),
        tokenTypeHint: null,
        timeoutMs: 2000,
        // The inline option allowed up to a day; the module bounds the cache at an hour like a server's.
        maxCacheSeconds: Math.min(o.cacheTtlSeconds ?? 0, 3600),
      });
    }
  }
  const stored = await loadStoredAuthorizationServers(db, box, referenced);
  return [...stored, ...inline].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The next instant at which the deployed model changes without any write: a subscription starts or ends, a
 * key expires, a subscription plan expires. The snapshot runner rebuilds then, instead of polling.
 */
export async function nextDeploymentChangeAt(db: Executor, now: Date): Promise<Date | null> {
  const first = async (query: Promise<{ at: Date | null }[]>) => (await query)[0]?.at ?? null;
  const accepted = eq(subscriptions.status, 'ACCEPTED');
  const instants = await Promise.all([
    first(db.select({ at: min(subscriptions.startingAt) }).from(subscriptions).where(and(accepted, gt(subscriptions.startingAt, now)))),
    first(db.select({ at: min(subscriptions.endingAt) }).from(subscriptions).where(and(accepted, gt(subscriptions.endingAt, now)))),
    first(db.select({ at: min(apiKeys.expiresAt) }).from(apiKeys).where(and(eq(apiKeys.status, 'active'), gt(apiKeys.expiresAt, now)))),
    first(db.select({ at: min(subscriptionPlans.expiryTime) }).from(subscriptionPlans).where(gt(subscriptionPlans.expiryTime, now))),
  ]);
  const times = instants.filter((d): d is Date => d !== null).map((d) => new Date(d).getTime());
  return times.length === 0 ? null : new Date(Math.min(...times));
}
