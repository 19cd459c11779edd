import { policyFilters, policyKindOf } from '../../policies/index.ts';
import type { AttachmentContext } from '../../policies/kind.ts';
import type { IrPolicy, PolicyKind, PolicySource, RouteSettingsByKind } from '../ir.ts';
import type { Problem } from '../../domain/errors.ts';
import type { ModelPolicy } from '../../domain/deployment-model.ts';


function resolveOne<K extends PolicyKind>(kind: K, source: PolicySource, params: Record<string, unknown>, ctx: AttachmentContext, at: string, problems: Problem[]): IrPolicy | null {
  const result = policyFilters[kind].fromParams(params, ctx);
  if (!result.ok) {
    for (const issue of result.issues) problems.push({ severity: 'error', api: ctx.api, path: `${at}.${issue.path}`, message: issue.message });
    return null;
  }
  return { kind, source, settings: result.settings } as IrPolicy;
}

/**
 * Attachments (`spec.policies`, an operation's, a plan's) as IR policies, in order. Anything the data plane
 * could not enforce exactly is an error, so the API is left out rather than served with a policy missing:
 * a policy with no module, a module the control plane does not serve, an execution condition, bad params.
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
): IrPolicy[] {
  const out: IrPolicy[] = [];
  policies.forEach((policy, i) => {
    const at = `${pathPrefix}[${i}]`;
    const error = (path: string, message: string) => problems.push({ severity: 'error', api: ctx.api, path, message });
    const kind = policyKindOf(policy.name);
    if (!kind) return error(`${at}.name`, `policy '${policy.name}' has no module in this build`);
    // A kind without params (plan) is configured only from the API's plans (docs/plan-selection.md).
    if (policyFilters[kind].definition === null) return error(`${at}.name`, `policy '${policy.name}' is set from the API's plans and cannot be attached`);
    if (allowed && !allowed.has(kind)) return error(at, `a ${kind} policy cannot be a ${source} policy (allowed: ${[...allowed].join(', ')})`);
    if (!modules[kind]) return error(`${at}.name`, `module '${kind}' is not served by the control plane`);
    if (policy.version !== (policyFilters[kind].definition!.majorVersion ?? 'v1')) return error(`${at}.version`, `policy '${policy.name}' has no version ${policy.version}`);
    if (policy.executionCondition !== null && policy.executionCondition !== '') {
      return error(`${at}.executionCondition`, 'execution conditions are not supported by the data plane yet');
    }
    const resolved = resolveOne(kind, source, policy.params ?? {}, ctx, at, problems);
    if (resolved) out.push(resolved);
  });
  return out;
}

function mergeKind<K extends PolicyKind>(kind: K, earlier: RouteSettingsByKind[K], later: RouteSettingsByKind[K]): RouteSettingsByKind[K] | string {
  return policyFilters[kind].merge(earlier, later);
}

/** A route's chain folded to one settings object per module (both API- and operation-level apply), or the conflict. */
export function mergeChain(chain: readonly IrPolicy[]): Map<PolicyKind, IrPolicy['settings']> | string {
  const merged = new Map<PolicyKind, IrPolicy['settings']>();
  for (const policy of chain) {
    const before = merged.get(policy.kind);
    if (before === undefined) {
      merged.set(policy.kind, policy.settings);
      continue;
    }
    const combined = mergeKind(policy.kind, before as never, policy.settings as never);
    if (typeof combined === 'string') return combined;
    merged.set(policy.kind, combined);
  }
  return merged;
}
