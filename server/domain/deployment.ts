import { and, asc, eq, gt, inArray, isNull, lte, min, or } from 'drizzle-orm';
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
import type { DeployedApi, DeployedPlan, DeployedPlanSecurity, DeploymentModel, ModelPolicy } from './deployment-model.ts';
import { listActiveKeyDigests } from './api-keys.ts';
import type { ApiKeyOptions, JwtOptions } from './plan-security.ts';

/**
 * The deployed part of the model at `now`, read-only, as the xDS translator takes it: deployed APIs with their
 * operations, policies and upstreams; their serving plans, subscriptions and the keys the data plane must accept;
 * v0.9 subscription plans. JWT keys are left to `resolveJwks` (server/xds/jwks-resolver.ts). A fixed number of
 * queries whatever the number of APIs, each ordered so that the model is deterministic.
 */
export async function loadDeploymentModel(db: Executor, now: Date): Promise<DeploymentModel> {
  const deployedIds = db.select({ id: apis.id }).from(apis).where(eq(apis.deploymentState, 'deployed'));
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
      .where(and(inArray(plans.apiId, deployedIds), inArray(plans.status, ['PUBLISHED', 'DEPRECATED'])))
      .orderBy(asc(plans.apiId), asc(plans.position), asc(plans.id)),
    db
      .select()
      .from(planPolicies)
      .innerJoin(plans, eq(plans.id, planPolicies.planId))
      .where(and(inArray(plans.apiId, deployedIds), inArray(plans.status, ['PUBLISHED', 'DEPRECATED'])))
      .orderBy(asc(planPolicies.planId), asc(planPolicies.position)),
    db
      .select({ sub: subscriptions, clientId: applications.clientId })
      .from(subscriptions)
      .leftJoin(applications, eq(applications.id, subscriptions.applicationId))
      .where(inArray(subscriptions.apiId, deployedIds))
      .orderBy(asc(subscriptions.id)),
    db.select().from(subscriptionPlans).orderBy(asc(subscriptionPlans.id)),
    listActiveKeyDigests(db, now),
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
      operations: (opsByApi.get(row.id) ?? []).map((o) => ({ method: o.method, path: o.path, policies: (polsByOwner.get(o.id) ?? []).map(toPolicy) })),
      subscriptionPlans: row.subscriptionPlanNames,
    };
  });

  const deployedPlans: DeployedPlan[] = planRows.map((row) => ({
    id: row.id,
    apiId: row.apiId,
    name: row.name,
    status: row.status,
    position: row.position,
    security: planSecurity(row.security, row.securityConfig),
    policies: (planPolsByPlan.get(row.id) ?? []).map((r) => toPolicy(r.plan_policies)),
    selectionRule: row.selectionRule,
  }));

  const deployedApiIds = new Set(apiRows.map((r) => r.id));
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
      isLive: live.has(sub.id),
    })),
    keys: keys
      .map((k) => ({
        id: k.keyId,
        sha256: k.digest,
        expiresAt: k.expiresAt === null ? null : k.expiresAt.getTime(),
        owner: k.owner,
        applicationId: k.applicationId,
        grants: k.grants.filter((g) => deployedApiIds.has(g.apiId)),
      }))
      .filter((k) => k.grants.length > 0),
    subscriptionPlans: subPlanRows.map((p) => ({
      id: p.id,
      planName: p.planName,
      stopOnQuotaReach: p.stopOnQuotaReach,
      throttleLimitCount: p.throttleLimitCount,
      throttleLimitUnit: p.throttleLimitUnit,
      status: p.status,
    })),
    jwks: {},
  };
}

/** The stored (validated) security options as the translator reads them; the JWT given key is kept as stored for the resolver. */
function planSecurity(type: DeployedPlanSecurity['type'], config: Record<string, unknown>): DeployedPlanSecurity {
  const security: DeployedPlanSecurity = { type, apiKey: null, jwt: null };
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
    };
  }
  return security;
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
