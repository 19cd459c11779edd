import { apiKeySettingsFromPlan } from '../../../policies/api-key.ts';
import type { IrApiKey } from '../../ir.ts';
import { apiKeySetName, subscriptionKeySetName } from '../../names.ts';
import { sameJson, type TablesStep } from './step.ts';

/** By digest; an active entry before a suspended one of the same digest (dedupe keeps the first). */
const compareKeys = (a: IrApiKey, b: IrApiKey) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : a.status === b.status ? 0 : a.status === 'active' ? -1 : 1);

/** One entry per digest (the module refuses duplicates within a set); the first (sorted) wins. */
function dedupe(keys: IrApiKey[]): IrApiKey[] {
  return keys.filter((k, i) => i === 0 || keys[i - 1]!.sha256 !== k.sha256);
}

/**
 * api-key: the keys of the API_KEY plans' subscriptions (suspended where the subscription does not admit traffic
 * now), and the API's own v0.9 keys when an api-key policy is attached.
 */
export const apiKeyTables: TablesStep = {
  kind: 'api-key',
  tables(input, { tables, ctx }) {
    const { api, index } = input;
    const apiKeyPlans = input.ofType('API_KEY');
    const attached = input.attaches('api-key');
    if (apiKeyPlans.length > 0 || attached) {
      const propagate = new Map(apiKeyPlans.map((p) => [p.id, p.security.apiKey?.propagateKey ?? false]));
      const subscriptionKeys: IrApiKey[] = [];
      const ownKeys: IrApiKey[] = [];
      for (const { key, subscriptionId, planId, live } of index.keysByApi.get(api.id) ?? []) {
        const entry: IrApiKey = {
          sha256: key.sha256,
          status: live ? 'active' : 'suspended',
          expiresAt: key.expiresAt,
          applicationId: key.applicationId,
          subscriptionId,
          plan: planId,
          propagateCredential: planId === null ? false : (propagate.get(planId) ?? false),
        };
        if (key.owner === 'api') ownKeys.push(entry);
        else if (planId !== null && propagate.has(planId)) subscriptionKeys.push(entry);
      }
      const apiKeySets: string[] = [];
      if (apiKeyPlans.length > 0) {
        const name = subscriptionKeySetName(api.handle);
        tables.apiKeySets[name] = dedupe(subscriptionKeys.sort(compareKeys));
        apiKeySets.push(name);
      }
      if (attached) {
        const name = apiKeySetName(api.handle);
        tables.apiKeySets[name] = dedupe(ownKeys.sort(compareKeys));
        apiKeySets.push(name);
        if (input.plans.length > 0) input.warn('plans', "the API's own (v0.9) API keys belong to no plan: on an API with plans they admit nothing unless a KEYLESS plan does");
      }
      ctx.apiKeySets = apiKeySets;
    }
    for (const plan of apiKeyPlans) {
      tables.apiKeyPlans[plan.id] = { rule: plan.selectionRule };
      const first = apiKeyPlans[0]!;
      if (plan !== first && !sameJson([plan.security.apiKey?.keyLocation, plan.security.apiKey?.keyName], [first.security.apiKey?.keyLocation, first.security.apiKey?.keyName])) {
        input.warn(`${input.planPath(plan)}.security.apiKey`, `the key is read where the first API_KEY plan '${first.name}' says (one key location per route); this plan's keyLocation/keyName are not used`);
      }
    }
  },
  implied(input, { ctx }) {
    const first = input.ofType('API_KEY').find((p) => p.security.apiKey !== null);
    if (!first || !input.served('api-key', input.planPath(first))) return null;
    return { kind: 'api-key', source: 'plan', settings: { ...apiKeySettingsFromPlan(first.security.apiKey!, ctx.apiKeySets), ...input.selection['api-key'] } };
  },
};
