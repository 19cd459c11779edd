import { z } from 'zod';
import { type PolicyKindModule, fail, pick, routesObject, sameSettings } from './kind.ts';
import { moduleConfiguration, selectionRule } from './module-config.ts';

/**
 * The plan module (policies/plan, docs/plan-selection.md step 2, docs/policies.md#plan): closes authentication on
 * every route of an API with plans. It is configured by the translator from the API's plans, never attached.
 */

export type PlanSecurity = 'KEYLESS' | 'API_KEY' | 'JWT' | 'OAUTH2';

/** One entry of the module's `plans`, keyed by plan id (what `x-apip-plan` carries). */
export type PlanSelectionPlan = {
  name: string;
  security: PlanSecurity;
  /** Selection rule (docs/plan-selection.md#selection-rules); null: always holds. */
  rule: string | null;
};

/** Per-route settings of the plan module (`routes.<route>`). */
export type PlanRouteSettings = {
  /** The serving plans admitting traffic on this route, in the API's plan order. */
  plans: string[];
  /** One `WWW-Authenticate` value per security type offered (`Bearer`, `ApiKey header="x-api-key"`), for the 401. */
  challenges: string[];
};

declare module '../xds/ir.ts' {
  interface RouteSettingsByKind {
    plan: PlanRouteSettings;
  }
}

const configuration = moduleConfiguration({
  plans: z.record(z.string(), z.object({ name: z.string().nullable().optional(), security: z.enum(['KEYLESS', 'API_KEY', 'JWT', 'OAUTH2']), rule: selectionRule })),
  routes: z.record(z.string(), z.object({ plans: z.array(z.string()), challenges: z.array(z.string()).optional() })),
});

/** What `planPluginConfiguration` returns (without `stripIdentityHeaders`). */
export type PlanPluginConfiguration = {
  plans: Record<string, PlanSelectionPlan>;
  routes: Record<string, PlanRouteSettings>;
};

/**
 * `WWW-Authenticate` challenges for the security types `types` (the API's plans' types in plan order), once each:
 * `Bearer` for JWT and OAuth2, `ApiKey <in>="<name>"` for API keys where `apiKey` says the key is read, nothing for
 * KEYLESS (a keyless plan whose rule does not hold has no credential to ask for).
 */
export function planChallenges(types: readonly PlanSecurity[], apiKey: { in: 'header' | 'query'; key: string } | null): string[] {
  const out: string[] = [];
  for (const type of types) {
    let challenge: string | null = null;
    if (type === 'JWT' || type === 'OAUTH2') challenge = 'Bearer';
    else if (type === 'API_KEY' && apiKey !== null) challenge = `ApiKey ${apiKey.in}="${apiKey.key}"`;
    if (challenge !== null && !out.includes(challenge)) out.push(challenge);
  }
  return out;
}

/**
 * The module's plugin configuration (without `stripIdentityHeaders`): the plans the routes name (sorted by id; a
 * route naming a plan missing from `plans` makes the module refuse the configuration, so the translator must pass
 * every serving plan) and the route entries (sorted by route name). Pure: same input, same JSON.
 */
export function planPluginConfiguration(
  plans: Readonly<Record<string, PlanSelectionPlan>>,
  routes: ReadonlyMap<string, PlanRouteSettings> | Readonly<Record<string, PlanRouteSettings>>,
): PlanPluginConfiguration {
  const entries = routes instanceof Map ? [...routes] : Object.entries(routes);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const sorted = new Map<string, PlanRouteSettings>(entries);
  const picked = pick(plans, entries.flatMap(([, r]) => r.plans));
  const out: Record<string, PlanSelectionPlan> = {};
  for (const [id, p] of Object.entries(picked)) out[id] = { name: p.name, security: p.security, rule: p.rule };
  return {
    plans: out,
    routes: routesObject(sorted, (r) => ({ plans: [...r.plans], challenges: [...r.challenges] })) as Record<string, PlanRouteSettings>,
  };
}

/** The plan kind: no params (never attached), configured by the translator from the API's plans. */
export const planFilter: PolicyKindModule<'plan'> = {
  kind: 'plan',
  definition: null,
  fromParams() {
    return fail([{ path: 'name', message: "the plan module is configured from the API's plans" }]);
  },
  merge(earlier, later) {
    return sameSettings(earlier, later) ? earlier : 'two different plan entries apply to this route';
  },
  pluginConfiguration(routes, tables) {
    // A plain Map: planPluginConfiguration also takes records and tells them apart with `instanceof Map`.
    return planPluginConfiguration(tables.selectionPlans as Record<string, PlanSelectionPlan>, new Map(routes));
  },
  configuration,
};
