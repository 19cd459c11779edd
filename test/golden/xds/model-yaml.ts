import { normalizeUpstreamResilience, type UpstreamResilienceInput } from '../../../server/domain/apis/upstream-resilience.ts';
import type { DeployedApi, DeployedPlan, DeployedSubscription, DeploymentModel, ModelOperation, ModelPolicy } from '../../../server/domain/deployment-model.ts';

/**
 * Golden inputs are DeploymentModels written as YAML with the noise left out: absent lists are empty, absent
 * nullable fields are null, absent policy versions are v1. This fills them in (test-only; the translator itself
 * takes complete models).
 */
type Loose<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? Loose<U>[] : T[K] extends object | null ? Loose<NonNullable<T[K]>> | null : T[K] };

function policy(p: Loose<ModelPolicy>): ModelPolicy {
  return { name: p.name ?? '', version: p.version ?? 'v1', executionCondition: p.executionCondition ?? null, params: (p.params as Record<string, unknown> | undefined) ?? null };
}

function api(a: Loose<DeployedApi>, i: number): DeployedApi {
  const up = (u: Loose<DeployedApi['upstream']['main']> | null | undefined) => ({ url: u?.url ?? null, ref: u?.ref ?? null, hostRewrite: u?.hostRewrite ?? null });
  return {
    id: a.id ?? `api_${i}`,
    handle: a.handle ?? `api-${i}`,
    version: a.version ?? 'v1',
    context: a.context ?? '/',
    upstream: { main: up(a.upstream?.main), sandbox: a.upstream?.sandbox ? up(a.upstream.sandbox) : null },
    upstreamDefinitions: (a.upstreamDefinitions ?? []).map((d) => ({
      name: d.name ?? '',
      basePath: d.basePath ?? null,
      connectTimeout: d.connectTimeout ?? null,
      upstreams: (d.upstreams ?? []).map((t) => ({ url: t.url ?? '', weight: t.weight ?? null })),
    })),
    vhosts: a.vhosts ? { main: a.vhosts.main ?? '*', sandbox: a.vhosts.sandbox ?? null } : null,
    policies: (a.policies ?? []).map(policy),
    operations: (a.operations ?? []).map((o): ModelOperation => ({
      method: o.method ?? 'GET',
      path: o.path ?? '/',
      policies: (o.policies ?? []).map(policy),
      allowMethodOverride: o.allowMethodOverride === true,
    })),
    subscriptionPlans: (a.subscriptionPlans ?? []) as string[],
    visibility: a.visibility ?? 'public',
    // The domain's default: an API without a serving plan is closed unless it says `accessMode: OPEN`.
    accessMode: a.accessMode ?? 'PLANS',
    // As the domain stores it: defaults filled in.
    ...(a.upstreamResilience ? { upstreamResilience: normalizeUpstreamResilience(a.upstreamResilience as UpstreamResilienceInput) } : {}),
  };
}

function plan(p: Loose<DeployedPlan>): DeployedPlan {
  const s = p.security ?? {};
  return {
    id: p.id ?? '',
    apiId: p.apiId ?? '',
    name: p.name ?? p.id ?? '',
    status: p.status ?? 'PUBLISHED',
    position: p.position ?? 0,
    security: {
      type: s.type ?? 'KEYLESS',
      apiKey: (s.apiKey as DeployedPlan['security']['apiKey']) ?? null,
      jwt: (s.jwt as DeployedPlan['security']['jwt']) ?? null,
      oauth2: s.oauth2
        ? {
            authorizationServerId: s.oauth2.authorizationServerId ?? '',
            requiredScopes: (s.oauth2.requiredScopes ?? []) as string[],
            strictScopes: s.oauth2.strictScopes ?? false,
            clientIdClaim: s.oauth2.clientIdClaim ?? null,
            extractClaims: (s.oauth2.extractClaims ?? []) as { claim: string; header: string }[],
            propagateAuthHeader: s.oauth2.propagateAuthHeader ?? false,
          }
        : null,
    },
    policies: (p.policies ?? []).map(policy),
    selectionRule: p.selectionRule ?? null,
  };
}

function subscription(s: Loose<DeployedSubscription>): DeployedSubscription {
  return {
    id: s.id ?? '',
    apiId: s.apiId ?? '',
    applicationId: s.applicationId ?? null,
    clientId: s.clientId ?? null,
    planId: s.planId ?? null,
    subscriptionPlanId: s.subscriptionPlanId ?? null,
    status: s.status ?? 'ACCEPTED',
    tokenSha256: s.tokenSha256 ?? null,
    isLive: s.isLive ?? true,
  };
}

export function modelFromYaml(value: unknown): DeploymentModel {
  const m = (value ?? {}) as Loose<DeploymentModel>;
  return {
    apis: (m.apis ?? []).map(api),
    plans: (m.plans ?? []).map(plan),
    subscriptions: (m.subscriptions ?? []).map(subscription),
    keys: (m.keys ?? []).map((k) => ({
      id: k.id ?? '',
      sha256: k.sha256 ?? '',
      expiresAt: k.expiresAt ?? null,
      owner: k.owner ?? 'subscription',
      applicationId: k.applicationId ?? null,
      grants: (k.grants ?? []).map((g) => ({ apiId: g.apiId ?? '', subscriptionId: g.subscriptionId ?? null, planId: g.planId ?? null, live: g.live ?? true })),
    })),
    subscriptionPlans: (m.subscriptionPlans ?? []).map((p) => ({
      id: p.id ?? '',
      planName: p.planName ?? '',
      stopOnQuotaReach: p.stopOnQuotaReach ?? true,
      throttleLimitCount: p.throttleLimitCount ?? null,
      throttleLimitUnit: p.throttleLimitUnit ?? null,
      status: p.status ?? 'ACTIVE',
    })),
    jwks: (m.jwks ?? {}) as DeploymentModel['jwks'],
    authorizationServers: (m.authorizationServers ?? []).map((s) => ({
      id: s.id ?? '',
      name: s.name ?? s.id ?? '',
      introspectionUrl: s.introspectionUrl ?? '',
      clientId: s.clientId ?? '',
      clientSecret: s.clientSecret ?? '',
      tokenTypeHint: s.tokenTypeHint ?? null,
      timeoutMs: s.timeoutMs ?? 2000,
      maxCacheSeconds: s.maxCacheSeconds ?? 300,
    })),
  };
}
