import { httpFilterOrder } from '../filters/registry.ts';
import type { IrCluster, IrPolicy, IrRoute, Problem, RouteSettingsByKind } from '../ir.ts';
import type { DeployedApi } from '../../domain/deployment-model.ts';
import { routeName, type UpstreamEnvironment } from '../names.ts';
import type { ApiTables } from './api-tables.ts';
import { mergeChain, resolveAttachments } from './attachments.ts';
import { fullPath, pathMatch, pathRewrite, resolveContext } from './paths.ts';
import { resolveUpstream } from './upstreams.ts';

/** The default virtual host, and the one a sandbox upstream gets when spec.vhosts names none (issue 5). */
const defaultDomain = '*';
const defaultSandboxDomain = 'sandbox-*';

export interface ApiRoutes {
  routes: IrRoute[];
  clusters: IrCluster[];
}

/** An API's routes (one per operation and environment) with their resolved chains, and the clusters they use. */
export function buildApiRoutes(api: DeployedApi, apiTables: ApiTables, modules: Readonly<Record<string, { sha256: string }>>, problems: Problem[]): ApiRoutes {
  const error = (path: string, message: string) => problems.push({ severity: 'error', api: api.handle, path, message });
  const resolved = resolveContext(api.context, api.version);
  const apiPolicies = resolveAttachments(api.policies, 'api', apiTables.ctx, modules, 'spec.policies', problems);

  const environments: { environment: UpstreamEnvironment; domain: string; upstream: NonNullable<DeployedApi['upstream']['sandbox']> }[] = [
    { environment: 'main', domain: (api.vhosts?.main ?? defaultDomain).toLowerCase(), upstream: api.upstream.main },
  ];
  if (api.upstream.sandbox) {
    environments.push({ environment: 'sandbox', domain: (api.vhosts?.sandbox ?? defaultSandboxDomain).toLowerCase(), upstream: api.upstream.sandbox });
  }
  if (environments.length === 2 && environments[0]!.domain === environments[1]!.domain) {
    error('spec.vhosts.sandbox', `the sandbox upstream needs a virtual host other than '${environments[0]!.domain}'`);
  }

  const clusters = new Map<string, IrCluster>();
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

  const routes: IrRoute[] = [];
  api.operations.forEach((op, i) => {
    const opPolicies = resolveAttachments(op.policies, 'operation', apiTables.ctx, modules, `spec.operations[${i}].policies`, problems);
    const attachedKinds = new Set([...apiPolicies, ...opPolicies].map((p) => p.kind));
    const chain: IrPolicy[] = [];
    // Plan-implied authentication runs first, unless the API attaches that policy itself (its params then win
    // and the plan's keys are still accepted, see AttachmentContext).
    if (apiTables.impliedAuth && !attachedKinds.has(apiTables.impliedAuth.kind)) chain.push(apiTables.impliedAuth);
    chain.push(...apiPolicies, ...opPolicies);
    if (apiTables.hasPlanQuota) chain.push({ kind: 'throttle', source: 'plan', settings: { limits: [], planQuota: true, stopOnQuotaReach: true } });
    const merged = mergeChain(chain);
    if (typeof merged === 'string') error(`spec.operations[${i}].policies`, merged);
    const settings: Partial<RouteSettingsByKind> = {};
    if (typeof merged !== 'string') for (const kind of httpFilterOrder) if (merged.has(kind)) Object.assign(settings, { [kind]: merged.get(kind) });
    const name = routeName(api.handle, op.method, op.path);
    const path = fullPath(resolved, op.path);
    const match = pathMatch(path);
    for (const env of targets) {
      if (env === null) continue;
      routes.push({
        name,
        api: api.handle,
        method: op.method,
        template: op.path,
        domain: env.domain,
        match,
        rewrite: pathRewrite(match, resolved, op.path, env.target.basePath),
        destination: env.target.destination,
        autoHostRewrite: env.autoHostRewrite,
        policies: chain,
        settings,
        plans: apiTables.planIds,
      });
    }
  });
  return { routes, clusters: [...clusters.values()] };
}
