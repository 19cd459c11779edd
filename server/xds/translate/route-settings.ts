import { policyFilters } from '../../policies/index.ts';
import type { RouteFacts } from '../../policies/kind.ts';
import type { PolicyKind, RouteSettingsByKind } from '../ir.ts';

/**
 * A route's folded settings completed by the kinds that need the route itself (`forRoute`: redirect's matched
 * prefix). The same object when no kind of the route needs it, so routes keep sharing one chain's settings.
 */
export function settingsForRoute(settings: Partial<RouteSettingsByKind>, route: RouteFacts): Partial<RouteSettingsByKind> {
  let out: Partial<RouteSettingsByKind> | null = null;
  for (const kind of Object.keys(settings) as PolicyKind[]) {
    const forRoute = policyFilters[kind].forRoute as ((s: unknown, r: RouteFacts) => unknown) | undefined;
    if (forRoute === undefined) continue;
    out ??= { ...settings };
    Object.assign(out, { [kind]: forRoute(settings[kind], route) });
  }
  return out ?? settings;
}
