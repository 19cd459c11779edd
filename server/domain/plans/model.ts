import { asc, eq, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { planPolicies, plans } from '../../db/schema/index.ts';
import { requireApiManager } from '../access/index.ts';
import type { WriteScope } from '../context.ts';
import { InvalidTransitionError, NotFoundError } from '../errors.ts';
import { newId } from '../ids.ts';
import { type PlanSecurity, type PlanSecurityInput, type PlanSecurityType, toPlanSecurity } from '../plan-security.ts';
import { maskSecretParams, resolvePolicyVersion } from '../policy-registry.ts';

export const planStatuses = ['STAGING', 'PUBLISHED', 'DEPRECATED', 'CLOSED'] as const;
export type PlanStatus = (typeof planStatuses)[number];
export const planValidations = ['AUTO', 'MANUAL'] as const;
export type PlanValidation = (typeof planValidations)[number];

export interface PlanPolicy {
  name: string;
  version: string;
  executionCondition: string | null;
  params: Record<string, unknown> | null;
}

export interface Plan {
  id: string;
  apiId: string;
  /** The first version's id, shared by every version of this plan. */
  lineageId: string;
  version: number;
  name: string;
  description: string | null;
  security: PlanSecurity;
  /** In execution order. */
  policies: PlanPolicy[];
  /** Stored as given; its syntax is defined by the plan-selection work. */
  selectionRule: string | null;
  validation: PlanValidation;
  status: PlanStatus;
  position: number;
  publishedAt: Date | null;
  deprecatedAt: Date | null;
  closedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PlanPolicyInput {
  name: string;
  /** Major only (`v1`); absent or blank: the installed major (policy-registry `resolvePolicyVersion`). */
  version?: string | null | undefined;
  executionCondition?: string | null | undefined;
  params?: Record<string, unknown> | null | undefined;
}

export interface CreatePlanInput {
  apiId: string;
  name: string;
  description?: string | null | undefined;
  security: PlanSecurityInput;
  policies?: PlanPolicyInput[] | null | undefined;
  selectionRule?: string | null | undefined;
  validation?: PlanValidation | null | undefined;
  /** @default after the API's last plan */
  position?: number | null | undefined;
}

/** Absent fields are left as they are. */
export type UpdatePlanInput = Partial<Omit<CreatePlanInput, 'apiId' | 'name' | 'security'>> & {
  name?: string | null | undefined;
  security?: PlanSecurityInput | null | undefined;
};

export interface PlanFilters {
  status?: readonly PlanStatus[] | null | undefined;
  security?: PlanSecurityType | null | undefined;
}

/** Statuses a consumer may read; staging plans are work in progress and closed ones are gone. */
/** Once published, a plan is a contract: these fields are frozen (seed 001: "Once a plan is locked, it cannot be revised"). */
export const lockedFields = ['security', 'policies', 'selectionRule', 'validation', 'position'] as const;

export type PlanRow = typeof plans.$inferSelect;

export function isLocked(plan: Pick<Plan, 'status'>): boolean {
  return plan.status !== 'STAGING';
}

/** For the subscriptions module: throws unless a new subscription may be made to this plan. */
export function assertPlanAcceptsSubscriptions(plan: Pick<Plan, 'status' | 'security'>): void {
  if (plan.security.type === 'KEYLESS') throw new InvalidTransitionError('Keyless plans need no subscription', plan.status);
  if (plan.status !== 'PUBLISHED') {
    throw new InvalidTransitionError(`A ${plan.status} plan takes no new subscriptions`, plan.status);
  }
}

export async function hydrate(db: Executor, rows: readonly PlanRow[]): Promise<Plan[]> {
  if (rows.length === 0) return [];
  const policyRows = await db
    .select()
    .from(planPolicies)
    .where(inArray(planPolicies.planId, rows.map((r) => r.id)))
    .orderBy(asc(planPolicies.planId), asc(planPolicies.position));
  const byPlan = new Map<string, PlanPolicy[]>();
  for (const p of policyRows) {
    const list = byPlan.get(p.planId) ?? [];
    // Secret params (basic-auth users' hashes) are write-only for everyone.
    list.push({ name: p.name, version: p.version, executionCondition: p.executionCondition, params: maskSecretParams(p.name, p.params) });
    byPlan.set(p.planId, list);
  }
  return rows.map((row) => ({
    id: row.id,
    apiId: row.apiId,
    lineageId: row.lineageId,
    version: row.version,
    name: row.name,
    description: row.description,
    security: toPlanSecurity(row.security, row.securityConfig),
    policies: byPlan.get(row.id) ?? [],
    selectionRule: row.selectionRule,
    validation: row.validation,
    status: row.status,
    position: row.position,
    publishedAt: row.publishedAt,
    deprecatedAt: row.deprecatedAt,
    closedAt: row.closedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }));
}

/** Policies with params as stored (`normalizePolicies`: passwords hashed before the transaction opens). */
export async function insertPolicies(scope: WriteScope, planId: string, policies: readonly PlanPolicyInput[]): Promise<void> {
  if (policies.length === 0) return;
  await scope.tx.insert(planPolicies).values(
    policies.map((p, position) => ({
      id: newId('policy'),
      planId,
      position,
      name: p.name,
      version: resolvePolicyVersion(p.name, p.version),
      executionCondition: p.executionCondition ?? null,
      params: p.params ?? null,
    })),
  );
}

/** The plan about to change, locked; only a manager of its API gets it (see access.ts). */
export async function lockPlan(scope: WriteScope, id: string): Promise<Plan> {
  const [row] = await scope.tx.select().from(plans).where(eq(plans.id, id)).for('update');
  if (!row) throw new NotFoundError('Plan', id);
  await requireApiManager(scope.tx, scope.actor, row.apiId);
  const [plan] = await hydrate(scope.tx, [row]);
  return plan!;
}

export async function reload(scope: WriteScope, id: string): Promise<Plan> {
  const [plan] = await hydrate(scope.tx, await scope.tx.select().from(plans).where(eq(plans.id, id)));
  return plan!;
}
