import { and, eq, exists, inArray, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apiKeys, apis, applications, requestStats, subscriptions } from '../../db/schema/index.ts';
import type { Actor } from '../context.ts';

/**
 * Who may read what, as SQL conditions over each table (undefined = no restriction) or checks of one loaded row.
 * Consumers read their own applications and what hangs on them, deployed public APIs, and the APIs (with their
 * PUBLISHED/DEPRECATED plans) their applications subscribe to; everyone else reads everything (keys masked).
 */

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

/** The ids of the applications the actor owns, as a subquery. */
function ownApplicationIds(db: Executor, actor: Actor) {
  return db.select({ id: applications.id }).from(applications).where(eq(applications.ownerId, actor.userId ?? ''));
}

/** Consumers list their own applications only. */
export function applicationsVisibleTo(actor: Actor): SQL | undefined {
  return actor.role === 'consumer' ? eq(applications.ownerId, actor.userId ?? '') : undefined;
}

/** Consumers see only their applications' subscriptions. */
export function subscriptionsVisibleTo(db: Executor, actor: Actor): SQL | undefined {
  if (actor.role !== 'consumer') return undefined;
  return inArray(subscriptions.applicationId, ownApplicationIds(db, actor));
}

/** The user a key belongs to: its application's owner, or for v0.9 keys its creator. */
const keyOwnerUserId = sql<string | null>`case
  when ${apiKeys.subscriptionId} is not null then (select a.owner_id from subscriptions s join applications a on a.id = s.application_id where s.id = ${apiKeys.subscriptionId})
  when ${apiKeys.applicationId} is not null then (select a.owner_id from applications a where a.id = ${apiKeys.applicationId})
  else ${apiKeys.createdById} end`;

/** Consumers see only their own keys; everyone else sees all (masked). */
export function apiKeysVisibleTo(actor: Actor): SQL | undefined {
  return actor.role === 'consumer' ? sql`(${keyOwnerUserId}) = ${actor.userId ?? ''}` : undefined;
}

/** Consumers see their own applications' traffic only. */
export function requestStatsVisibleTo(db: Executor, actor: Actor): SQL | undefined {
  if (actor.role !== 'consumer') return undefined;
  return inArray(requestStats.applicationId, ownApplicationIds(db, actor));
}

/** Plan statuses a consumer may read (of an API it may read); other roles read every status. */
export const consumerPlanStatuses = ['PUBLISHED', 'DEPRECATED'] as const;

export function canReadPlanStatus(actor: Actor, status: string): boolean {
  return actor.role !== 'consumer' || (consumerPlanStatuses as readonly string[]).includes(status);
}
