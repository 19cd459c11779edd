import { canonicalPolicyName, policyFilters, policyKindOf } from '../../policies/index.ts';
import { isRouteAction, type RouteActionName } from '../../policies/route-actions/index.ts';
import { compiledCondition } from '../../policies/condition.ts';
import type { RouteCondition } from '../../policies/condition.ts';
import type { AttachmentContext } from '../../policies/kind.ts';
import type { IrPolicy, PolicyKind, PolicySource, RouteSettingsByKind } from '../ir.ts';
import type { Problem } from '../../domain/errors.ts';
import type { ModelPolicy } from '../../domain/deployment-model.ts';

/** The one major version route actions implement (modules say theirs: `definition.majorVersion`, default v1). */
const routeActionVersion = 'v1';

function resolveOne<K extends PolicyKind>(kind: K, source: PolicySource, name: string, params: Record<string, unknown>, ctx: AttachmentContext, at: string, problems: Problem[]): IrPolicy | null {
  const result = policyFilters[kind].fromParams(params, ctx, { source, name: canonicalPolicyName(name) ?? name });
  if (!result.ok) {
    for (const issue of result.issues) problems.push({ severity: 'error', api: ctx.api, path: `${at}.${issue.path}`, message: issue.message });
    return null;
  }
  return { kind, source, settings: result.settings } as IrPolicy;
}

/** A route-action attachment (host-rewrite, request-rewrite), folded into the route by api-routes.ts. */
export interface RouteActionAttachment {
  name: RouteActionName;
  params: Record<string, unknown>;
  /** Where it sits (`spec.operations[0].policies[1]`). */
  at: string;
}

/** The compiled condition of an attachment (null: none), or false after recording why it cannot be served. */
function conditionOf(policy: ModelPolicy, source: PolicySource, modules: Readonly<Record<string, { sha256: string }>>, at: string, error: (path: string, message: string) => void): unknown[] | null | false {
  if (policy.executionCondition === null || policy.executionCondition === '') return null;
  const path = `${at}.executionCondition`;
  if (source === 'plan') return error(path, 'execution conditions are not supported on plan policies'), false;
  if (!modules.condition) return error(path, "module 'condition' is not served by the control plane"), false;
  const compiled = compiledCondition(policy.executionCondition);
  if (!compiled.ok) return error(path, `invalid execution condition: ${compiled.message}`), false;
  return compiled.condition;
}

/**
 * Attachments (`spec.policies`, an operation's, a plan's) as IR policies, in order. Anything the data plane
 * could not enforce exactly is an error, so the API is left out rather than served with a policy missing:
 * a policy with no module, a module the control plane does not serve, an execution condition that cannot be
 * evaluated there (on a plan policy, invalid, the condition module not served), bad params.
 * The domain refuses all of these at write time (server/domain/policy-registry.ts), so apart from a module not
 * served and context the API lacks (docs/xds.md) this is a guard that should never fire.
 */
export function resolveAttachments(
  policies: readonly ModelPolicy[],
  source: PolicySource,
  ctx: AttachmentContext,
  modules: Readonly<Record<string, { sha256: string }>>,
  pathPrefix: string,
  problems: Problem[],
  /** Kinds this source may attach (plan policies: throttle, set-headers, basic-auth); default: any attachable kind. */
  allowed?: ReadonlySet<PolicyKind>,
  /** Where route-action attachments go (API and operation policies); absent: they are refused here. */
  routeActions?: RouteActionAttachment[],
): IrPolicy[] {
  const out: IrPolicy[] = [];
  policies.forEach((policy, i) => {
    const at = `${pathPrefix}[${i}]`;
    const error = (path: string, message: string) => problems.push({ severity: 'error', api: ctx.api, path, message });
    const canonical = canonicalPolicyName(policy.name);
    if (canonical !== undefined && isRouteAction(canonical)) {
      if (!routeActions) return error(`${at}.name`, `policy '${policy.name}' is a route action and cannot be a ${source} policy`);
      if (policy.version !== routeActionVersion) return error(`${at}.version`, `policy '${policy.name}' has no version ${policy.version}`);
      if (policy.executionCondition !== null && policy.executionCondition !== '') {
        return error(`${at}.executionCondition`, `policy '${policy.name}' is a route action, decided from its params alone: it takes no execution condition`);
      }
      routeActions.push({ name: canonical, params: policy.params ?? {}, at });
      return;
    }
    const kind = policyKindOf(policy.name);
    if (!kind) return error(`${at}.name`, `policy '${policy.name}' has no module in this build`);
    // A kind without params (plan) is configured only from the API's plans (docs/plan-selection.md).
    if (policyFilters[kind].definition === null) return error(`${at}.name`, `policy '${policy.name}' is set from the API's plans and cannot be attached`);
    if (allowed && !allowed.has(kind)) return error(at, `a ${kind} policy cannot be a ${source} policy (allowed: ${[...allowed].join(', ')})`);
    if (!modules[kind]) return error(`${at}.name`, `module '${kind}' is not served by the control plane`);
    if (policy.version !== (policyFilters[kind].definition!.majorVersion ?? 'v1')) return error(`${at}.version`, `policy '${policy.name}' has no version ${policy.version}`);
    const condition = conditionOf(policy, source, modules, at, error);
    if (condition === false) return;
    const resolved = resolveOne(kind, source, policy.name, policy.params ?? {}, ctx, at, problems);
    if (resolved) out.push(condition === null ? resolved : { ...resolved, condition });
  });
  return out;
}

function mergeKind<K extends PolicyKind>(kind: K, earlier: RouteSettingsByKind[K], later: RouteSettingsByKind[K]): RouteSettingsByKind[K] | string {
  return policyFilters[kind].merge(earlier, later);
}

/**
 * A route's chain folded to one settings object per module (both API- and operation-level apply), or the conflict.
 * A conditional policy is its module's only entry on the route (one entry, one condition: the domain refuses the
 * rest at write time, and a plan-implied policy of its kind is refused here); the route's conditions become the
 * condition module's entry, in chain order (docs/execution-conditions.md).
 */
export function mergeChain(chain: readonly IrPolicy[]): Map<PolicyKind, IrPolicy['settings']> | string {
  const merged = new Map<PolicyKind, IrPolicy['settings']>();
  const conditional = new Set<PolicyKind>();
  const conditions: RouteCondition[] = [];
  for (const policy of chain) {
    const before = merged.get(policy.kind);
    if (policy.condition !== undefined) {
      if (before !== undefined) return `a ${policy.kind} policy with an execution condition cannot share its route with another ${policy.kind} policy`;
      conditional.add(policy.kind);
      conditions.push({ kind: policy.kind, condition: policy.condition });
    }
    if (before === undefined) {
      merged.set(policy.kind, policy.settings);
      continue;
    }
    if (conditional.has(policy.kind)) return `a ${policy.kind} policy with an execution condition cannot share its route with another ${policy.kind} policy`;
    const combined = mergeKind(policy.kind, before as never, policy.settings as never);
    if (typeof combined === 'string') return combined;
    merged.set(policy.kind, combined);
  }
  if (conditions.length > 0) merged.set('condition', { conditions });
  return merged;
}
