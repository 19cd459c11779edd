import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi, seedSubscriptionPlanCreate } from '../../helpers/rest-seed.ts';

interface PlanJson {
  id: string;
  planName: string;
  billingPlan: string | null;
  stopOnQuotaReach: boolean;
  throttleLimitCount: number | null;
  throttleLimitUnit: string | null;
  expiryTime: string | null;
  gatewayId: string | null;
  status: string;
  createdAt: string;
  updatedAt: string;
}
interface ErrorJson {
  status: string;
  message: string;
  errors?: { field: string; message: string }[];
}

let seq = 0;
// Past expiries are refused at write: expiries here stay in the future whatever year the suite runs in.
const nextYear = new Date().getUTCFullYear() + 1;
const plan = (extra: Record<string, unknown> = {}) => ({ ...seedSubscriptionPlanCreate, planName: `Plan-${++seq}`, ...extra });

describe.each(shapeDrivers)('REST /subscription-plans (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t.close();
  });

  async function expect400(answer: Promise<{ status: number; body: ErrorJson }>, field: string, message?: RegExp): Promise<void> {
    const res = await answer;
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    const issue = res.body.errors?.find((e) => e.field === field);
    expect(issue, JSON.stringify(res.body)).toBeDefined();
    if (message) expect(issue?.message).toMatch(message);
    // The message itself names the field and says what is wrong (not the generic "Configuration validation failed").
    expect(res.body.message).toContain(issue?.message);
    expect(res.body.message).toContain(field);
  }

  describe('POST', () => {
    it('creates with defaults: stopOnQuotaReach true, status ACTIVE, absent fields null', async () => {
      const res = await rest.post<PlanJson>('/subscription-plans', { planName: 'Minimal' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        planName: 'Minimal',
        billingPlan: null,
        stopOnQuotaReach: true,
        throttleLimitCount: null,
        throttleLimitUnit: null,
        expiryTime: null,
        gatewayId: null,
        status: 'ACTIVE',
      });
      expect(res.body.id).toMatch(/^\S+$/);
    });
    it('requires planName', async () => {
      await expect400(rest.post<ErrorJson>('/subscription-plans', { billingPlan: 'FREE' }), 'planName', /required/);
      await expect400(rest.post<ErrorJson>('/subscription-plans', { planName: '   ' }), 'planName', /required/);
    });
    it('answers 409 for a planName that exists', async () => {
      const body = plan();
      expect((await rest.post('/subscription-plans', body)).status).toBe(201);
      const again = await rest.post<ErrorJson>('/subscription-plans', body);
      expect(again.status).toBe(409);
      expect(again.body.message).toBe(`subscription plan '${body.planName}' already exists`);
    });
    it('requires throttleLimitCount and throttleLimitUnit together', async () => {
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitUnit: undefined })), 'throttleLimitUnit', /required when throttleLimitCount/);
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitCount: undefined })), 'throttleLimitCount', /required when throttleLimitUnit/);
    });
    it("answers unparseable JSON with 'Invalid request body: failed to parse JSON: ...'", async () => {
      const res = await rest.request<ErrorJson>('POST', '/subscription-plans', { raw: '{"planName" "x"}', contentType: 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^Invalid request body: failed to parse JSON: ./);
    });
    it('requires throttleLimitCount > 0', async () => {
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitCount: 0 })), 'throttleLimitCount', /greater than 0/);
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitCount: -5 })), 'throttleLimitCount');
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitCount: 1.5 })), 'throttleLimitCount');
    });
    it('accepts the units Min, Hour, Day, Month only', async () => {
      for (const unit of ['Min', 'Hour', 'Day', 'Month']) expect((await rest.post('/subscription-plans', plan({ throttleLimitUnit: unit }))).status).toBe(201);
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitUnit: 'Week' })), 'throttleLimitUnit', /Min, Hour, Day, Month/);
    });
    it('accepts the statuses ACTIVE and INACTIVE only', async () => {
      expect((await rest.post<PlanJson>('/subscription-plans', plan({ status: 'INACTIVE' }))).body.status).toBe('INACTIVE');
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ status: 'DELETED' })), 'status', /ACTIVE, INACTIVE/);
    });
    it('takes a YAML body (text/yaml and application/yaml)', async () => {
      const yaml = await rest.request<PlanJson>('POST', '/subscription-plans', {
        raw: `planName: Yaml-Plan\nthrottleLimitCount: 10\nthrottleLimitUnit: Day\nexpiryTime: ${nextYear}-01-01T00:00:00Z\n`,
        contentType: 'text/yaml',
      });
      expect(yaml.status).toBe(201);
      expect(yaml.body).toMatchObject({ planName: 'Yaml-Plan', throttleLimitCount: 10, throttleLimitUnit: 'Day', expiryTime: `${nextYear}-01-01T00:00:00Z` });
      const update = await rest.request<PlanJson>('PUT', `/subscription-plans/${yaml.body.id}`, { raw: 'status: INACTIVE\n', contentType: 'application/yaml' });
      expect(update.body).toMatchObject({ planName: 'Yaml-Plan', status: 'INACTIVE' });
    });
    it('rejects wrong types and an expiryTime that is not an instant', async () => {
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ stopOnQuotaReach: 'yes' })), 'stopOnQuotaReach');
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ throttleLimitCount: '10' })), 'throttleLimitCount');
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ expiryTime: 'end of year' })), 'expiryTime', /ISO-8601/);
      await expect400(rest.request<ErrorJson>('POST', '/subscription-plans'), 'body', /required/);
    });
  });

  describe('expiryTime in the past', () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    it('refuses it at creation with 400 on expiryTime', async () => {
      const before = (await rest.get<{ count: number }>('/subscription-plans')).body.count;
      await expect400(rest.post<ErrorJson>('/subscription-plans', plan({ expiryTime: past })), 'expiryTime', /past/);
      expect((await rest.get<{ count: number }>('/subscription-plans')).body.count).toBe(before);
    });
    it('refuses it at update with 400 on expiryTime, and keeps the stored value', async () => {
      const created = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      await expect400(rest.put<ErrorJson>(`/subscription-plans/${created.id}`, { expiryTime: past }), 'expiryTime', /past/);
      expect((await rest.get<PlanJson>(`/subscription-plans/${created.id}`)).body.expiryTime).toBe(created.expiryTime);
    });
  });

  describe('GET', () => {
    it('answers 404 for an unknown plan id', async () => {
      const res = await rest.get<ErrorJson>('/subscription-plans/spl_unknown');
      expect(res).toMatchObject({ status: 404, body: { status: 'error', message: "subscription plan 'spl_unknown' not found" } });
    });
    it('lists every plan with its count', async () => {
      const res = await rest.get<{ subscriptionPlans: PlanJson[]; count: number }>('/subscription-plans');
      expect(res.body.count).toBe(res.body.subscriptionPlans.length);
      expect(res.body.count).toBeGreaterThan(0);
    });
  });

  describe('PUT', () => {
    it('merges: absent fields keep their value, given ones change, null clears an optional one', async () => {
      const created = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      const res = await rest.put<PlanJson>(`/subscription-plans/${created.id}`, { throttleLimitCount: 5, billingPlan: null });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: created.id,
        planName: created.planName,
        billingPlan: null,
        throttleLimitCount: 5,
        throttleLimitUnit: 'Hour',
        expiryTime: seedSubscriptionPlanCreate.expiryTime,
        createdAt: created.createdAt,
      });
      const empty = await rest.request<PlanJson>('PUT', `/subscription-plans/${created.id}`);
      expect(empty.status).toBe(200);
      expect(empty.body.throttleLimitCount).toBe(5);
    });
    it('validates the merged plan: clearing only the unit leaves a count without unit', async () => {
      const created = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      await expect400(rest.put<ErrorJson>(`/subscription-plans/${created.id}`, { throttleLimitUnit: null }), 'throttleLimitUnit');
    });
    it('answers 409 when renamed onto an existing planName, and 404 for an unknown id', async () => {
      const a = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      const b = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      expect((await rest.put(`/subscription-plans/${b.id}`, { planName: a.planName })).status).toBe(409);
      expect((await rest.put('/subscription-plans/spl_unknown', { planName: 'x' })).status).toBe(404);
    });
  });

  describe('DELETE', () => {
    it('answers 204, then 404', async () => {
      const created = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      const res = await rest.delete(`/subscription-plans/${created.id}`);
      expect(res.status).toBe(204);
      expect(res.body).toBeUndefined();
      expect((await rest.delete(`/subscription-plans/${created.id}`)).status).toBe(404);
    });
    it('answers 409 (not 500) while a subscription uses the plan, 204 once it is gone', async () => {
      const created = (await rest.post<PlanJson>('/subscription-plans', plan())).body;
      await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'plan-user' }, spec: { ...seedRestApi.spec, displayName: 'Plan-User', context: '/plan-user' } });
      const sub = await rest.post<{ id: string }>('/subscriptions', { apiId: 'plan-user', subscriptionToken: 'tok-plan-user', subscriptionPlanId: created.id });
      expect(sub.status).toBe(201);
      const blocked = await rest.delete<ErrorJson>(`/subscription-plans/${created.id}`);
      expect(blocked.status).toBe(409);
      expect(blocked.body.message).toMatch(/is used by 1 subscription/);
      await rest.delete(`/subscriptions/${sub.body.id}`);
      expect((await rest.delete(`/subscription-plans/${created.id}`)).status).toBe(204);
    });
  });
});
