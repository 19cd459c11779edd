import { httpFilterOrder } from '../../policies/index.ts';
import type { IrSnapshot, PolicyKind } from '../ir.ts';

type IrRoute = IrSnapshot['routes'][number];

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One route per name, sorted by name: a name recurs on the sandbox vhost with the same chain, and the first
 * (in IR order, which the stable sort keeps) serves both.
 */
export function routesByName(routes: readonly IrRoute[]): IrRoute[] {
  const sorted = [...routes].sort((a, b) => compare(a.name, b.name));
  const out: IrRoute[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i - 1]!.name !== sorted[i]!.name) out.push(sorted[i]!);
  return out;
}

export interface RouteModules {
  /** routesByName of the snapshot. */
  readonly routes: readonly IrRoute[];
  /** The modules each route (by name) runs. */
  readonly modules: ReadonlyMap<string, readonly PolicyKind[]>;
}

const computed = new WeakMap<IrSnapshot, RouteModules>();

/**
 * The modules that run on each route (by route name), in httpFilterOrder: the kinds the route has settings for
 * that the snapshot has a module of. The one owner of that rule: the listener gives these routes to each module's
 * configuration and has the first one strip identity headers there (envoy-listener.ts), and the route
 * configuration enables exactly these filters on the route (envoy-routes.ts); the three must agree, or a route
 * could run a module that does not know it, or run none that strips. Lists are shared between routes with the same
 * modules (tens of thousands of routes, a handful of combinations); memoised per snapshot, both callers ask.
 */
export function modulesByRoute(ir: IrSnapshot): RouteModules {
  const known = computed.get(ir);
  if (known !== undefined) return known;
  const shared = new Map<string, PolicyKind[]>();
  const byRoute = new Map<string, readonly PolicyKind[]>();
  const routes = routesByName(ir.routes);
  for (const route of routes) {
    const settings = route.settings as Partial<Record<PolicyKind, unknown>>;
    const kinds = httpFilterOrder.filter((kind) => settings[kind] !== undefined && ir.modules[kind] !== undefined);
    const key = kinds.join(',');
    let list = shared.get(key);
    if (list === undefined) shared.set(key, (list = kinds));
    byRoute.set(route.name, list);
  }
  const result = { routes, modules: byRoute };
  computed.set(ir, result);
  return result;
}
