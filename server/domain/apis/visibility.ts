import { and, eq, exists, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apis, applications, subscriptions } from '../../db/schema/index.ts';
import type { Actor, DomainContext } from '../context.ts';
import { NotFoundError } from '../errors.ts';

/**
 * The one rule for which APIs an actor may read, as a condition over `apis` rows. Consumers see deployed
 * public APIs and the APIs their applications hold a (not closed) subscription to; everyone else sees all.
 * Plans, subscriptions and keys use it too, so an API and everything under it become visible together.
 */
export function apiVisibleTo(db: Executor, actor: Actor): SQL | undefined {
  if (actor.role !== 'consumer') return undefined;
  const subscribed = db
    .select({ one: sql`1` })
    .from(subscriptions)
    .innerJoin(applications, eq(applications.id, subscriptions.applicationId))
    .where(and(eq(subscriptions.apiId, apis.id), eq(applications.ownerId, actor.userId ?? ''), ne(subscriptions.status, 'CLOSED')));
  return or(and(eq(apis.visibility, 'public'), eq(apis.deploymentState, 'deployed')), exists(subscribed));
}

/** The same rule for one API already loaded; no query unless the actor is a consumer and the API is not public. */
export async function isApiVisible(
  actor: Actor,
  db: Executor,
  api: { id: string; visibility: 'public' | 'private'; deploymentState: 'deployed' | 'undeployed' },
): Promise<boolean> {
  if (actor.role !== 'consumer') return true;
  if (api.visibility === 'public' && api.deploymentState === 'deployed') return true;
  const [row] = await db.select({ id: apis.id }).from(apis).where(and(eq(apis.id, api.id), apiVisibleTo(db, actor))).limit(1);
  return row !== undefined;
}

/** An API's reference columns: what subscriptions and keys need of the API they hang on. */
export interface ApiRefRow {
  id: string;
  handle: string;
  visibility: 'public' | 'private';
  deploymentState: 'deployed' | 'undeployed';
  subscriptionPlanNames: string[];
}

/** An API by id or handle, or NotFound (also when a consumer may not see it). */
export async function findVisibleApi(ctx: DomainContext, db: Executor, ref: string): Promise<ApiRefRow> {
  const [row] = await db
    .select({
      id: apis.id,
      handle: apis.handle,
      visibility: apis.visibility,
      deploymentState: apis.deploymentState,
      subscriptionPlanNames: apis.subscriptionPlanNames,
    })
    .from(apis)
    .where(or(eq(apis.id, ref), eq(apis.handle, ref)))
    .orderBy(sql`${apis.id} = ${ref} desc`)
    .limit(1);
  if (!row || !(await isApiVisible(ctx.actor, db, row))) throw new NotFoundError('RestAPI', ref, `RestAPI with handle '${ref}' not found`);
  return row;
}
