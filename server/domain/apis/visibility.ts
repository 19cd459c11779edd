import { eq, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { apis } from '../../db/schema/index.ts';
import { isApiVisible } from '../access/index.ts';
import type { DomainContext } from '../context.ts';
import { NotFoundError } from '../errors.ts';

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
