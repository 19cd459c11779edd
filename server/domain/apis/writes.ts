import { and, eq, ne, type SQL } from 'drizzle-orm';
import type { Transaction } from '../../db/client.ts';
import { apiPolicies, apis, apiUpstreams, operations, upstreamDefinitions, upstreamTargets } from '../../db/schema/index.ts';
import { canManageApis, requireApiManager } from '../access/index.ts';
import { deleteApiKeysOfApi } from '../api-keys/index.ts';
import { assertRoutesFree, lockRouteClaims } from './routes.ts';
import { policyChainIssues, validateApiInput } from './validation.ts';
import { type DomainContext, write } from '../context.ts';
import { ConflictError, ForbiddenError, ValidationError, assertNoIssues } from '../errors.ts';
import { newId } from '../ids.ts';
import { normalizePolicies, resolvePolicyVersion, restoreSecretParams } from '../policy-registry.ts';
import { conflictOnUniqueViolation } from '../db-errors.ts';
import { type PlacedPolicy, unknownKeyManagerIssues } from '../key-managers.ts';
import { deletePlansOfApi } from '../plans/index.ts';
import { deleteSubscriptionsOfApi } from '../subscriptions/index.ts';
import {
  type Api,
  type ApiInput,
  type ApiRow,
  type ApiSpecInput,
  type DeploymentState,
  hydrate,
  notFound,
  type PolicyInput,
  type UpdateApiInput,
  type UpstreamInput,
} from './model.ts';
import { findRow } from './reads.ts';
import { normalizeUpstreamResilience, type UpstreamResilience } from './upstream-resilience.ts';

/** What the `upstream_resilience` column holds: null when no part is configured. */
function resilienceColumn(value: UpstreamResilience): Record<string, unknown> | null {
  return value.healthCheck || value.outlierDetection || value.retry ? { ...value } : null;
}

/** Creating: publishers and admins. A consumer gets ForbiddenError. */
function requireCreator(ctx: DomainContext): void {
  if (!canManageApis(ctx.actor)) throw new ForbiddenError('Only publishers and admins manage APIs');
}

/**
 * The API the actor is about to change. Admins change any; publishers those they own or are members of
 * (ForbiddenError for the others, which they may read); what the actor may not read is NotFound.
 */
async function findManagedRow(ctx: DomainContext, ref: string): Promise<ApiRow> {
  const row = await findRow(ctx.db, ctx.actor, ref);
  if (!row) throw notFound(ref);
  await requireApiManager(ctx.db, ctx.actor, row.id, ref);
  return row;
}

async function assertUnique(tx: Transaction, input: ApiInput, selfId: string | null): Promise<void> {
  const others = (cond: SQL) => (selfId ? and(cond, ne(apis.id, selfId)) : cond);
  const [byHandle] = await tx.select({ id: apis.id }).from(apis).where(others(eq(apis.handle, input.metadata.name))).limit(1);
  if (byHandle) throw new ConflictError(`configuration already exists: API with handle '${input.metadata.name}'`);
  const [byName] = await tx
    .select({ id: apis.id })
    .from(apis)
    .where(others(and(eq(apis.displayName, input.spec.displayName), eq(apis.version, input.spec.version))!))
    .limit(1);
  if (byName) {
    throw new ConflictError(
      `configuration already exists: API with displayName '${input.spec.displayName}' and version '${input.spec.version}'`,
    );
  }
}

function columnsOf(input: ApiInput | (UpdateApiInput & { metadata: ApiInput['metadata'] })) {
  const spec = input.spec;
  return {
    labels: input.metadata.labels ?? {},
    annotations: input.metadata.annotations ?? {},
    displayName: spec.displayName,
    version: spec.version,
    context: spec.context,
    vhostMain: spec.vhosts?.main ?? null,
    vhostSandbox: spec.vhosts?.sandbox ?? null,
    subscriptionPlanNames: spec.subscriptionPlans ?? [],
  };
}

function policyRows(apiId: string, operationId: string | null, policies: readonly PolicyInput[] | null | undefined) {
  return (policies ?? []).map((p, position) => ({
    id: newId('policy'),
    apiId,
    operationId,
    position,
    name: p.name,
    version: resolvePolicyVersion(p.name, p.version),
    executionCondition: p.executionCondition ?? null,
    params: p.params ?? null,
  }));
}

/** The spec with its policies' params as they are stored (passwords hashed); called before the transaction. */
async function normalizeSpec(spec: ApiSpecInput): Promise<ApiSpecInput> {
  const normalize = async (policies: PolicyInput[] | null | undefined) => (policies ? normalizePolicies(policies) : policies);
  return {
    ...spec,
    policies: await normalize(spec.policies),
    operations: await Promise.all(spec.operations.map(async (op) => ({ ...op, policies: await normalize(op.policies) }))),
  };
}

/** Writes upstreams, definitions, operations and policies of a spec (after the old ones were removed, normalized). */
async function insertParts(tx: Transaction, apiId: string, spec: ApiSpecInput): Promise<void> {
  const ups: { environment: 'main' | 'sandbox'; value: UpstreamInput }[] = [{ environment: 'main', value: spec.upstream.main }];
  if (spec.upstream.sandbox) ups.push({ environment: 'sandbox', value: spec.upstream.sandbox });
  await tx.insert(apiUpstreams).values(
    ups.map(({ environment, value }) => ({
      apiId,
      environment,
      url: value.url || null,
      ref: value.ref || null,
      hostRewrite: value.hostRewrite ?? null,
    })),
  );
  for (const [position, def] of (spec.upstreamDefinitions ?? []).entries()) {
    const definitionId = newId('upstream');
    await tx.insert(upstreamDefinitions).values({
      id: definitionId,
      apiId,
      position,
      name: def.name,
      basePath: def.basePath ?? null,
      connectTimeout: def.timeout?.connect ?? null,
    });
    await tx
      .insert(upstreamTargets)
      .values(def.upstreams.map((t, i) => ({ definitionId, position: i, url: t.url, weight: t.weight ?? null })));
  }
  const ops = spec.operations.map((op, position) => ({
    id: newId('operation'),
    apiId,
    position,
    method: op.method,
    path: op.path,
    allowMethodOverride: op.allowMethodOverride ?? false,
  }));
  await tx.insert(operations).values(ops);
  const pols = [
    ...policyRows(apiId, null, spec.policies),
    ...spec.operations.flatMap((op, i) => policyRows(apiId, ops[i]!.id, op.policies)),
  ];
  if (pols.length > 0) await tx.insert(apiPolicies).values(pols);
}

/** Every attachment of `spec` with its path, for checks that need the database (key managers named). */
function placedPolicies(spec: ApiSpecInput): PlacedPolicy[] {
  const place = (list: readonly PolicyInput[] | null | undefined, path: string) => (list ?? []).map((p, i) => ({ path: `${path}[${i}]`, name: p.name, params: p.params }));
  return [...place(spec.policies, 'spec.policies'), ...spec.operations.flatMap((op, i) => place(op.policies, `spec.operations[${i}].policies`))];
}

async function claimRoutes(tx: Transaction, apiId: string | null, input: ApiInput): Promise<void> {
  await lockRouteClaims(tx);
  await assertRoutesFree(tx, {
    id: apiId,
    context: input.spec.context,
    version: input.spec.version,
    vhostMain: input.spec.vhosts?.main ?? null,
    vhostSandbox: input.spec.vhosts?.sandbox ?? null,
    hasSandbox: Boolean(input.spec.upstream.sandbox),
    operations: input.spec.operations,
  });
}

async function reload(tx: Transaction, id: string): Promise<Api> {
  const [row] = await tx.select().from(apis).where(eq(apis.id, id));
  return (await hydrate(tx, [row!]))[0]!;
}

/** Unique violations that slipped past the pre-checks (a concurrent insert) are conflicts, never 500s. */
function mapConflicts<T>(work: () => Promise<T>): Promise<T> {
  return conflictOnUniqueViolation(work, 'configuration already exists: a concurrent change took this handle or name');
}

/**
 * Creates a RestAPI; deployed unless `spec.deploymentState` says otherwise, governed by plans (closed until one is
 * published) unless `accessMode` is OPEN.
 */
export async function createApi(ctx: DomainContext, input: ApiInput): Promise<Api> {
  requireCreator(ctx);
  assertNoIssues(validateApiInput(input));
  const spec = await normalizeSpec(input.spec);
  assertNoIssues(policyChainIssues(spec));
  return mapConflicts(() =>
    write(ctx, async ({ tx, audit, now, actor }) => {
      await assertUnique(tx, input, null);
      assertNoIssues(await unknownKeyManagerIssues(tx, placedPolicies(spec)));
      const deployed = (input.spec.deploymentState ?? 'deployed') === 'deployed';
      if (deployed) await claimRoutes(tx, null, input);
      const id = newId('api');
      await tx.insert(apis).values({
        id,
        handle: input.metadata.name,
        ...columnsOf(input),
        visibility: input.visibility ?? 'public',
        // Fail closed: an API nobody chose to open admits only its published plans' traffic.
        accessMode: input.accessMode ?? 'PLANS',
        upstreamResilience: resilienceColumn(normalizeUpstreamResilience(input.upstreamResilience)),
        deploymentState: deployed ? 'deployed' : 'undeployed',
        deployedAt: deployed ? now : null,
        ownerId: actor.userId,
        createdAt: now,
        updatedAt: now,
      });
      await insertParts(tx, id, spec);
      const api = await reload(tx, id);
      await audit({ action: 'api.create', entityType: 'api', entityId: id, after: api });
      return api;
    }),
  );
}

/**
 * Replaces the API's metadata and spec (PUT semantics); the handle never changes, and visibility and access mode
 * are kept when not given. Never creates. Deployed after the update unless `spec.deploymentState` is `undeployed`.
 */
export async function updateApi(ctx: DomainContext, idOrHandle: string, input: UpdateApiInput): Promise<Api> {
  const existing = await findManagedRow(ctx, idOrHandle);
  const bodyName = input.metadata?.name;
  if (bodyName !== undefined && bodyName !== null && bodyName !== existing.handle) {
    throw new ValidationError(
      [{ path: 'metadata.name', message: `metadata.name '${bodyName}' does not match the API's handle '${existing.handle}'` }],
      `handle mismatch: metadata.name '${bodyName}' does not match '${existing.handle}'`,
    );
  }
  // Write-only params left out (or sent back as read) keep their stored values.
  const previous = await ctx.db.select({ name: apiPolicies.name, params: apiPolicies.params }).from(apiPolicies).where(eq(apiPolicies.apiId, existing.id));
  const keep = (policies: PolicyInput[] | null | undefined) => policies?.map((p) => ({ ...p, params: restoreSecretParams(p.name, p.params, previous) }));
  const full: ApiInput = {
    metadata: { ...(input.metadata ?? {}), name: existing.handle },
    spec: { ...input.spec, policies: keep(input.spec.policies), operations: input.spec.operations.map((op) => ({ ...op, policies: keep(op.policies) })) },
    visibility: input.visibility ?? existing.visibility,
    accessMode: input.accessMode ?? existing.accessMode,
    upstreamResilience: input.upstreamResilience,
  };
  assertNoIssues(validateApiInput(full));
  const spec = await normalizeSpec(full.spec);
  assertNoIssues(policyChainIssues(spec));
  return mapConflicts(() =>
    write(ctx, async ({ tx, audit, now }) => {
      const before = await reload(tx, existing.id);
      await assertUnique(tx, full, existing.id);
      assertNoIssues(await unknownKeyManagerIssues(tx, placedPolicies(spec)));
      const deployed = (full.spec.deploymentState ?? 'deployed') === 'deployed';
      if (deployed) await claimRoutes(tx, existing.id, full);
      await tx
        .update(apis)
        .set({
          ...columnsOf(full),
          visibility: full.visibility ?? existing.visibility,
          accessMode: full.accessMode ?? existing.accessMode,
          // Absent: unchanged (a REST PUT has no such field); null: removed.
          ...(input.upstreamResilience === undefined ? {} : { upstreamResilience: resilienceColumn(normalizeUpstreamResilience(input.upstreamResilience)) }),
          deploymentState: deployed ? 'deployed' : 'undeployed',
          deployedAt: deployed ? now : null,
          updatedAt: now,
        })
        .where(eq(apis.id, existing.id));
      // Children are replaced wholesale: policies first (they reference operations), then the rest.
      await tx.delete(apiPolicies).where(eq(apiPolicies.apiId, existing.id));
      await tx.delete(operations).where(eq(operations.apiId, existing.id));
      await tx.delete(upstreamDefinitions).where(eq(upstreamDefinitions.apiId, existing.id));
      await tx.delete(apiUpstreams).where(eq(apiUpstreams.apiId, existing.id));
      await insertParts(tx, existing.id, spec);
      const api = await reload(tx, existing.id);
      await audit({ action: 'api.update', entityType: 'api', entityId: existing.id, before, after: api });
      return api;
    }),
  );
}

/** Deletes the API with its subscriptions, plans and keys (v0.9: "deletes the API's keys"). Returns what was deleted. */
export async function deleteApi(ctx: DomainContext, idOrHandle: string): Promise<Api> {
  const existing = await findManagedRow(ctx, idOrHandle);
  return write(ctx, async (scope) => {
    const { tx, audit } = scope;
    const before = await reload(tx, existing.id);
    // Explicit order: subscriptions reference plans with ON DELETE RESTRICT, so they must go before the plans.
    await deleteApiKeysOfApi(scope, existing.id);
    await deleteSubscriptionsOfApi(scope, existing.id);
    await deletePlansOfApi(scope, existing.id);
    await tx.delete(apis).where(eq(apis.id, existing.id));
    await audit({ action: 'api.delete', entityType: 'api', entityId: existing.id, before });
    return before;
  });
}

async function setDeployment(ctx: DomainContext, idOrHandle: string, state: DeploymentState): Promise<Api> {
  const existing = await findManagedRow(ctx, idOrHandle);
  return write(ctx, async ({ tx, audit, now }) => {
    const before = await reload(tx, existing.id);
    if (before.deploymentState === state) return before;
    if (state === 'deployed') {
      await lockRouteClaims(tx);
      await assertRoutesFree(tx, {
        id: before.id,
        context: before.context,
        version: before.version,
        vhostMain: before.vhosts?.main ?? null,
        vhostSandbox: before.vhosts?.sandbox ?? null,
        hasSandbox: before.upstream.sandbox !== null,
        operations: before.operations,
      });
    }
    await tx
      .update(apis)
      .set({ deploymentState: state, deployedAt: state === 'deployed' ? now : null, updatedAt: now })
      .where(eq(apis.id, existing.id));
    const api = await reload(tx, existing.id);
    await audit({ action: state === 'deployed' ? 'api.deploy' : 'api.undeploy', entityType: 'api', entityId: api.id, before, after: api });
    return api;
  });
}

/** Puts the API (back) on traffic; ConflictError when another deployed API serves one of its routes. No-op when deployed. */
export function deployApi(ctx: DomainContext, idOrHandle: string): Promise<Api> {
  return setDeployment(ctx, idOrHandle, 'deployed');
}

/** Takes the API off traffic, keeping its configuration, plans, subscriptions and keys. No-op when undeployed. */
export function undeployApi(ctx: DomainContext, idOrHandle: string): Promise<Api> {
  return setDeployment(ctx, idOrHandle, 'undeployed');
}

