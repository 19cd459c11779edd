import { and, asc, eq, inArray, ne, or, type SQL, sql } from 'drizzle-orm';
import type { Executor, Transaction } from '../db/client.ts';
import { apiKeys, apiPolicies, apis, apiUpstreams, operations, plans, subscriptions, upstreamDefinitions, upstreamTargets } from '../db/schema/index.ts';
import { canManageApis, requireApiManager } from './access.ts';
import { assertRoutesFree, lockRouteClaims, resolveContext } from './api-routes.ts';
import { type HttpMethod, validateApiInput } from './api-validation.ts';
import { type Actor, type DomainContext, write } from './context.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError, assertNoIssues } from './errors.ts';
import { newId } from './ids.ts';
import { type PageArgs, selectPage } from './pagination.ts';
import { maskSecretParams, normalizePolicies, restoreSecretParams } from './policy-registry.ts';
import { apiVisibleTo } from './api-visibility.ts';
import { isUniqueViolation } from './db-errors.ts';

export type { HttpMethod } from './api-validation.ts';
export type DeploymentState = 'deployed' | 'undeployed';
export type ApiVisibility = 'public' | 'private';
export type HostRewrite = 'auto' | 'manual';

/** `{name, version, executionCondition, params}` as attached (name as given: an alias stays an alias). */
export interface PolicyAttachment {
  name: string;
  version: string;
  executionCondition: string | null;
  params: Record<string, unknown> | null;
}

export interface Upstream {
  url: string | null;
  /** Name of one of the API's upstreamDefinitions. */
  ref: string | null;
  hostRewrite: HostRewrite | null;
}

export interface UpstreamTarget {
  url: string;
  /** null = the v0.9 default (100). */
  weight: number | null;
}

export interface UpstreamDefinition {
  name: string;
  basePath: string | null;
  /** Duration as given ("5s", "500ms"). */
  connectTimeout: string | null;
  upstreams: UpstreamTarget[];
}

export interface Operation {
  id: string;
  method: HttpMethod;
  path: string;
  policies: PolicyAttachment[];
}

/** The v0.9 RestApi resource, plus visibility and owner. */
export interface Api {
  id: string;
  /** v0.9 metadata.name (and status.id); chosen by the client, unique, never changes. */
  handle: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  displayName: string;
  version: string;
  /** As given, possibly holding `$version`; see `resolvedContext`. */
  context: string;
  upstream: { main: Upstream; sandbox: Upstream | null };
  upstreamDefinitions: UpstreamDefinition[];
  vhosts: { main: string; sandbox: string | null } | null;
  policies: PolicyAttachment[];
  operations: Operation[];
  /** v0.9 spec.subscriptionPlans: names of the subscription plans offered. */
  subscriptionPlans: string[];
  deploymentState: DeploymentState;
  /** Last deployment; null while undeployed. */
  deployedAt: Date | null;
  visibility: ApiVisibility;
  ownerId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyInput {
  name: string;
  version: string;
  executionCondition?: string | null;
  params?: Record<string, unknown> | null;
}

export interface UpstreamInput {
  url?: string | null;
  ref?: string | null;
  hostRewrite?: HostRewrite | null;
}

export interface ApiSpecInput {
  displayName: string;
  version: string;
  context: string;
  upstream: { main: UpstreamInput; sandbox?: UpstreamInput | null };
  upstreamDefinitions?: {
    name: string;
    basePath?: string | null;
    timeout?: { connect?: string | null } | null;
    upstreams: { url: string; weight?: number | null }[];
  }[] | null;
  vhosts?: { main: string; sandbox?: string | null } | null;
  policies?: PolicyInput[] | null;
  operations: { method: HttpMethod; path: string; policies?: PolicyInput[] | null }[];
  subscriptionPlans?: string[] | null;
  /** @default 'deployed' */
  deploymentState?: DeploymentState | null;
}

/** The v0.9 request shape (metadata + spec), so validation paths read as v0.9 clients expect. */
export interface ApiInput {
  metadata: { name: string; labels?: Record<string, string> | null; annotations?: Record<string, string> | null };
  spec: ApiSpecInput;
  /** @default 'public' (kept as it was on update when absent) */
  visibility?: ApiVisibility | null;
}

/** A full replacement of the spec and metadata; `metadata.name`, when given, must equal the handle. */
export interface UpdateApiInput {
  metadata?: { name?: string | null; labels?: Record<string, string> | null; annotations?: Record<string, string> | null } | null;
  spec: ApiSpecInput;
  visibility?: ApiVisibility | null;
}

export interface ApiFilters {
  displayName?: string | undefined;
  version?: string | undefined;
  /** Matches the context as given or with `$version` substituted. */
  context?: string | undefined;
  deploymentState?: DeploymentState | undefined;
  visibility?: ApiVisibility | undefined;
  /** Every label must match; a label without value matches on the key alone. */
  labels?: readonly { key: string; value?: string | null | undefined }[] | undefined;
}

/** The context as routed, `$version` substituted: `/reading-list/$version` -> `/reading-list/v1.0`. */
export function resolvedContext(api: Pick<Api, 'context' | 'version'>): string {
  return resolveContext(api.context, api.version);
}

function notFound(ref: string): NotFoundError {
  return new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
}

type ApiRow = typeof apis.$inferSelect;

/** Rows -> domain Apis with every part loaded in five queries, whatever the number of rows. */
async function hydrate(db: Executor, rows: readonly ApiRow[]): Promise<Api[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [ups, defs, ops, pols] = await Promise.all([
    db.select().from(apiUpstreams).where(inArray(apiUpstreams.apiId, ids)),
    db.select().from(upstreamDefinitions).where(inArray(upstreamDefinitions.apiId, ids)).orderBy(asc(upstreamDefinitions.position)),
    db.select().from(operations).where(inArray(operations.apiId, ids)).orderBy(asc(operations.position)),
    db.select().from(apiPolicies).where(inArray(apiPolicies.apiId, ids)).orderBy(asc(apiPolicies.position)),
  ]);
  const targets = defs.length === 0
    ? []
    : await db.select().from(upstreamTargets).where(inArray(upstreamTargets.definitionId, defs.map((d) => d.id))).orderBy(asc(upstreamTargets.position));
  const toPolicy = (p: typeof apiPolicies.$inferSelect): PolicyAttachment => ({
    name: p.name,
    version: p.version,
    executionCondition: p.executionCondition,
    // Secret params (basic-auth users' hashes) are write-only for everyone.
    params: maskSecretParams(p.name, p.params),
  });
  const toUpstream = (u: typeof apiUpstreams.$inferSelect): Upstream => ({ url: u.url, ref: u.ref, hostRewrite: u.hostRewrite });
  return rows.map((row) => {
    const main = ups.find((u) => u.apiId === row.id && u.environment === 'main');
    const sandbox = ups.find((u) => u.apiId === row.id && u.environment === 'sandbox');
    return {
      id: row.id,
      handle: row.handle,
      labels: row.labels,
      annotations: row.annotations,
      displayName: row.displayName,
      version: row.version,
      context: row.context,
      upstream: { main: main ? toUpstream(main) : { url: null, ref: null, hostRewrite: null }, sandbox: sandbox ? toUpstream(sandbox) : null },
      upstreamDefinitions: defs
        .filter((d) => d.apiId === row.id)
        .map((d) => ({
          name: d.name,
          basePath: d.basePath,
          connectTimeout: d.connectTimeout,
          upstreams: targets.filter((t) => t.definitionId === d.id).map((t) => ({ url: t.url, weight: t.weight })),
        })),
      vhosts: row.vhostMain === null ? null : { main: row.vhostMain, sandbox: row.vhostSandbox },
      policies: pols.filter((p) => p.apiId === row.id && p.operationId === null).map(toPolicy),
      operations: ops
        .filter((o) => o.apiId === row.id)
        .map((o) => ({ id: o.id, method: o.method, path: o.path, policies: pols.filter((p) => p.operationId === o.id).map(toPolicy) })),
      subscriptionPlans: row.subscriptionPlanNames,
      deploymentState: row.deploymentState,
      deployedAt: row.deployedAt,
      visibility: row.visibility,
      ownerId: row.ownerId,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  });
}

/** The row for an id or a handle (an exact id match wins), within what the actor may read. */
async function findRow(db: Executor, actor: Actor, ref: string): Promise<ApiRow | undefined> {
  const rows = await db
    .select()
    .from(apis)
    .where(and(or(eq(apis.id, ref), eq(apis.handle, ref)), apiVisibleTo(db, actor)))
    .limit(2);
  return rows.find((r) => r.id === ref) ?? rows[0];
}

/** An API by id or handle; NotFound (v0.9 message) when missing or not visible to the actor. */
export async function getApi(ctx: DomainContext, idOrHandle: string): Promise<Api> {
  const row = await findRow(ctx.db, ctx.actor, idOrHandle);
  if (!row) throw notFound(idOrHandle);
  return (await hydrate(ctx.db, [row]))[0]!;
}

export async function getApiByHandle(ctx: DomainContext, handle: string): Promise<Api> {
  const [row] = await ctx.db.select().from(apis).where(and(eq(apis.handle, handle), apiVisibleTo(ctx.db, ctx.actor))).limit(1);
  if (!row) throw notFound(handle);
  return (await hydrate(ctx.db, [row]))[0]!;
}

/** Keyset page of the APIs the actor may read, ordered by id (creation order). */
export async function listApis(ctx: DomainContext, filters: ApiFilters, page: PageArgs): Promise<Api[]> {
  const where: (SQL | undefined)[] = [apiVisibleTo(ctx.db, ctx.actor)];
  if (filters.displayName !== undefined) where.push(eq(apis.displayName, filters.displayName));
  if (filters.version !== undefined) where.push(eq(apis.version, filters.version));
  if (filters.context !== undefined) {
    where.push(or(eq(apis.context, filters.context), sql`replace(${apis.context}, ${'$version'}, ${apis.version}) = ${filters.context}`));
  }
  if (filters.deploymentState !== undefined) where.push(eq(apis.deploymentState, filters.deploymentState));
  if (filters.visibility !== undefined) where.push(eq(apis.visibility, filters.visibility));
  for (const label of filters.labels ?? []) {
    where.push(
      label.value === undefined || label.value === null
        ? sql`(${apis.labels} ->> ${label.key}) is not null`
        : sql`(${apis.labels} ->> ${label.key}) = ${label.value}`,
    );
  }
  const rows = await selectPage(ctx.db, apis, where, page);
  return hydrate(ctx.db, rows);
}

/** Batch loader: APIs in the order of `ids`, null where missing or not visible to the actor. */
export async function loadApis(ctx: DomainContext, ids: readonly string[]): Promise<(Api | null)[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apis)
    .where(and(inArray(apis.id, [...new Set(ids)]), apiVisibleTo(ctx.db, ctx.actor)));
  const byId = new Map((await hydrate(ctx.db, rows)).map((api) => [api.id, api]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Batch loader by handle (REST paths, subscription apiIds). */
export async function loadApisByHandle(ctx: DomainContext, handles: readonly string[]): Promise<(Api | null)[]> {
  if (handles.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(apis)
    .where(and(inArray(apis.handle, [...new Set(handles)]), apiVisibleTo(ctx.db, ctx.actor)));
  const byHandle = new Map((await hydrate(ctx.db, rows)).map((api) => [api.handle, api]));
  return handles.map((h) => byHandle.get(h) ?? null);
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
    version: p.version,
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
  const ops = spec.operations.map((op, position) => ({ id: newId('operation'), apiId, position, method: op.method, path: op.path }));
  await tx.insert(operations).values(ops);
  const pols = [
    ...policyRows(apiId, null, spec.policies),
    ...spec.operations.flatMap((op, i) => policyRows(apiId, ops[i]!.id, op.policies)),
  ];
  if (pols.length > 0) await tx.insert(apiPolicies).values(pols);
}

async function claimRoutes(tx: Transaction, apiId: string | null, input: ApiInput): Promise<void> {
  await lockRouteClaims(tx);
  await assertRoutesFree(tx, {
    id: apiId,
    context: input.spec.context,
    version: input.spec.version,
    vhostMain: input.spec.vhosts?.main ?? null,
    vhostSandbox: input.spec.vhosts?.sandbox ?? null,
    operations: input.spec.operations,
  });
}

async function reload(tx: Transaction, id: string): Promise<Api> {
  const [row] = await tx.select().from(apis).where(eq(apis.id, id));
  return (await hydrate(tx, [row!]))[0]!;
}

/** Unique violations that slipped past the pre-checks (a concurrent insert) are conflicts, never 500s. */
async function mapConflicts<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error: unknown) {
    if (isUniqueViolation(error)) throw new ConflictError('configuration already exists: a concurrent change took this handle or name', { cause: error });
    throw error;
  }
}

/** Creates a RestAPI; deployed unless `spec.deploymentState` says otherwise. */
export async function createApi(ctx: DomainContext, input: ApiInput): Promise<Api> {
  requireCreator(ctx);
  assertNoIssues(validateApiInput(input));
  const spec = await normalizeSpec(input.spec);
  return mapConflicts(() =>
    write(ctx, async ({ tx, audit, now, actor }) => {
      await assertUnique(tx, input, null);
      const deployed = (input.spec.deploymentState ?? 'deployed') === 'deployed';
      if (deployed) await claimRoutes(tx, null, input);
      const id = newId('api');
      await tx.insert(apis).values({
        id,
        handle: input.metadata.name,
        ...columnsOf(input),
        visibility: input.visibility ?? 'public',
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
 * Replaces the API's metadata and spec (PUT semantics); the handle never changes and visibility is kept when
 * not given. Never creates. Deployed after the update unless `spec.deploymentState` is `undeployed`.
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
  };
  assertNoIssues(validateApiInput(full));
  const spec = await normalizeSpec(full.spec);
  return mapConflicts(() =>
    write(ctx, async ({ tx, audit, now }) => {
      const before = await reload(tx, existing.id);
      await assertUnique(tx, full, existing.id);
      const deployed = (full.spec.deploymentState ?? 'deployed') === 'deployed';
      if (deployed) await claimRoutes(tx, existing.id, full);
      await tx
        .update(apis)
        .set({
          ...columnsOf(full),
          visibility: full.visibility ?? existing.visibility,
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
  return write(ctx, async ({ tx, audit }) => {
    const before = await reload(tx, existing.id);
    // Explicit order: subscriptions reference plans with ON DELETE RESTRICT, so they must go before the plans.
    await tx.delete(apiKeys).where(eq(apiKeys.apiId, existing.id));
    await tx.delete(subscriptions).where(eq(subscriptions.apiId, existing.id));
    await tx.delete(plans).where(eq(plans.apiId, existing.id));
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
