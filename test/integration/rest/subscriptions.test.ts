import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyDigest } from '../../../server/domain/secrets.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

interface SubscriptionJson {
  id: string;
  apiId: string;
  applicationId: string | null;
  subscriptionToken?: string;
  subscriptionPlanId: string | null;
  billingCustomerId: string | null;
  billingSubscriptionId: string | null;
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

describe.each(shapeDrivers)('REST /subscriptions (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let gold: string;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gold = (await rest.post<{ id: string }>('/subscription-plans', { planName: 'Gold' })).body.id;
  });
  afterAll(async () => {
    await t.close();
  });

  async function makeApi(subscriptionPlans?: string[]): Promise<string> {
    seq++;
    const handle = `subscribed-${seq}`;
    const spec = { ...seedRestApi.spec, displayName: `Subscribed-${seq}`, context: `/subscribed-${seq}`, ...(subscriptionPlans ? { subscriptionPlans } : {}) };
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: handle }, spec })).status).toBe(201);
    return handle;
  }

  async function apiId(handle: string): Promise<string> {
    const res = await t.graphql<{ apiByHandle: { id: string } }>(`query($h: String!) { apiByHandle(handle: $h) { id } }`, { h: handle });
    return Buffer.from(res.data?.apiByHandle.id ?? '', 'base64').toString().split(':')[1] ?? '';
  }

  it('creates with apiId as a handle or as an id, answering the handle, the token (once) and ACTIVE by default', async () => {
    const handle = await makeApi();
    const byHandle = await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'tok-a', applicationId: 'app-1' });
    expect(byHandle.status).toBe(201);
    expect(byHandle.body).toMatchObject({ apiId: handle, subscriptionToken: 'tok-a', applicationId: 'app-1', status: 'ACTIVE', subscriptionPlanId: null });
    const byId = await rest.post<SubscriptionJson>('/subscriptions', { apiId: await apiId(handle), subscriptionToken: 'tok-b' });
    expect(byId.status).toBe(201);
    expect(byId.body.apiId).toBe(handle);
    const read = await rest.get<SubscriptionJson>(`/subscriptions/${byHandle.body.id}`);
    expect(read.body).not.toHaveProperty('subscriptionToken');
    const list = await rest.get<{ subscriptions: SubscriptionJson[] }>(`/subscriptions?apiId=${handle}`);
    expect(list.body.subscriptions.every((s) => !('subscriptionToken' in s))).toBe(true);
  });

  it('stores the token only as its keyed digest, never as its plain SHA-256', async () => {
    const handle = await makeApi();
    const created = await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'secret-token-123' });
    const result = (await t.platform.database.db.execute(sql`select token_hash from subscriptions where id = ${created.body.id}`)) as unknown as
      | { rows?: { token_hash: string }[] }
      | { token_hash: string }[];
    const rows = Array.isArray(result) ? result : (result.rows ?? []);
    expect(rows[0]?.token_hash).toBe(keyDigest(t.platform.keys.digestKey, 'secret-token-123'));
    expect(rows[0]?.token_hash).not.toBe(createHash('sha256').update('secret-token-123').digest('hex'));
  });

  it('answers 409 for a second subscription with the same API and token', async () => {
    const handle = await makeApi();
    await rest.post('/subscriptions', { apiId: handle, subscriptionToken: 'dup' });
    const again = await rest.post<ErrorJson>('/subscriptions', { apiId: handle, subscriptionToken: 'dup' });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/token already exists/);
    // The same token on another API is fine.
    expect((await rest.post('/subscriptions', { apiId: await makeApi(), subscriptionToken: 'dup' })).status).toBe(201);
  });

  it('requires apiId and subscriptionToken, and checks types and the status set', async () => {
    const res = await rest.post<ErrorJson>('/subscriptions', { applicationId: 5, status: 'PENDING' });
    expect(res.status).toBe(400);
    expect(res.body.errors?.map((e) => e.field).sort()).toEqual(['apiId', 'applicationId', 'status', 'subscriptionToken']);
    expect(res.body.errors?.find((e) => e.field === 'status')?.message).toBe('status must be one of ACTIVE, INACTIVE, REVOKED');
    // The message names every field too (v0.9 clients show only the message).
    expect(res.body.message).toBe(
      'apiId is required; subscriptionToken is required; applicationId must be a string; status must be one of ACTIVE, INACTIVE, REVOKED',
    );
    const blank = await rest.post<ErrorJson>('/subscriptions', { apiId: await makeApi(), subscriptionToken: ' padded ' });
    expect(blank.status).toBe(400);
    expect(blank.body.errors?.[0]?.field).toBe('subscriptionToken');
  });

  it("answers unparseable JSON with 'Invalid request body: failed to parse JSON: ...'", async () => {
    const res = await rest.request<ErrorJson>('POST', '/subscriptions', { raw: '{"apiId": ', contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^Invalid request body: failed to parse JSON: ./);
  });

  it('answers 404 for an unknown apiId', async () => {
    const res = await rest.post<ErrorJson>('/subscriptions', { apiId: 'no-such-api', subscriptionToken: 't' });
    expect(res).toMatchObject({ status: 404, body: { message: "RestAPI with handle 'no-such-api' not found" } });
  });

  it('answers 400 naming apiId when the API is not deployed, and takes subscriptions again once it is', async () => {
    seq++;
    const handle = `undeployed-${seq}`;
    const spec = { ...seedRestApi.spec, displayName: `Undeployed-${seq}`, context: `/undeployed-${seq}`, deploymentState: 'undeployed' };
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: handle }, spec })).status).toBe(201);
    const refused = await rest.post<ErrorJson>('/subscriptions', { apiId: handle, subscriptionToken: 'tok-undeployed' });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([{ field: 'apiId', message: `API '${handle}' is not deployed: it takes no new subscriptions` }]);
    expect((await rest.get<{ count: number }>(`/subscriptions?apiId=${handle}`)).body.count).toBe(0);
    expect((await rest.put(`/rest-apis/${handle}`, { ...seedRestApi, metadata: { name: handle }, spec: { ...spec, deploymentState: 'deployed' } })).status).toBe(200);
    expect((await rest.post('/subscriptions', { apiId: handle, subscriptionToken: 'tok-undeployed' })).status).toBe(201);
  });

  it('answers 400 naming the plan when it is missing, INACTIVE or not among the API\'s subscriptionPlans', async () => {
    const open = await makeApi();
    const missing = await rest.post<ErrorJson>('/subscriptions', { apiId: open, subscriptionToken: 't1', subscriptionPlanId: 'spl_missing' });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([{ field: 'subscriptionPlanId', message: "Subscription plan 'spl_missing' not found" }]);
    const inactive = (await rest.post<{ id: string }>('/subscription-plans', { planName: 'Dormant', status: 'INACTIVE' })).body.id;
    const off = await rest.post<ErrorJson>('/subscriptions', { apiId: open, subscriptionToken: 't2', subscriptionPlanId: inactive });
    expect(off.status).toBe(400);
    expect(off.body.errors?.[0]?.message).toMatch(/'Dormant' is not ACTIVE/);
    const silverOnly = await makeApi(['Silver']);
    const notListed = await rest.post<ErrorJson>('/subscriptions', { apiId: silverOnly, subscriptionToken: 't3', subscriptionPlanId: gold });
    expect(notListed.status).toBe(400);
    expect(notListed.body.errors?.[0]?.message).toMatch(/'Gold' is not offered/);
    const goldListed = await makeApi(['Gold']);
    expect((await rest.post('/subscriptions', { apiId: goldListed, subscriptionToken: 't4', subscriptionPlanId: gold })).status).toBe(201);
    // An API listing no plans takes any ACTIVE plan.
    expect((await rest.post('/subscriptions', { apiId: open, subscriptionToken: 't5', subscriptionPlanId: gold })).status).toBe(201);
  });

  it('PUT changes the status (ACTIVE, INACTIVE, REVOKED) and merges other fields', async () => {
    const handle = await makeApi();
    const created = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'lifecycle', billingCustomerId: 'cus_1' })).body;
    for (const status of ['INACTIVE', 'ACTIVE', 'REVOKED', 'ACTIVE']) {
      const res = await rest.put<SubscriptionJson>(`/subscriptions/${created.id}`, { status });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status, billingCustomerId: 'cus_1' });
      expect(res.body).not.toHaveProperty('subscriptionToken');
    }
    const billing = await rest.put<SubscriptionJson>(`/subscriptions/${created.id}`, { billingSubscriptionId: 'bsub_9', subscriptionPlanId: gold });
    expect(billing.body).toMatchObject({ billingSubscriptionId: 'bsub_9', subscriptionPlanId: gold, status: 'ACTIVE' });
    const bad = await rest.put<ErrorJson>(`/subscriptions/${created.id}`, { status: 'DONE' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.field).toBe('status');
    expect((await rest.put(`/subscriptions/${created.id}`, { subscriptionPlanId: 'spl_nope' })).status).toBe(400);
  });

  it('PUT answers 409 for a token another subscription of the API has', async () => {
    const handle = await makeApi();
    await rest.post('/subscriptions', { apiId: handle, subscriptionToken: 'first' });
    const second = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'second' })).body;
    expect((await rest.put(`/subscriptions/${second.id}`, { subscriptionToken: 'first' })).status).toBe(409);
  });

  it('DELETE answers 204, then 404; GET and PUT of an unknown id answer 404', async () => {
    const handle = await makeApi();
    const created = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'bye' })).body;
    expect((await rest.delete(`/subscriptions/${created.id}`)).status).toBe(204);
    const gone = await rest.get<ErrorJson>(`/subscriptions/${created.id}`);
    expect(gone).toMatchObject({ status: 404, body: { status: 'error', message: `Subscription '${created.id}' not found` } });
    expect((await rest.put(`/subscriptions/${created.id}`, { status: 'ACTIVE' })).status).toBe(404);
    expect((await rest.delete(`/subscriptions/${created.id}`)).status).toBe(404);
  });

  it('lists with the filters apiId (handle or id), applicationId and status', async () => {
    const handle = await makeApi();
    const other = await makeApi();
    const a = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'f1', applicationId: 'app-x' })).body;
    const b = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: handle, subscriptionToken: 'f2', applicationId: 'app-y', status: 'INACTIVE' })).body;
    const c = (await rest.post<SubscriptionJson>('/subscriptions', { apiId: other, subscriptionToken: 'f3', applicationId: 'app-x', status: 'REVOKED' })).body;
    const ids = async (query: string) => {
      const res = await rest.get<{ subscriptions: SubscriptionJson[]; count: number }>(`/subscriptions?${query}`);
      expect(res.body.count).toBe(res.body.subscriptions.length);
      return res.body.subscriptions.map((s) => s.id);
    };
    expect(await ids(`apiId=${handle}`)).toEqual([a.id, b.id]);
    expect(await ids(`apiId=${await apiId(handle)}`)).toEqual([a.id, b.id]);
    expect(await ids('applicationId=app-x')).toEqual([a.id, c.id]);
    expect(await ids(`apiId=${handle}&status=INACTIVE`)).toEqual([b.id]);
    expect(await ids('applicationId=app-x&status=REVOKED')).toEqual([c.id]);
    expect(await ids('applicationId=app-x&status=ACTIVE')).toEqual([a.id]);
    // The reference's spellings, any case; an unknown apiId is 404 as everywhere else.
    expect(await ids('applicationId=app-x&status=active')).toEqual([a.id]);
    expect(await ids(`apiId=${handle}&status=Inactive`)).toEqual([b.id]);
    expect(await rest.get<ErrorJson>('/subscriptions?apiId=no-such-api')).toMatchObject({
      status: 404,
      body: { message: "RestAPI with handle 'no-such-api' not found" },
    });
    const bad = await rest.get<ErrorJson>('/subscriptions?status=ACCEPTED');
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: 'status', message: 'status must be one of ACTIVE, INACTIVE, REVOKED' }]);
  });
});
