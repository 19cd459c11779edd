import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { type RestClient, restClient } from '../../helpers/rest.ts';
import {
  keysOf,
  seedRestApi,
  seedShapes,
  seedSubscriptionCreate,
  seedSubscriptionPlanCreate,
  seedSubscriptionPlanUpdate,
  sorted,
} from '../../helpers/rest-seed.ts';

type Json = Record<string, unknown>;
const isoSeconds = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Seed 002, example by example, in the seed's order: each sent verbatim, answered with the seed's status and shape. */
describe.each(shapeDrivers)('seed 002 example requests (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('POST /rest-apis answers 201 with the payload echoed and status{id,state,createdAt,updatedAt,deployedAt}', async () => {
    const res = await rest.post<Json>('/rest-apis', seedRestApi);
    expect(res.status).toBe(201);
    const { status, ...resource } = res.body;
    expect(resource).toEqual(seedRestApi);
    expect(keysOf(status)).toEqual(sorted(['id', 'state', 'createdAt', 'updatedAt', 'deployedAt']));
    expect(status).toMatchObject({ id: 'reading-list-api-v1.0', state: 'deployed' });
    const s = status as Json;
    for (const key of ['createdAt', 'updatedAt', 'deployedAt']) expect(s[key]).toMatch(isoSeconds);
  });

  it('GET /rest-apis answers 200 {status,count,apis} with the context $version substituted', async () => {
    const res = await rest.get<{ status: string; count: number; apis: Json[] }>('/rest-apis');
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.restApiList));
    expect(res.body).toMatchObject({ status: 'success', count: 1 });
    const [api] = res.body.apis;
    expect(api).toMatchObject({ metadata: { name: 'reading-list-api-v1.0' }, spec: { context: '/reading-list/v1.0' } });
    expect(keysOf(api)).toEqual(sorted(['apiVersion', 'kind', 'metadata', 'spec', 'status']));
  });

  it('GET /rest-apis/{id} answers 200 with the resource as given', async () => {
    const res = await rest.get<Json>('/rest-apis/reading-list-api-v1.0');
    expect(res.status).toBe(200);
    const { status, ...resource } = res.body;
    expect(resource).toEqual(seedRestApi);
    expect(status).toMatchObject({ id: 'reading-list-api-v1.0', state: 'deployed' });
  });

  it('PUT /rest-apis/{id} answers 200 with the updated resource', async () => {
    const res = await rest.put<Json>('/rest-apis/reading-list-api-v1.0', seedRestApi);
    expect(res.status).toBe(200);
    const { status, ...resource } = res.body;
    expect(resource).toEqual(seedRestApi);
    expect(keysOf(status)).toEqual(sorted(['id', 'state', 'createdAt', 'updatedAt', 'deployedAt']));
  });

  let generatedKey = '';
  it('POST /rest-apis/{id}/api-keys with no payload answers 201 with a generated apip_ key and the quota left', async () => {
    const res = await rest.post<Json>('/rest-apis/reading-list-api-v1.0/api-keys');
    expect(res.status).toBe(201);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.apiKeyResponse));
    expect(res.body).toMatchObject({ status: 'success', message: 'API key generated successfully', remainingApiKeyQuota: 9 });
    const key = res.body.apiKey as Json;
    expect(keysOf(key)).toEqual(sorted(seedShapes.apiKey));
    expect(key).toMatchObject({ apiId: 'reading-list-api-v1.0', status: 'active', createdBy: 'admin', expiresAt: null, source: 'local' });
    expect(key.apiKey).toMatch(/^apip_[0-9a-f]{64}$/);
    expect(key.createdAt).toMatch(isoSeconds);
    generatedKey = String(key.name);
  });

  it('GET /rest-apis/{id}/api-keys answers 200 {apiKeys,totalCount,status} with masked values', async () => {
    const res = await rest.get<{ apiKeys: Json[]; totalCount: number }>('/rest-apis/reading-list-api-v1.0/api-keys');
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.apiKeyList));
    expect(res.body).toMatchObject({ status: 'success', totalCount: 1 });
    expect(keysOf(res.body.apiKeys[0])).toEqual(sorted(seedShapes.apiKey));
    expect(res.body.apiKeys[0]?.apiKey).toMatch(/^\*\*\*[0-9a-f]{5}$/);
  });

  it('POST /rest-apis/{id}/api-keys/{apiKeyName}/regenerate answers 200 with the new value in clear', async () => {
    const res = await rest.post<Json>(`/rest-apis/reading-list-api-v1.0/api-keys/${generatedKey}/regenerate`);
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.apiKeyResponse));
    expect((res.body.apiKey as Json).apiKey).toMatch(/^apip_[0-9a-f]{64}$/);
  });

  it('PUT /rest-apis/{id}/api-keys/{apiKeyName} answers 200 with the custom value masked (external keys only)', async () => {
    // The reference takes a custom value only for a key whose value the client brought (source external).
    const refused = await rest.put<Json>(`/rest-apis/reading-list-api-v1.0/api-keys/${generatedKey}`, { apiKey: 'my-custom-key-12345' });
    expect(refused.status).toBe(400);
    const external = await rest.post<Json>('/rest-apis/reading-list-api-v1.0/api-keys', { name: 'brought-key', apiKey: 'my-first-key-00001' });
    expect(external.status).toBe(201);
    const res = await rest.put<Json>('/rest-apis/reading-list-api-v1.0/api-keys/brought-key', { apiKey: 'my-custom-key-12345' });
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.apiKeyResponse));
    expect((res.body.apiKey as Json).apiKey).toBe('***12345');
  });

  it('DELETE /rest-apis/{id}/api-keys/{apiKeyName} answers 200 {status,message}', async () => {
    const res = await rest.delete(`/rest-apis/reading-list-api-v1.0/api-keys/${generatedKey}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'success', message: 'API key revoked successfully' });
  });

  let goldId = '';
  it('POST /subscription-plans answers 201 with the plan', async () => {
    const res = await rest.post<Json>('/subscription-plans', seedSubscriptionPlanCreate);
    expect(res.status).toBe(201);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.subscriptionPlan));
    expect(res.body).toMatchObject({ ...seedSubscriptionPlanCreate, gatewayId: null });
    goldId = String(res.body.id);
  });

  it('GET /subscription-plans answers 200 {subscriptionPlans,count}', async () => {
    const res = await rest.get<{ subscriptionPlans: Json[] }>('/subscription-plans');
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.subscriptionPlanList));
    expect(res.body).toMatchObject({ count: 1 });
    expect(keysOf(res.body.subscriptionPlans[0])).toEqual(sorted(seedShapes.subscriptionPlan));
  });

  it('GET /subscription-plans/{planId} answers 200 with the plan', async () => {
    const res = await rest.get<Json>(`/subscription-plans/${goldId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: goldId, planName: 'Gold' });
  });

  it('PUT /subscription-plans/{planId} with the seed payload answers 400 for its throttleLimitCount 0 and past expiryTime, 200 once both are fixed', async () => {
    const verbatim = await rest.put<Json>(`/subscription-plans/${goldId}`, seedSubscriptionPlanUpdate);
    expect(verbatim.status).toBe(400);
    expect(verbatim.body).toMatchObject({ errors: [{ field: 'throttleLimitCount' }, { field: 'expiryTime' }] });
    const fixed = { ...seedSubscriptionPlanUpdate, throttleLimitCount: 1, expiryTime: '2099-08-24T14:15:22Z' };
    const res = await rest.put<Json>(`/subscription-plans/${goldId}`, fixed);
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.subscriptionPlan));
    expect(res.body).toMatchObject({ ...fixed, id: goldId });
  });

  let subscriptionId = '';
  it('POST /subscriptions answers 400 naming the plan for the seed\'s placeholder plan id, 201 with a real one', async () => {
    const api = await rest.post('/rest-apis', {
      ...seedRestApi,
      metadata: { name: seedSubscriptionCreate.apiId },
      spec: { ...seedRestApi.spec, displayName: 'Subscribed-API', context: '/subscribed/$version' },
    });
    expect(api.status).toBe(201);
    const verbatim = await rest.post<Json>('/subscriptions', seedSubscriptionCreate);
    expect(verbatim.status).toBe(400);
    expect(verbatim.body).toMatchObject({ errors: [{ field: 'subscriptionPlanId', message: "Subscription plan 'string' not found" }] });
    const res = await rest.post<Json>('/subscriptions', { ...seedSubscriptionCreate, subscriptionPlanId: goldId });
    expect(res.status).toBe(201);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.subscription));
    expect(res.body).toMatchObject({ ...seedSubscriptionCreate, subscriptionPlanId: goldId, gatewayId: null });
    subscriptionId = String(res.body.id);
  });

  it('GET /subscriptions answers 200 {subscriptions,count} without tokens', async () => {
    const res = await rest.get<{ subscriptions: Json[] }>('/subscriptions');
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(sorted(seedShapes.subscriptionList));
    expect(res.body).toMatchObject({ count: 1 });
    expect(keysOf(res.body.subscriptions[0])).toEqual(sorted(seedShapes.subscription.filter((k) => k !== 'subscriptionToken')));
  });

  it('GET /subscriptions/{subscriptionId} answers 200 without the token', async () => {
    const res = await rest.get<Json>(`/subscriptions/${subscriptionId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: subscriptionId, apiId: seedSubscriptionCreate.apiId, status: 'ACTIVE' });
    expect(res.body).not.toHaveProperty('subscriptionToken');
  });

  it('PUT /subscriptions/{subscriptionId} answers 200 with the new status', async () => {
    const res = await rest.put<Json>(`/subscriptions/${subscriptionId}`, { status: 'INACTIVE' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: subscriptionId, status: 'INACTIVE' });
  });

  it('DELETE /subscriptions/{subscriptionId} answers 204 with no body', async () => {
    const res = await rest.delete(`/subscriptions/${subscriptionId}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
  });

  it('DELETE /subscription-plans/{planId} answers 204 with no body', async () => {
    const res = await rest.delete(`/subscription-plans/${goldId}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
  });

  it('DELETE /rest-apis/{id} answers 200 {status,message,id}', async () => {
    const res = await rest.delete('/rest-apis/reading-list-api-v1.0');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'success', message: 'RestAPI deleted successfully', id: 'reading-list-api-v1.0' });
  });

  it('the documented 404 of GET /rest-apis/{id} is the ErrorResponse with the v0.9 message', async () => {
    const res = await rest.get('/rest-apis/reading-list-api-v1.0');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ status: 'error', message: "RestAPI with handle 'reading-list-api-v1.0' not found" });
  });
});
