import type { ParamsResult } from '../kind.ts';
import { hostRewriteAction } from './host-rewrite.ts';
import type { RouteActionKind } from './kind.ts';
import { type PathRewriteSettings, requestRewriteAction } from './request-rewrite.ts';

export type { PathRewriteSettings };

/** What a route's route-action policies decide, folded (operation-level over API-level, later over earlier). */
export interface RouteActions {
  hostRewrite: string | null;
  pathRewrite: PathRewriteSettings | null;
}

/** The route-action kinds by canonical name, with the field of `RouteActions` each sets. */
const actions = {
  'host-rewrite': { kind: hostRewriteAction, field: 'hostRewrite' },
  'request-rewrite': { kind: requestRewriteAction, field: 'pathRewrite' },
} as const satisfies Record<string, { kind: RouteActionKind<unknown>; field: keyof RouteActions }>;

export type RouteActionName = keyof typeof actions;

/** Their definitions, for the catalogue (server/policies/index.ts). */
export const routeActionDefinitions = [hostRewriteAction.definition, requestRewriteAction.definition];

export function isRouteAction(canonicalName: string): canonicalName is RouteActionName {
  return Object.hasOwn(actions, canonicalName);
}

export const noRouteActions: RouteActions = { hostRewrite: null, pathRewrite: null };

/** One attachment's params applied over `into` (the later attachment wins), or its params' problems. */
export function applyRouteAction(name: RouteActionName, params: Record<string, unknown>, into: RouteActions): ParamsResult<RouteActions> {
  const { kind, field } = actions[name];
  const result = (kind as RouteActionKind<unknown>).fromParams(params);
  if (!result.ok) return result;
  return { ok: true, settings: { ...into, [field]: result.settings } };
}
