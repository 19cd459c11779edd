import { z } from 'zod';
import { type CompiledCondition, compileCondition } from '../domain/conditions/index.ts';
import type { PolicyKind } from '../xds/ir.ts';
import { type PolicyKindModule, fail, routesObject } from './kind.ts';
import { moduleConfiguration } from './module-config.ts';

/**
 * The condition module (policies/condition, docs/execution-conditions.md, docs/policies.md#condition): first on every
 * route with a conditional attachment, it evaluates the route's compiled conditions and passes one verdict per
 * condition to the modules after it in `x-apip-conditions`; each of those finds its index in its `when` table.
 * Configured by the translator from the attachments' `executionCondition`, never attached itself.
 */

/** One conditional attachment of a route: the module it gates and its compiled condition. */
export interface RouteCondition {
  kind: PolicyKind;
  condition: CompiledCondition;
}

export interface ConditionRouteSettings {
  /** In chain order; a condition's index here is what the gated module's `when` names. */
  conditions: RouteCondition[];
}

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    condition: ConditionRouteSettings;
  }
}

// A compiled condition is a tree of arrays (server/domain/conditions/compile.ts); the module checks its shape.
const configuration = moduleConfiguration({
  routes: z.record(z.string(), z.object({ conditions: z.array(z.array(z.unknown()).min(1)).min(1) })),
});

/** A condition's compiled tree, or why it cannot be served (the domain refuses these at write time). */
export function compiledCondition(text: string): { ok: true; condition: CompiledCondition } | { ok: false; message: string } {
  const check = compileCondition(text);
  return check.ok ? { ok: true, condition: check.compiled } : { ok: false, message: `${check.message} at offset ${check.offset}` };
}


/** The condition kind: no params, configured from the route's conditional attachments (translate/attachments.ts). */
export const conditionFilter: PolicyKindModule<'condition'> = {
  kind: 'condition',
  definition: null,
  fromParams() {
    return fail([{ path: 'name', message: "the condition module is configured from the attachments' execution conditions" }]);
  },
  merge(earlier, later) {
    return { conditions: [...earlier.conditions, ...later.conditions] };
  },
  pluginConfiguration(routes) {
    return { routes: routesObject(routes, (r) => ({ conditions: r.conditions.map((c) => c.condition) })) };
  },
  configuration,
};
