import { asc, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiPolicies, apis, apiUpstreams, operations, upstreamDefinitions, upstreamTargets } from '../../db/schema/index.ts';
import { resolveContext } from './routes.ts';
import type { HttpMethod } from './validation.ts';
import { NotFoundError } from '../errors.ts';
import { maskSecretParams } from '../policy-registry.ts';
import type { AccessMode } from '../reachability.ts';
import { noResilience, type UpstreamResilience, type UpstreamResilienceInput } from './upstream-resilience.ts';

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
  /** The route keeps X-HTTP-Method-Override and its variants; otherwise the data planes remove them. */
  allowMethodOverride: boolean;
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
  /** How the API admits traffic while no plan serves (domain/reachability.ts). */
  accessMode: AccessMode;
  /** Health check, outlier detection and retry policy of the API's upstreams (not in v0.9). */
  upstreamResilience: UpstreamResilience;
  ownerId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyInput {
  name: string;
  /** Major only (`v1`); absent or blank: the installed major (policy-registry `resolvePolicyVersion`). */
  version?: string | null | undefined;
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
  /** `allowMethodOverride` @default false */
  operations: { method: HttpMethod; path: string; policies?: PolicyInput[] | null; allowMethodOverride?: boolean | null }[];
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
  /**
   * @default 'PLANS' (fail closed: nobody passes until a plan is published). The REST v0.9 layer creates with
   * 'OPEN', the v0.9 behaviour its clients rely on.
   */
  accessMode?: AccessMode | null;
  /** Not in v0.9 (REST never sends it). @default none */
  upstreamResilience?: UpstreamResilienceInput | null;
}

/** A full replacement of the spec and metadata; `metadata.name`, when given, must equal the handle. */
export interface UpdateApiInput {
  metadata?: { name?: string | null; labels?: Record<string, string> | null; annotations?: Record<string, string> | null } | null;
  spec: ApiSpecInput;
  visibility?: ApiVisibility | null;
  /** Absent: unchanged. */
  accessMode?: AccessMode | null;
  /** Absent: unchanged (so a REST PUT keeps it); null: removed. */
  upstreamResilience?: UpstreamResilienceInput | null;
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

export function notFound(ref: string): NotFoundError {
  return new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
}

export type ApiRow = typeof apis.$inferSelect;

/** Rows -> domain Apis with every part loaded in five queries, whatever the number of rows. */
export async function hydrate(db: Executor, rows: readonly ApiRow[]): Promise<Api[]> {
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
        .map((o) => ({
          id: o.id,
          method: o.method,
          path: o.path,
          policies: pols.filter((p) => p.operationId === o.id).map(toPolicy),
          allowMethodOverride: o.allowMethodOverride,
        })),
      subscriptionPlans: row.subscriptionPlanNames,
      deploymentState: row.deploymentState,
      deployedAt: row.deployedAt,
      visibility: row.visibility,
      accessMode: row.accessMode,
      upstreamResilience: (row.upstreamResilience as UpstreamResilience | null) ?? noResilience,
      ownerId: row.ownerId,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  });
}

