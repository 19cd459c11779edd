import { basicAuthPassThrough } from '../../policies/basic-auth.ts';
import { httpFilterOrder } from '../../policies/index.ts';
import { planChallenges } from '../../policies/plan.ts';
import type { IrCluster, IrPolicy, IrRoute, PolicyKind, RouteSettingsByKind } from '../ir.ts';
import type { Problem } from '../../domain/errors.ts';
import type { DeployedApi } from '../../domain/deployment-model.ts';
import { claimVhosts, routePath } from '../../domain/route-claims.ts';
import { routeName, type UpstreamEnvironment } from '../names.ts';
import type { ApiTables } from './api-tables.ts';
import type { AuthKind } from './tables/step.ts';
import { applyRouteAction, noRouteActions, type RouteActions } from '../../policies/route-actions/index.ts';
import { mergeChain, resolveAttachments, type RouteActionAttachment } from './attachments.ts';
import { pathMatch, pathRewrite, policyPathGuard, policyPathRewrite, resolveContext } from './paths.ts';
import { preflightRoutes } from './preflight-routes.ts';
import { settingsForRoute } from './route-settings.ts';
import { resolveUpstream } from './upstreams.ts';
import { routeRetry } from './upstream-resilience.ts';


export interface ApiRoutes {
  routes: IrRoute[];
  clusters: IrCluster[];
}

/**
 * What every route of a CLOSED API answers (a PLANS API with no serving plan, docs/plan-selection.md): the body
 * shape of the policy modules' local replies (policies/lib/reply.ts `sendJsonError`), so clients parse one shape.
 */
export const closedApiReply: Extract<IrRoute['destination'], { kind: 'reply' }> = {
  kind: 'reply',
  status: 403,
  body: JSON.stringify({ status: 'error', message: 'No published plan admits traffic to this API.' }),
};

/**
 * An API's routes (one per operation and environment) with their resolved chains, and the clusters they use.
 * A `closed` API is translated (and checked) all the same, then every route answers `closedApiReply` instead:
 * no policy, no cluster, so no request can reach its upstream.
 */
export function buildApiRoutes(api: DeployedApi, apiTables: ApiTables, modules: Readonly<Record<string, { sha256: string }>>, problems: Problem[], closed = false): ApiRoutes {
  const error = (path: string, message: string) => problems.push({ severity: 'error', api: api.handle, path, message });
  const resolved = resolveContext(api.context, api.version);
  const apiActions: RouteActionAttachment[] = [];
  const apiPolicies = resolveAttachments(api.policies, 'api', apiTables.ctx, modules, 'spec.policies', problems, undefined, apiActions);

  // The vhosts the API claims (server/domain/route-claims.ts: `*` and `sandbox-*` when spec.vhosts names none).
  const vhosts = claimVhosts({ vhostMain: api.vhosts?.main ?? null, vhostSandbox: api.vhosts?.sandbox ?? null, hasSandbox: api.upstream.sandbox !== null });
  const environments: { environment: UpstreamEnvironment; domain: string; upstream: NonNullable<DeployedApi['upstream']['sandbox']> }[] = [
    { environment: 'main', domain: vhosts.main, upstream: api.upstream.main },
  ];
  if (api.upstream.sandbox && vhosts.sandbox !== null) {
    environments.push({ environment: 'sandbox', domain: vhosts.sandbox, upstream: api.upstream.sandbox });
  }
  if (environments.length === 2 && environments[0]!.domain === environments[1]!.domain) {
    error('spec.vhosts.sandbox', `the sandbox upstream needs a virtual host other than '${environments[0]!.domain}'`);
  }

  const clusters = new Map<string, IrCluster>(apiTables.clusters.map((c) => [c.name, c]));
  const targets = environments.map((env) => {
    const target = resolveUpstream(api, env.environment, env.upstream, `spec.upstream.${env.environment}`);
    if ('error' in target) {
      error(target.path, target.error);
      return null;
    }
    for (const w of target.warnings) problems.push({ severity: 'warning', api: api.handle, path: w.path, message: w.message });
    for (const c of target.clusters) clusters.set(c.name, c);
    return { ...env, target, autoHostRewrite: env.upstream.hostRewrite !== 'manual' };
  });

  /** A route's chain and its folded settings, or the conflict that stops folding it. */
  const chainOf = (opPolicies: readonly IrPolicy[]): { chain: IrPolicy[]; settings: Partial<RouteSettingsByKind>; conflict: string | null } => {
    const attachedKinds = new Set([...apiPolicies, ...opPolicies].map((p) => p.kind));
    const chain: IrPolicy[] = [];
    // Plan-implied authentication runs first, unless the API attaches that policy itself (its params then win
    // and the plan's keys are still accepted, see AttachmentContext).
    for (const auth of apiTables.impliedAuth) if (!attachedKinds.has(auth.kind)) chain.push(auth);
    chain.push(...apiPolicies, ...opPolicies);
    if (apiTables.hasPlanQuota) chain.push({ kind: 'throttle', source: 'plan', settings: { stages: [], planQuota: true, stopOnQuotaReach: true } });
    const merged = mergeChain(chain);
    const settings: Partial<RouteSettingsByKind> = {};
    if (typeof merged === 'string') return { chain, settings, conflict: merged };
    selectPlans(merged, apiTables);
    if (apiTables.planIds.length > 0) {
      const plan = { kind: 'plan', source: 'plan', settings: { plans: apiTables.planIds, challenges: challenges(merged, apiTables) } } as const;
      // After the authentication the plans imply, before the API's and the operation's own policies.
      const at = chain.findIndex((p) => !apiTables.impliedAuth.includes(p));
      chain.splice(at === -1 ? chain.length : at, 0, plan);
      merged.set('plan', plan.settings);
    }
    for (const kind of httpFilterOrder) if (merged.has(kind)) Object.assign(settings, { [kind]: merged.get(kind) });
    return { chain, settings, conflict: null };
  };
  // Operations without policies of their own share one chain (most of a catalogue: translation time and memory).
  let shared: ReturnType<typeof chainOf> | null = null;

  // API-level route actions, folded once; an operation's own fold over them (operation-level wins).
  const apiRouteActions = foldRouteActions(apiActions, noRouteActions, error);
  const routes: IrRoute[] = [];
  const retry = routeRetry(api);
  const ignoredHostRewrite = new Set<UpstreamEnvironment>();
  api.operations.forEach((op, i) => {
    const opActions: RouteActionAttachment[] = [];
    const own = op.policies.length === 0 ? null : resolveAttachments(op.policies, 'operation', apiTables.ctx, modules, `spec.operations[${i}].policies`, problems, undefined, opActions);
    const { chain, settings, conflict } = own === null ? (shared ??= chainOf([])) : chainOf(own);
    if (conflict !== null) error(`spec.operations[${i}].policies`, conflict);
    const actions = opActions.length === 0 ? apiRouteActions : foldRouteActions(opActions, apiRouteActions, error);
    const name = routeName(api.handle, op.method, op.path);
    const match = pathMatch(resolved, op.path);
    const routeSettings = settingsForRoute(settings, { fullPath: routePath(resolved, op.path) });
    for (const env of targets) {
      if (env === null) continue;
      if (actions.hostRewrite !== null && env.autoHostRewrite && !ignoredHostRewrite.has(env.environment)) {
        ignoredHostRewrite.add(env.environment);
        problems.push({ severity: 'warning', api: api.handle, path: `spec.upstream.${env.environment}.hostRewrite`, message: "a host-rewrite policy has no effect while hostRewrite is auto (the upstream's host is sent); set hostRewrite: manual" });
      }
      const route: IrRoute = {
        name,
        api: api.handle,
        method: op.method,
        template: op.path,
        domain: env.domain,
        match,
        rewrite: pathRewrite(resolved, op.path, env.target.basePath),
        destination: env.target.destination,
        autoHostRewrite: env.autoHostRewrite,
        // As the reference: a host-rewrite policy sets the Host only where hostRewrite is manual.
        hostRewrite: env.autoHostRewrite ? null : actions.hostRewrite,
        policies: chain,
        settings: routeSettings,
        plans: apiTables.planIds,
        allowMethodOverride: op.allowMethodOverride === true,
        ...(retry === undefined ? {} : { retry }),
      };
      if (actions.pathRewrite !== null) {
        const rewritten = { ...route, rewrite: policyPathRewrite(actions.pathRewrite, resolved, op.path, env.target.basePath) };
        const guard = policyPathGuard(actions.pathRewrite, resolved);
        // A guarded rewrite (ReplaceRegexMatch) goes first; paths its pattern does not match take the plain route.
        if (guard === null) routes.push(rewritten);
        else routes.push({ ...rewritten, match: { ...match, guard } }, route);
      } else routes.push(route);
    }
  });
  routes.push(...preflightRoutes(api, routes));
  if (closed) {
    const reply = ({ retry: _none, ...route }: IrRoute): IrRoute => ({ ...route, rewrite: null, destination: closedApiReply, autoHostRewrite: false, hostRewrite: null, policies: [], settings: {}, plans: [] });
    // A guarded route's operation answers the same without its guard.
    return { routes: routes.filter((route) => route.match.guard === undefined).map(reply), clusters: [] };
  }
  return { routes, clusters: [...clusters.values()] };
}

/** Route-action attachments (host-rewrite, request-rewrite) folded over `actions`: the later attachment wins. */
function foldRouteActions(attachments: readonly RouteActionAttachment[], actions: RouteActions, error: (path: string, message: string) => void): RouteActions {
  for (const attachment of attachments) {
    const result = applyRouteAction(attachment.name, attachment.params, actions);
    if (result.ok) actions = result.settings;
    else for (const issue of result.issues) error(`${attachment.at}.${issue.path}`, issue.message);
  }
  return actions;
}

type Folded = Map<PolicyKind, IrPolicy['settings']>;

/**
 * Plan selection on a route's folded chain (docs/plan-selection.md): each authentication module the plans use
 * gets that type's plans and `optional`, whether its entry comes from the plans or from an attachment; a module
 * with plan policies gets an entry (empty when nothing else applies) so that its `planPolicies` run on the route.
 */
function selectPlans(merged: Folded, apiTables: ApiTables): void {
  for (const [kind, fields] of Object.entries(apiTables.selection) as [AuthKind, { plans: string[]; optional: boolean }][]) {
    const settings = merged.get(kind);
    if (settings !== undefined) merged.set(kind, { ...settings, plans: fields.plans, optional: fields.optional } as IrPolicy['settings']);
  }
  for (const kind of apiTables.planPolicyKinds) if (!merged.has(kind)) merged.set(kind, emptyEntry(kind));
}

/** A route entry that adds nothing of its own: only the plan's `planPolicies` apply. */
function emptyEntry(kind: PolicyKind): IrPolicy['settings'] {
  if (kind === 'set-headers') return { request: null, response: null };
  if (kind === 'basic-auth') return basicAuthPassThrough();
  throw new Error(`no empty route entry for ${kind}`);
}

/**
 * `WWW-Authenticate` challenges of the plan module's 401, one per security type offered, in the order of the
 * API's plans: `Bearer` for JWT and OAuth2 (once), `ApiKey header="<name>"` / `ApiKey query="<name>"` where the
 * route's api-key entry reads the key.
 */
function challenges(merged: Folded, apiTables: ApiTables): string[] {
  const apiKey = merged.get('api-key') as RouteSettingsByKind['api-key'] | undefined;
  return planChallenges(apiTables.securityTypes, apiKey ?? null);
}
