import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Executor, Transaction } from '../../db/client.ts';
import { apis, apiUpstreams, operations } from '../../db/schema/index.ts';
import { ConflictError } from '../errors.ts';
import { type ClaimantShape, claimKey, claimVhosts, resolveContext, routeClaims, routePath, routeShape } from '../route-claims.ts';

/**
 * Route claims (server/domain/route-claims.ts, shared with the translator): a deployed API serves
 * `method + resolved path + vhost`; two deployed APIs may not serve the same one, or the gateway could not tell
 * which should answer.
 */

export { resolveContext, routePath };

export interface RouteClaimant extends ClaimantShape {
  id: string | null;
}

/** `/a/b/c` -> `/`, `/a`, `/a/b`, `/a/b/c`: every context another API could have to reach this path. */
function contextPrefixes(path: string): string[] {
  const out = ['/'];
  let at = path.indexOf('/', 1);
  while (at !== -1) {
    out.push(path.slice(0, at));
    at = path.indexOf('/', at + 1);
  }
  out.push(path);
  return out;
}

/**
 * Serialises route claims across concurrent transactions (and control-plane replicas sharing one Postgres):
 * two deploys checked at the same time could otherwise both see the route free.
 */
export async function lockRouteClaims(tx: Transaction): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${7_305_001})`);
}

/** Throws ConflictError when another deployed API already serves one of the claimant's routes. */
export async function assertRoutesFree(db: Executor, claimant: RouteClaimant): Promise<void> {
  const claims = routeClaims(claimant);
  if (claims.length === 0) return;
  const mine = new Map(claims.map((c) => [c.key, c]));
  const prefixes = new Set<string>();
  for (const c of claims) for (const p of contextPrefixes(c.pathKey)) prefixes.add(p);
  const methods = [...new Set(claimant.operations.map((op) => op.method))] as (typeof operations.$inferSelect.method)[];
  const where = [
    eq(apis.deploymentState, 'deployed'),
    inArray(sql`replace(${apis.context}, ${'$version'}, ${apis.version})`, [...prefixes]),
    inArray(operations.method, methods),
  ];
  if (claimant.id) where.push(ne(apis.id, claimant.id));
  const rows = await db
    .select({
      handle: apis.handle,
      context: apis.context,
      version: apis.version,
      vhostMain: apis.vhostMain,
      vhostSandbox: apis.vhostSandbox,
      hasSandbox: sql<boolean>`exists (select 1 from ${apiUpstreams} where ${apiUpstreams.apiId} = ${apis.id} and ${apiUpstreams.environment} = 'sandbox')`,
      method: operations.method,
      path: operations.path,
    })
    .from(apis)
    .innerJoin(operations, eq(operations.apiId, apis.id))
    .where(and(...where));
  for (const row of rows) {
    const pathKey = routeShape(resolveContext(row.context, row.version), row.path);
    const { main, sandbox } = claimVhosts({ ...row, hasSandbox: Boolean(row.hasSandbox) });
    for (const vhost of sandbox === null ? [main] : [main, sandbox]) {
      const claim = mine.get(claimKey(vhost, row.method, pathKey));
      if (claim === undefined) continue;
      throw new ConflictError(`route ${claim.method} ${claim.path} on vhost '${vhost}' is already served by deployed API '${row.handle}'`);
    }
  }
}
