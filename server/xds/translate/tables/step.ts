import type { DeployedApi, DeployedPlan, DeployedSubscription } from '../../../domain/deployment-model.ts';
import type { AttachmentContext } from '../../../policies/kind.ts';
import type { IrClientIdentity, IrCluster, IrPolicy, IrTables, PolicyKind } from '../../ir.ts';
import type { ModelIndex } from '../model-index.ts';

/** The authentication modules that plans imply (docs/plan-selection.md), by plan security type. */
export type AuthKind = 'api-key' | 'jwt' | 'oauth2';

/** One API as every kind's tables step reads it. */
export interface ApiTablesInput {
  api: DeployedApi;
  index: ModelIndex;
  /** The API's serving plans that take part in plan selection, in plan order. */
  plans: readonly DeployedPlan[];
  subscriptions: readonly DeployedSubscription[];
  /** The API (or one of its operations) attaches a policy of `kind`, by its name or an alias. */
  attaches(kind: PolicyKind): boolean;
  /** Every attachment of the API and its operations. */
  attached: DeployedApi['policies'];
  ofType(type: DeployedPlan['security']['type']): DeployedPlan[];
  /** Plan selection fields of an authentication kind's route entries (its plans, and `optional`). */
  selection: Partial<Record<AuthKind, { plans: string[]; optional: boolean }>>;
  /** The API offers more than one security type. */
  optional: boolean;
  planPath(plan: DeployedPlan): string;
  /** `kind`'s module is served by the control plane; if not, an error at `at`. */
  served(kind: PolicyKind, at: string): boolean;
  error(path: string, message: string): void;
  warn(path: string, message: string): void;
}

/** What the steps build together: the tables, what attachments may refer to, clusters the modules call out to. */
export interface ApiTablesDraft {
  tables: IrTables;
  ctx: Omit<AttachmentContext, 'api' | 'jwtUrlKeySet' | 'hasAuthorizationServer'>;
  clusters: IrCluster[];
}

/**
 * A kind's share of the tables build (the translator's `patchResources`, per kind): `tables` fills the module's
 * shared tables from the deployment model; `implied`, for an authentication kind, gives the policy the API's plans
 * imply on every route (run after the plans' own policies are resolved), or null.
 */
export interface TablesStep {
  readonly kind: PolicyKind;
  tables(input: ApiTablesInput, draft: ApiTablesDraft): void;
  implied?(input: ApiTablesInput, draft: ApiTablesDraft): IrPolicy | null;
}

export const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A jwt/oauth2 client table: client id -> its subscriptions to `plans` (one type's plans, in plan order), one
 * entry per plan: a live subscription, else the latest one, `active: false` (403 Subscription is not active).
 */
export function clientTable(plans: readonly DeployedPlan[], subscriptions: readonly DeployedSubscription[]): Record<string, IrClientIdentity[]> {
  const order = new Map(plans.map((p, i) => [p.id, i]));
  const byClient = new Map<string, Map<string, DeployedSubscription>>();
  for (const sub of subscriptions) {
    if (sub.clientId === null || sub.planId === null || !order.has(sub.planId)) continue;
    let perPlan = byClient.get(sub.clientId);
    if (!perPlan) byClient.set(sub.clientId, (perPlan = new Map()));
    const kept = perPlan.get(sub.planId);
    // Subscriptions come sorted by id (time-sortable): a later one replaces an earlier one unless only that one is live.
    if (kept === undefined || sub.isLive || !kept.isLive) perPlan.set(sub.planId, sub);
  }
  const table: Record<string, IrClientIdentity[]> = {};
  for (const clientId of [...byClient.keys()].sort()) {
    table[clientId] = [...byClient.get(clientId)!.values()]
      .sort((a, b) => order.get(a.planId!)! - order.get(b.planId!)!)
      .map((sub) => ({ applicationId: sub.applicationId, subscriptionId: sub.id, plan: sub.planId, active: sub.isLive }));
  }
  return table;
}
