import type { DeployedAuthorizationServer, DeployedKey, DeployedKeyManager, DeployedPlan, DeployedSubscription, DeployedSubscriptionPlan, DeploymentModel } from '../../domain/deployment-model.ts';

/** The model grouped by API once, so per-API translation is linear in the model's size. */
export interface ModelIndex {
  plansByApi: Map<string, DeployedPlan[]>;
  subscriptionsByApi: Map<string, DeployedSubscription[]>;
  /** Per API id: each key with the grant it holds there (`live`: the subscription admits traffic now). */
  keysByApi: Map<string, { key: DeployedKey; subscriptionId: string | null; planId: string | null; live: boolean }[]>;
  authorizationServers: Map<string, DeployedAuthorizationServer>;
  subscriptionPlans: Map<string, DeployedSubscriptionPlan>;
  jwks: DeploymentModel['jwks'];
  keyManagers: Map<string, DeployedKeyManager>;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function indexModel(model: DeploymentModel): ModelIndex {
  const plansByApi = new Map<string, DeployedPlan[]>();
  for (const plan of model.plans) push(plansByApi, plan.apiId, plan);
  for (const list of plansByApi.values()) list.sort((a, b) => a.position - b.position || byId(a, b));
  const subscriptionsByApi = new Map<string, DeployedSubscription[]>();
  for (const sub of model.subscriptions) push(subscriptionsByApi, sub.apiId, sub);
  for (const list of subscriptionsByApi.values()) list.sort(byId);
  const keysByApi: ModelIndex['keysByApi'] = new Map();
  for (const key of model.keys) {
    for (const grant of key.grants) push(keysByApi, grant.apiId, { key, subscriptionId: grant.subscriptionId, planId: grant.planId, live: grant.live });
  }
  return {
    plansByApi,
    subscriptionsByApi,
    keysByApi,
    subscriptionPlans: new Map(model.subscriptionPlans.map((p) => [p.id, p])),
    jwks: model.jwks,
    authorizationServers: new Map((model.authorizationServers ?? []).map((s) => [s.id, s])),
    keyManagers: new Map((model.keyManagers ?? []).map((km) => [km.name, km])),
  };
}
