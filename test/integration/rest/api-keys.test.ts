import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../server/domain/context.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { createUser, type RestClient, restClient } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

interface KeyJson {
  name: string;
  displayName: string;
  apiKey: string;
  apiId: string;
  status: string;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  source: string;
}
interface KeyAnswer {
  status: string;
  message: string;
  remainingApiKeyQuota: number;
  apiKey: KeyJson;
}
interface KeyList {
  status: string;
  totalCount: number;
  apiKeys: KeyJson[];
}
interface ErrorJson {
  status: string;
  message: string;
  errors?: { field: string; message: string }[];
}

let seq = 0;
async function makeApi(rest: RestClient): Promise<string> {
  seq++;
  const handle = `keyed-api-${seq}`;
  const res = await rest.post('/rest-apis', {
    ...seedRestApi,
    metadata: { name: handle },
    spec: { ...seedRestApi.spec, displayName: `Keyed-${seq}`, context: `/keyed-${seq}` },
  });
  expect(res.status).toBe(201);
  return handle;
}

describe.each(shapeDrivers)('REST /rest-apis/{id}/api-keys (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let clock = Date.now();
  let developer: string;
  let consumer: string;
  beforeAll(async () => {
    t = await startTestPlatform(driver, { settings: { ...defaultSettings, apiKeyQuotaPerUser: 3 } }, { now: () => new Date(clock) });
    rest = restClient(t);
    developer = await createUser(t, 'dev-keys', 'publisher');
    consumer = await createUser(t, 'consumer-keys', 'consumer');
  });
  afterAll(async () => {
    await t.close();
  });

  async function expect400(res: Promise<{ status: number; body: ErrorJson }>, field: string, message?: RegExp): Promise<ErrorJson> {
    const answer = await res;
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    const issue = answer.body.errors?.find((e) => e.field === field);
    expect(issue, JSON.stringify(answer.body)).toBeDefined();
    if (message) expect(issue?.message).toMatch(message);
    // The message itself names the field and says what is wrong (not the generic "Configuration validation failed").
    expect(answer.body.message).toContain(issue?.message);
    expect(answer.body.message).toContain(field);
    return answer.body;
  }

  describe('POST', () => {
    it('generates a name from displayName, or key-<hex> without one', async () => {
      const api = await makeApi(rest);
      const named = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { displayName: 'My Production Key' });
      expect(named.status).toBe(201);
      expect(named.body.apiKey).toMatchObject({ name: 'my-production-key', displayName: 'My Production Key', apiId: api });
      const anonymous = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, {});
      expect(anonymous.body.apiKey.name).toMatch(/^key-[0-9a-f]{8}$/);
      expect(anonymous.body.apiKey.displayName).toBe(anonymous.body.apiKey.name);
    });
    it('uses a given valid name and reports the remaining quota (configured: 3 per user per API)', async () => {
      const api = await makeApi(rest);
      const first = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'my_key-1' });
      expect(first.body).toMatchObject({ remainingApiKeyQuota: 2, apiKey: { name: 'my_key-1' } });
    });
    it('rejects names that are not 3-63 lowercase letters and digits separated by single - or _', async () => {
      const api = await makeApi(rest);
      // One case for the 400 shape: the name rule's cases are the domain's (test/unit/domain/api-keys.test.ts).
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { name: 'double--dash' }), 'name', /3-63/);
    });
    it('answers 409 for a name the API already has', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'taken' });
      const again = await rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { name: 'taken' });
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/taken/);
    });
    it('takes a custom apiKey value, and rejects invalid or already used ones', async () => {
      const api = await makeApi(rest);
      const custom = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { apiKey: 'custom-value-0001' });
      expect(custom.status).toBe(201);
      // Registered, not generated: the caller has the value, the answer shows it masked.
      expect(custom.body).toMatchObject({ message: 'API key registered successfully', apiKey: { apiKey: '***-0001', source: 'external' } });
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { apiKey: 'short' }), 'apiKey', /between 8 and 64/);
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { apiKey: 'has space in it' }), 'apiKey', /space/);
      const reused = await rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { apiKey: 'custom-value-0001' });
      expect(reused.status).toBe(409);
      expect(reused.body.message).toMatch(/already in use/);
    });
    it('sets expiresAt from expiresIn or a future expiresAt', async () => {
      const api = await makeApi(rest);
      const inDays = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { expiresIn: { unit: 'days', duration: 30 } });
      expect(inDays.status).toBe(201);
      expect(Date.parse(inDays.body.apiKey.expiresAt ?? '')).toBeCloseTo(clock + 30 * 86_400_000, -4);
      const at = new Date(clock + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const fixed = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { expiresAt: at });
      expect(fixed.body.apiKey.expiresAt).toBe(at);
    });
    it('rejects a past expiresAt, and an expiresAt or expiresIn that does not parse', async () => {
      const api = await makeApi(rest);
      const url = `/rest-apis/${api}/api-keys`;
      // Past, both forms, unit and duration are the domain's cases (test/unit/domain/api-keys.test.ts); one for the 400 shape.
      await expect400(rest.post<ErrorJson>(url, { expiresAt: '2020-01-01T00:00:00Z' }), 'expiresAt', /future/);
      await expect400(rest.post<ErrorJson>(url, { expiresAt: 'tomorrow' }), 'expiresAt', /ISO-8601/);
      await expect400(rest.post<ErrorJson>(url, { expiresIn: 'P1D' }), 'expiresIn');
    });
    it('rejects wrong JSON types and a body that is not an object', async () => {
      const api = await makeApi(rest);
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { name: 42 }), 'name', /string/);
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, ['x']), 'body');
    });
    it('answers 400 API key quota exceeded once the caller holds its quota of active keys, and frees a slot on revoke', async () => {
      const api = await makeApi(rest);
      const quotas: number[] = [];
      for (let i = 0; i < 3; i++) quotas.push((await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: `q-${i}` })).body.remainingApiKeyQuota);
      expect(quotas).toEqual([2, 1, 0]);
      const over = await rest.post<ErrorJson>(`/rest-apis/${api}/api-keys`, { name: 'q-3' });
      expect(over.status).toBe(400);
      expect(over.body.message).toMatch(/^API key quota exceeded/);
      // The quota is per user: another user still has all of it.
      const other = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'q-dev' }, { auth: developer });
      expect(other.body.remainingApiKeyQuota).toBe(2);
      await rest.delete(`/rest-apis/${api}/api-keys/q-0`);
      expect((await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'q-3' })).body.remainingApiKeyQuota).toBe(0);
    });
    it('answers 404 for an unknown API', async () => {
      const res = await rest.post<ErrorJson>('/rest-apis/no-such-api/api-keys', {});
      expect(res).toMatchObject({ status: 404, body: { message: "RestAPI with handle 'no-such-api' not found" } });
    });
  });

  describe('GET', () => {
    it('lists active keys only, masked as *** + last 5', async () => {
      const api = await makeApi(rest);
      const kept = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'kept' });
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'revoked' });
      await rest.delete(`/rest-apis/${api}/api-keys/revoked`);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'expiring', expiresIn: { unit: 'hours', duration: 1 } });
      clock += 2 * 3_600_000;
      const list = await rest.get<KeyList>(`/rest-apis/${api}/api-keys`);
      expect(list.body).toMatchObject({ status: 'success', totalCount: 1 });
      expect(list.body.apiKeys).toEqual([expect.objectContaining({ name: 'kept', status: 'active', apiKey: `***${kept.body.apiKey.apiKey.slice(-5)}` })]);
    });
    it('shows a non-admin only its own keys, an admin everyone\'s', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'admins' });
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'developers' }, { auth: developer });
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'consumers' }, { auth: consumer });
      const names = async (auth: string | undefined) =>
        (await rest.get<KeyList>(`/rest-apis/${api}/api-keys`, auth ? { auth } : {})).body.apiKeys.map((k) => k.name).sort();
      expect(await names(undefined)).toEqual(['admins', 'consumers', 'developers']);
      expect(await names(developer)).toEqual(['developers']);
      expect(await names(consumer)).toEqual(['consumers']);
    });
    it('answers 404 for an unknown API', async () => {
      expect((await rest.get('/rest-apis/no-such-api/api-keys')).status).toBe(404);
    });
  });

  describe('regenerate', () => {
    it('answers 200 with a new value in clear; the list shows the new mask', async () => {
      const api = await makeApi(rest);
      const created = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'rotating' });
      const res = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys/rotating/regenerate`, {});
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'success', apiKey: { name: 'rotating', apiId: api } });
      expect(res.body.apiKey.apiKey).toMatch(/^apip_[0-9a-f]{64}$/);
      expect(res.body.apiKey.apiKey).not.toBe(created.body.apiKey.apiKey);
      const list = await rest.get<KeyList>(`/rest-apis/${api}/api-keys`);
      expect(list.body.apiKeys.map((k) => k.apiKey)).toEqual([`***${res.body.apiKey.apiKey.slice(-5)}`]);
    });
    it('answers 404 for an unknown key name and 400 for a name no key can have', async () => {
      const api = await makeApi(rest);
      const missing = await rest.post<ErrorJson>(`/rest-apis/${api}/api-keys/never-made/regenerate`);
      expect(missing.status).toBe(404);
      expect(missing.body.message).toMatch(/never-made/);
      await expect400(rest.post<ErrorJson>(`/rest-apis/${api}/api-keys/Bad%20Name/regenerate`), 'apiKeyName');
    });
  });

  describe('source', () => {
    it('is external for a custom value and local for a generated one, in every answer', async () => {
      const api = await makeApi(rest);
      const custom = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'brought', apiKey: 'brought-value-0001' });
      const generated = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'made' });
      expect(custom.body.apiKey.source).toBe('external');
      expect(generated.body.apiKey.source).toBe('local');
      const list = await rest.get<KeyList>(`/rest-apis/${api}/api-keys`);
      expect(Object.fromEntries(list.body.apiKeys.map((k) => [k.name, k.source]))).toEqual({ brought: 'external', made: 'local' });
      // A key keeps its source: regenerating an external key gives it a generated value, not a local origin.
      expect((await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys/brought/regenerate`, {})).body.apiKey.source).toBe('external');
      expect((await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys/made/regenerate`, {})).body.apiKey.source).toBe('local');
      expect((await rest.put<KeyAnswer>(`/rest-apis/${api}/api-keys/brought`, { apiKey: 'brought-value-0002' })).body.apiKey.source).toBe('external');
    });
  });

  describe('PUT (custom value)', () => {
    it('sets the custom value of an external key and answers it masked', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'customised', apiKey: 'first-own-value-12345' });
      const res = await rest.put<KeyAnswer>(`/rest-apis/${api}/api-keys/customised`, { name: 'customised', apiKey: 'my-own-value-98765' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'success', message: 'API key updated successfully', apiKey: { name: 'customised', apiKey: '***98765', source: 'external' } });
    });
    it('answers 400 operation not allowed on a generated key, whose value stays', async () => {
      const api = await makeApi(rest);
      const made = await rest.post<KeyAnswer>(`/rest-apis/${api}/api-keys`, { name: 'generated' });
      const res = await rest.put<ErrorJson>(`/rest-apis/${api}/api-keys/generated`, { apiKey: 'my-own-value-98765' });
      expect(res.status).toBe(400);
      expect(res.body.message).toBe(
        'operation not allowed: updates are only allowed for externally generated API keys. For locally generated keys, please use the regenerate endpoint to create a new key',
      );
      const list = await rest.get<KeyList>(`/rest-apis/${api}/api-keys`);
      expect(list.body.apiKeys.map((k) => k.apiKey)).toEqual([`***${made.body.apiKey.apiKey.slice(-5)}`]);
    });
    it('answers 400 for a body name other than the path name, with a clear message', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'path-name', apiKey: 'first-own-value-12345' });
      const body = await expect400(rest.put<ErrorJson>(`/rest-apis/${api}/api-keys/path-name`, { name: 'other-name', apiKey: 'my-own-value-1' }), 'name');
      expect(body.message).toMatch(/mismatch.*other-name.*path-name/);
    });
    it('answers 400 without an apiKey value, or with an invalid one', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'needs-value', apiKey: 'first-own-value-12345' });
      await expect400(rest.put<ErrorJson>(`/rest-apis/${api}/api-keys/needs-value`, {}), 'apiKey', /required/);
      await expect400(rest.put<ErrorJson>(`/rest-apis/${api}/api-keys/needs-value`, { apiKey: 'a#b' }), 'apiKey');
      await expect400(rest.request<ErrorJson>('PUT', `/rest-apis/${api}/api-keys/needs-value`), 'body', /required/);
    });
    it('answers 404 for an unknown key', async () => {
      const api = await makeApi(rest);
      expect((await rest.put(`/rest-apis/${api}/api-keys/not-there`, { apiKey: 'my-own-value-1' })).status).toBe(404);
    });
  });

  describe('DELETE (revoke)', () => {
    it('answers 200 and is idempotent', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'going' });
      const ok = { status: 200, body: { status: 'success', message: 'API key revoked successfully' } };
      expect(await rest.delete(`/rest-apis/${api}/api-keys/going`)).toMatchObject(ok);
      expect(await rest.delete(`/rest-apis/${api}/api-keys/going`)).toMatchObject(ok);
      expect((await rest.get<KeyList>(`/rest-apis/${api}/api-keys`)).body.totalCount).toBe(0);
    });
    it('answers 200 for a key that never existed (the reference is idempotent), and 404 for an unknown API', async () => {
      const api = await makeApi(rest);
      expect(await rest.delete(`/rest-apis/${api}/api-keys/never-existed`)).toMatchObject({
        status: 200,
        body: { status: 'success', message: 'API key revoked successfully' },
      });
      expect((await rest.delete('/rest-apis/no-such-api/api-keys/never-existed')).status).toBe(404);
    });
    it('answers 200 to a caller who may not see the key, and leaves the key working', async () => {
      const api = await makeApi(rest);
      await rest.post(`/rest-apis/${api}/api-keys`, { name: 'admins-own' });
      expect((await rest.delete(`/rest-apis/${api}/api-keys/admins-own`, { auth: consumer })).status).toBe(200);
      expect((await rest.get<KeyList>(`/rest-apis/${api}/api-keys`)).body.apiKeys.map((k) => k.name)).toEqual(['admins-own']);
    });
  });
});
