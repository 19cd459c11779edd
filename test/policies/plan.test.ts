import { describe, expect, it } from 'vitest';
import { captureLogger, headerOf, jsonOf, loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';

const BOOKS = 'reading-list/GET/books';
const AUTHORS = 'reading-list/GET/authors';
const KEYED = 'reading-list/GET/keyed';

const configuration = {
  plans: {
    'plan-gold': { name: 'Gold', security: 'API_KEY', rule: null },
    'plan-jwt': { name: 'Partners', security: 'JWT' },
    'plan-partner': { name: 'Partner free', security: 'KEYLESS', rule: 'header.x-partner == "acme" && method != "DELETE"' },
    'plan-debug': { name: 'Debug', security: 'KEYLESS', rule: "query.debug" },
    'plan-free': { name: 'Free', security: 'KEYLESS', rule: null },
  },
  routes: {
    [BOOKS]: {
      plans: ['plan-gold', 'plan-partner', 'plan-free'],
      challenges: ['ApiKey header="x-api-key"'],
    },
    [AUTHORS]: {
      plans: ['plan-debug', 'plan-partner'],
      challenges: [],
    },
    [KEYED]: {
      plans: ['plan-gold', 'plan-jwt'],
      challenges: ['ApiKey header="x-api-key"', 'Bearer'],
    },
  },
};

describe('plan policy', () => {
  it('passes an identified request when its plan is one of the route plans', async () => {
    const plugin = await loadPolicy('plan', configuration);
    const { outcome, headers } = sendRequest(plugin, { route: KEYED, headers: [['x-apip-plan', 'plan-jwt']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBe('plan-jwt');
  });

  it('answers 403 when the identified plan is not one of the route plans', async () => {
    const plugin = await loadPolicy('plan', configuration);
    for (const plan of ['plan-jwt', 'plan-unknown', '']) {
      const reply = localReplyOf(sendRequest(plugin, { route: BOOKS, headers: [['x-apip-plan', plan]] }).outcome);
      expect(reply.status, plan).toBe(403);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Plan not allowed on this route.' });
      expect(reply.details).toBe('apip_plan_not_allowed');
    }
  });

  it('chooses the first keyless plan whose rule holds, in the route order, when the request has no identity', async () => {
    const plugin = await loadPolicy('plan', configuration);
    const partner = sendRequest(plugin, { route: BOOKS, headers: [['x-partner', 'acme']] });
    expect(partner.outcome.action).toBe('continue');
    expect(partner.headers.get('x-apip-plan')).toBe('plan-partner');
    // The partner rule is false for DELETE, so the next keyless plan (no rule) is chosen.
    const deleting = sendRequest(plugin, { route: BOOKS, method: 'DELETE', headers: [['x-partner', 'acme']] });
    expect(deleting.headers.get('x-apip-plan')).toBe('plan-free');
    const anonymous = sendRequest(plugin, { route: BOOKS });
    expect(anonymous.headers.get('x-apip-plan')).toBe('plan-free');
  });

  it('reads query parameters for rules', async () => {
    const plugin = await loadPolicy('plan', configuration);
    const debug = sendRequest(plugin, { route: AUTHORS, path: '/authors?debug=1' });
    expect(debug.outcome.action).toBe('continue');
    expect(debug.headers.get('x-apip-plan')).toBe('plan-debug');
    const off = sendRequest(plugin, { route: AUTHORS, path: '/authors?debug=0', headers: [['X-Partner', 'acme']] });
    expect(off.headers.get('x-apip-plan')).toBe('plan-partner');
  });

  it('answers 401 with one challenge per offered security type when no keyless plan admits the request', async () => {
    const plugin = await loadPolicy('plan', configuration);
    const keyed = localReplyOf(sendRequest(plugin, { route: KEYED }).outcome);
    expect(keyed.status).toBe(401);
    expect(jsonOf(keyed)).toEqual({ status: 'error', message: 'Missing credentials.' });
    expect(keyed.details).toBe('apip_credentials_missing');
    expect(keyed.headers.filter(([name]) => name.toLowerCase() === 'www-authenticate').map(([, value]) => value))
      .toEqual(['ApiKey header="x-api-key"', 'Bearer']);
    const noRuleHolds = localReplyOf(sendRequest(plugin, { route: AUTHORS, path: '/authors?debug=false' }).outcome);
    expect(noRuleHolds.status).toBe(401);
    expect(headerOf(noRuleHolds, 'www-authenticate')).toBeUndefined();
  });

  it('passes requests of routes without plans untouched', async () => {
    const plugin = await loadPolicy('plan', configuration);
    const { outcome, headers } = sendRequest(plugin, { route: 'other/GET/x', headers: [['x-apip-plan', 'anything']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBe('anything');
  });

  it('strips a forged plan before choosing when it is the first policy of the chain', async () => {
    const plugin = await loadPolicy('plan', { ...configuration, stripIdentityHeaders: true });
    const { outcome, headers } = sendRequest(plugin, { route: BOOKS, headers: [['x-apip-plan', 'plan-gold']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-plan')).toBe('plan-free');
  });

  it('refuses configurations with problems, logs every path and fails closed', async () => {
    const logger = captureLogger();
    const plugin = await loadPolicy('plan', {
      plans: {
        a: { security: 'BASIC' },
        b: { security: 'KEYLESS', rule: 'header.x == ' },
        c: { security: 'KEYLESS', rule: 42 },
      },
      routes: {
        [BOOKS]: { plans: ['a', 'missing', 'a'], challenges: ['ok', 'bad\r\nvalue', 7] },
        [AUTHORS]: { challenges: [] },
      },
    }, { logger });
    expect(plugin.isConfigured).toBe(false);
    const message = logger.entries.map((e) => String((e.fields as { message?: unknown }).message ?? e.message)).join('\n');
    for (const path of [
      '$.plans["a"].security',
      '$.plans["b"].rule',
      '$.plans["c"].rule',
      `$.routes["${BOOKS}"].plans[1]`,
      `$.routes["${BOOKS}"].plans[2]`,
      `$.routes["${BOOKS}"].challenges[1]`,
      `$.routes["${BOOKS}"].challenges[2]`,
      `$.routes["${AUTHORS}"].plans`,
    ]) expect(message).toContain(path);
    expect(localReplyOf(sendRequest(plugin, { route: 'other/GET/x' }).outcome).status).toBe(500);
  });

  it('refuses a configuration without plans or routes', async () => {
    for (const config of [{ routes: {} }, { plans: {} }, '[]', '']) {
      const plugin = await loadPolicy('plan', config);
      expect(plugin.isConfigured, JSON.stringify(config)).toBe(false);
    }
  });

  it('uses the new plans after a reconfiguration', async () => {
    const plugin = await loadPolicy('plan', configuration);
    expect(sendRequest(plugin, { route: BOOKS }).headers.get('x-apip-plan')).toBe('plan-free');
    expect(plugin.reconfigure(JSON.stringify({
      plans: { 'plan-gold': { security: 'API_KEY' } },
      routes: { [BOOKS]: { plans: ['plan-gold'], challenges: ['ApiKey header="x-api-key"'] } },
    }))).toBe(true);
    expect(localReplyOf(sendRequest(plugin, { route: BOOKS }).outcome).status).toBe(401);
  });
});
