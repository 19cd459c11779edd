import { sql } from 'drizzle-orm';
import type { Database } from '../../server/db/client.ts';
import { apis, applications, plans, users } from '../../server/db/schema/index.ts';
import type { Actor } from '../../server/domain/context.ts';
import { loadDeploymentModel } from '../../server/domain/deployment.ts';
import { newId } from '../../server/domain/ids.ts';
import { testPlatformKeys } from './domain.ts';
import { rowCounts, rowsOf } from './row-counts.ts';

export { rowCounts, rowsOf };

// Actors and rows for the contract suites (subscriptions, API keys): inserted straight into the tables, so a
// suite about one aggregate does not depend on the rules of another.

export const admin: Actor = { userId: 'usr_admin', username: 'admin', role: 'admin' };
export const publisher: Actor = { userId: 'usr_pub', username: 'pub', role: 'publisher' };
export const alice: Actor = { userId: 'usr_alice', username: 'alice', role: 'consumer' };
export const bob: Actor = { userId: 'usr_bob', username: 'bob', role: 'consumer' };



/** Every text, varchar, array and jsonb column of every table that contains `needle`. */
export async function findEverywhere(db: Database, needle: string): Promise<string[]> {
  const columns = rowsOf(
    await db.execute(sql`select table_name, column_name from information_schema.columns where table_schema = 'public'
      and data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'USER-DEFINED')`),
  );
  const hits: string[] = [];
  for (const c of columns) {
    const [row] = rowsOf(
      await db.execute(sql`select count(*)::int as n from ${sql.identifier(String(c.table_name))} where ${sql.identifier(String(c.column_name))}::text like ${`%${needle}%`}`),
    );
    if (Number(row?.n) > 0) hits.push(`${String(c.table_name)}.${String(c.column_name)}`);
  }
  return hits;
}

let counter = 0;

/** A number no other fixture of this process has used: unique names without coordination. */
export function nextCounter(): number {
  return ++counter;
}

export async function seedUsers(db: Database): Promise<void> {
  for (const a of [admin, publisher, alice, bob]) {
    await db.insert(users).values({ id: a.userId!, username: a.username, passwordHash: 'x', role: a.role });
  }
}

/** An API owned by the fixtures' publisher unless `ownerId` says otherwise (publishers manage only what they own). */
export async function makeApi(
  db: Database,
  options: {
    visibility?: 'public' | 'private';
    subscriptionPlanNames?: string[];
    ownerId?: string | null;
    deploymentState?: 'deployed' | 'undeployed';
  } = {},
): Promise<string> {
  const n = ++counter;
  const id = newId('api');
  await db.insert(apis).values({
    id,
    handle: `api-${n}`,
    displayName: `Api ${n}`,
    version: 'v1',
    context: `/api-${n}`,
    visibility: options.visibility ?? 'public',
    subscriptionPlanNames: options.subscriptionPlanNames ?? [],
    ownerId: options.ownerId === undefined ? publisher.userId : options.ownerId,
    deploymentState: options.deploymentState ?? 'deployed',
  });
  return id;
}

export async function makePlan(
  db: Database,
  apiId: string,
  options: { security?: 'KEYLESS' | 'API_KEY' | 'JWT' | 'OAUTH2'; validation?: 'AUTO' | 'MANUAL'; status?: 'STAGING' | 'PUBLISHED' | 'DEPRECATED' | 'CLOSED' } = {},
): Promise<string> {
  const id = newId('plan');
  await db.insert(plans).values({
    id,
    apiId,
    lineageId: id,
    name: `plan-${++counter}`,
    security: options.security ?? 'API_KEY',
    validation: options.validation ?? 'AUTO',
    status: options.status ?? 'PUBLISHED',
  });
  return id;
}

export async function makeApp(db: Database, owner: Actor, options: { clientId?: string } = {}): Promise<string> {
  const id = newId('application');
  await db.insert(applications).values({ id, name: `app-${++counter}`, ownerId: owner.userId!, clientId: options.clientId ?? null });
  return id;
}

/** A key as the data plane admits traffic with it at `now`: only its live grants (v0.9 keys: their API). */
export interface LiveKey {
  keyId: string;
  digest: string;
  expiresAt: Date | null;
  owner: 'subscription' | 'application' | 'api';
  /** The APIs it opens now, sorted. */
  apiIds: string[];
  grants: { apiId: string; subscriptionId: string | null; planId: string | null }[];
  applicationId: string | null;
  /** Exclusive keys: their subscription and plan; null otherwise. */
  subscriptionId: string | null;
  planId: string | null;
}

/**
 * The keys of the deployment model (what the translator ships) that admit traffic at `now`; keys whose every
 * subscription is suspended are left out, as they answer 403 at the gateway.
 */
export async function liveKeys(db: Database, now: Date): Promise<LiveKey[]> {
  const model = await loadDeploymentModel(db, now, testPlatformKeys.box);
  return model.keys.flatMap((key) => {
    const grants = key.grants.filter((g) => g.live).map(({ apiId, subscriptionId, planId }) => ({ apiId, subscriptionId, planId }));
    if (grants.length === 0) return [];
    const exclusive = key.owner === 'subscription' ? grants[0]! : null;
    return [{
      keyId: key.id,
      digest: key.sha256,
      expiresAt: key.expiresAt === null ? null : new Date(key.expiresAt),
      owner: key.owner,
      apiIds: grants.map((g) => g.apiId).sort(),
      grants,
      applicationId: key.applicationId,
      subscriptionId: exclusive?.subscriptionId ?? null,
      planId: exclusive?.planId ?? null,
    }];
  });
}
