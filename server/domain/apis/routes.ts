import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Executor, Transaction } from '../../db/client.ts';
import { apis, operations } from '../../db/schema/index.ts';
import { routeTemplate } from './validation.ts';
import { ConflictError } from '../errors.ts';

/**
 * Route claims: a deployed API serves `method + resolved path + vhost`; two deployed APIs may not serve the same
 * one, or the gateway could not tell which should answer. Path parameters are compared by position only
 * (`/books/{id}` = `/books/{bookId}`), as the router sees them.
 */

/** Any API with no vhost is served on the default virtual host. */
const defaultVhost = '*';

/** `context` with `$version` substituted, as routed. */
export function resolveContext(context: string, version: string): string {
  return context.replaceAll('$version', version);
}

/** context + operation path, the path a route matches. */
export function routePath(resolvedContext: string, operationPath: string): string {
  return resolvedContext === '/' ? operationPath : `${resolvedContext}${operationPath}`;
}

export interface RouteClaimant {
  id: string | null;
  context: string;
  version: string;
  vhostMain: string | null;
  vhostSandbox: string | null;
  operations: readonly { method: string; path: string }[];
}

function vhostsOf(api: Pick<RouteClaimant, 'vhostMain' | 'vhostSandbox'>): string[] {
  const hosts = [(api.vhostMain ?? defaultVhost).toLowerCase()];
  if (api.vhostSandbox) hosts.push(api.vhostSandbox.toLowerCase());
  return hosts;
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
  const resolved = resolveContext(claimant.context, claimant.version);
  const mine = new Map<string, string>();
  const prefixes = new Set<string>();
  for (const op of claimant.operations) {
    const full = routePath(resolved, routeTemplate(op.path));
    mine.set(`${op.method} ${full}`, `${op.method} ${routePath(resolved, op.path)}`);
    for (const p of contextPrefixes(full)) prefixes.add(p);
  }
  if (mine.size === 0) return;
  const myHosts = new Set(vhostsOf(claimant));
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
      method: operations.method,
      path: operations.path,
    })
    .from(apis)
    .innerJoin(operations, eq(operations.apiId, apis.id))
    .where(and(...where));
  for (const row of rows) {
    const key = `${row.method} ${routePath(resolveContext(row.context, row.version), routeTemplate(row.path))}`;
    const route = mine.get(key);
    if (route === undefined) continue;
    const shared = vhostsOf(row).find((h) => myHosts.has(h));
    if (shared === undefined) continue;
    throw new ConflictError(`route ${route} on vhost '${shared}' is already served by deployed API '${row.handle}'`);
  }
}
