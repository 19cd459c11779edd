import { describe, expect, it } from 'vitest';
import {
  type PlanRouteSettings, type PlanSelectionPlan, planChallenges, planFilter, planPluginConfiguration,
} from '../../../server/policies/plan.ts';
import type { AttachmentContext } from '../../../server/policies/kind.ts';
import type { IrTables } from '../../../server/xds/ir.ts';
import { jsonOf, loadPolicy, localReplyOf, sendRequest } from '../../helpers/policies.ts';

const plans: Record<string, PlanSelectionPlan> = {
  'plan-key': { name: 'Keyed', security: 'API_KEY', rule: null },
  'plan-free': { name: 'Free', security: 'KEYLESS', rule: 'header.x-tier != "blocked"' },
  'plan-jwt': { name: 'Partners', security: 'JWT', rule: 'claims.tier == "gold"' },
  'plan-other-api': { name: 'Elsewhere', security: 'KEYLESS', rule: null },
};

const routes = new Map<string, PlanRouteSettings>([
  ['shop/GET/items', { plans: ['plan-key', 'plan-free'], challenges: ['ApiKey header="x-api-key"'] }],
  ['shop/DELETE/items', { plans: ['plan-key', 'plan-jwt'], challenges: ['ApiKey header="x-api-key"', 'Bearer'] }],
]);

describe('plan filter', () => {
  it('ships the plans the routes name, sorted by id, and the routes sorted by name', () => {
    const config = planPluginConfiguration(plans, routes);
    expect(Object.keys(config.plans)).toEqual(['plan-free', 'plan-jwt', 'plan-key']);
    expect(config.plans['plan-free']).toEqual({ name: 'Free', security: 'KEYLESS', rule: 'header.x-tier != "blocked"' });
    expect(Object.keys(config.routes)).toEqual(['shop/DELETE/items', 'shop/GET/items']);
    expect(config.routes['shop/GET/items']).toEqual({ plans: ['plan-key', 'plan-free'], challenges: ['ApiKey header="x-api-key"'] });
  });

  it('gives the same JSON for the same input, whatever the order of the route map or record', () => {
    const reversed = new Map([...routes].reverse());
    expect(JSON.stringify(planPluginConfiguration(plans, reversed))).toBe(JSON.stringify(planPluginConfiguration(plans, routes)));
    expect(planPluginConfiguration(plans, Object.fromEntries(routes))).toEqual(planPluginConfiguration(plans, routes));
  });

  it('builds one challenge per offered security type, in plan order, none for keyless', () => {
    expect(planChallenges(['KEYLESS', 'API_KEY', 'JWT', 'OAUTH2'], { in: 'header', key: 'x-api-key' })).toEqual(['ApiKey header="x-api-key"', 'Bearer']);
    expect(planChallenges(['OAUTH2', 'API_KEY'], { in: 'query', key: 'apikey' })).toEqual(['Bearer', 'ApiKey query="apikey"']);
    expect(planChallenges(['KEYLESS'], null)).toEqual([]);
  });

  it('is configured from the plans only and merges identical entries', () => {
    expect(planFilter.fromParams({}, {} as AttachmentContext).ok).toBe(false);
    const entry = routes.get('shop/GET/items')!;
    expect(planFilter.merge(entry, { ...entry })).toEqual(entry);
    expect(typeof planFilter.merge(entry, { plans: ['plan-free'], challenges: [] })).toBe('string');
    const viaTables = planFilter.pluginConfiguration(routes, { selectionPlans: plans } as unknown as IrTables);
    expect(viaTables).toEqual(planPluginConfiguration(plans, routes));
  });

  it('produces a configuration the plan module accepts and enforces', async () => {
    const plugin = await loadPolicy('plan', { stripIdentityHeaders: true, ...planPluginConfiguration(plans, routes) });
    expect(plugin.isConfigured).toBe(true);
    const keyless = sendRequest(plugin, { route: 'shop/GET/items' });
    expect(keyless.outcome.action).toBe('continue');
    expect(keyless.headers.get('x-apip-plan')).toBe('plan-free');
    const blocked = localReplyOf(sendRequest(plugin, { route: 'shop/GET/items', headers: [['x-tier', 'blocked']] }).outcome);
    expect(blocked.status).toBe(401);
    expect(jsonOf(blocked)).toEqual({ status: 'error', message: 'Missing credentials.' });
    const deleting = localReplyOf(sendRequest(plugin, { route: 'shop/DELETE/items' }).outcome);
    expect(deleting.headers.filter(([n]) => n === 'www-authenticate').map(([, v]) => v)).toEqual(['ApiKey header="x-api-key"', 'Bearer']);
  });
});
