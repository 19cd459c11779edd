import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../server/db/client.ts';
import { apiKeys, apis } from '../../../server/db/schema/index.ts';
import {
  createApiKey,
  getApiKey,
  listApiKeys,
  listApiKeysForApis,
  listApiKeysForSubscriptions,
  loadSharedKeysForApplications,
  regenerateApiKey,
  remainingApiKeyQuota,
  renewApiKey,
  revokeApiKey,
  revokeApiKeyByName,
} from '../../../server/domain/api-keys/index.ts';
import { forbiddenCustomKeyCharacters } from '../../../server/domain/api-keys/index.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { allRows } from '../../../server/domain/pagination.ts';
import { keyDigest } from '../../../server/domain/secrets.ts';

import { subscribe } from '../../../server/domain/subscriptions/index.ts';
import { type Driver, drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';
import { admin, alice, bob, findEverywhere, liveKeys, makeApi, makeApp, makePlan, publisher, rowCounts, rowsOf, seedUsers } from '../../helpers/contract-fixtures.ts';

const digestOf = (value: string) => keyDigest(testPlatformKeys.digestKey, value);

type Handle = Awaited<ReturnType<typeof openTestDatabase>>;

const t0 = new Date('2030-01-01T00:00:00Z');
const later = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

describe.each(drivers)('api keys domain (%s)', (driver: Driver) => {
  let database: Handle;
  let db: Database;
  let clock = t0;
  const as = (actor: Actor, settings: Partial<DomainContext['settings']> = {}): DomainContext => {
    const ctx = domainContext(database, actor, () => clock);
    return { ...ctx, settings: { ...ctx.settings, ...settings } };
  };

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    db = database.db;
    await seedUsers(db);
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('createApiKey (v0.9)', () => {
    it('returns the generated value once, stores only digest and mask, and reports the remaining quota', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const issued = await createApiKey(as(alice), { apiId, displayName: 'My Production Key' });
      expect(issued.value).toMatch(/^apip_[0-9a-f]{64}$/);
      expect(issued.key).toMatchObject({
        name: 'my-production-key',
        displayName: 'My Production Key',
        masked: `***${issued.value.slice(-5)}`,
        status: 'active',
        owner: 'api',
        apiId,
        createdBy: 'alice',
        expiresAt: null,
        source: 'local',
      });
      expect(issued.remainingApiKeyQuota).toBe(9);
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, issued.key.id));
      expect(row?.digest).toBe(digestOf(issued.value));
      expect(await findEverywhere(db, issued.value)).toEqual([]);
      expect(await findEverywhere(db, issued.value.slice(10, 50))).toEqual([]);
      const listed = await listApiKeys(as(alice), { apiId }, allRows);
      expect(JSON.stringify(listed)).not.toContain(issued.value);
    });

    it('accepts the API handle and generates a name when none is given', async () => {
      const apiId = await makeApi(db);
      const [api] = await db.select().from(apis).where(eq(apis.id, apiId));
      const issued = await createApiKey(as(admin), { apiId: api!.handle });
      expect(issued.key.name).toMatch(/^key-[0-9a-f]{8}$/);
      expect(issued.key.apiId).toBe(apiId);
    });

    it.each(['ab', 'a'.repeat(64), 'Upper', 'has space', '-lead', 'trail-', 'dou--ble', 'under__score', 'dot.name'])(
      'refuses the name %j with ValidationError on name',
      async (name) => {
        const apiId = await makeApi(db);
        await expect(createApiKey(as(admin), { apiId, name })).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'name' }] });
      },
    );

    it('accepts names at both length bounds and returns ConflictError for a duplicate name on the same API', async () => {
      const apiId = await makeApi(db);
      await createApiKey(as(admin), { apiId, name: 'abc' });
      await createApiKey(as(admin), { apiId, name: `a${'-b'.repeat(31)}` });
      const before = await rowCounts(db);
      await expect(createApiKey(as(publisher), { apiId, name: 'abc' })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await rowCounts(db)).toEqual(before);
      await expect(createApiKey(as(admin), { apiId: await makeApi(db), name: 'abc' })).resolves.toBeDefined();
    });

    it('returns NotFound for an unknown API and for a private API a consumer may not see', async () => {
      await expect(createApiKey(as(admin), { apiId: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const hidden = await makeApi(db, { visibility: 'private' });
      await expect(createApiKey(as(alice), { apiId: hidden })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('custom values', () => {
    it.each(forbiddenCustomKeyCharacters.map((c) => [c]))('refuses a custom value containing %j', async (c) => {
      const apiId = await makeApi(db);
      const before = await rowCounts(db);
      await expect(createApiKey(as(admin), { apiId, apiKey: `abcd${c}efgh` })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'apiKey', message: expect.stringContaining(c === ' ' ? 'space' : `'${c}'`) }],
      });
      expect(await rowCounts(db)).toEqual(before);
    });

    it.each(['abcd"efgh', 'abcd<efgh', 'abcdéfgh', 'abcd\tefgh'])('refuses the non URL-safe value %j', async (value) => {
      await expect(createApiKey(as(admin), { apiId: await makeApi(db), apiKey: value })).rejects.toMatchObject({ code: 'VALIDATION' });
    });

    it('accepts 8 and 64 characters and refuses 7 and 65', async () => {
      const apiId = await makeApi(db);
      await expect(createApiKey(as(admin), { apiId, apiKey: 'k'.repeat(7) })).rejects.toMatchObject({ issues: [{ path: 'apiKey' }] });
      await expect(createApiKey(as(admin), { apiId, apiKey: 'k'.repeat(65) })).rejects.toMatchObject({ issues: [{ path: 'apiKey' }] });
      expect((await createApiKey(as(admin), { apiId, apiKey: 'k'.repeat(8) })).key.isCustom).toBe(true);
      expect((await createApiKey(as(admin), { apiId, apiKey: `${'K'.repeat(60)}-._!` })).value).toHaveLength(64);
    });

    it('returns ConflictError when the value is already used by any key, on any API', async () => {
      await createApiKey(as(admin), { apiId: await makeApi(db), apiKey: 'shared-custom-value' });
      await expect(createApiKey(as(admin), { apiId: await makeApi(db), apiKey: 'shared-custom-value' })).rejects.toMatchObject({ code: 'CONFLICT' });
    });
  });

  describe('expiry', () => {
    it('computes expiresAt from expiresIn for every unit', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const cases = [
        ['seconds', 30, later(30)],
        ['minutes', 2, later(120)],
        ['hours', 1, later(3600)],
        ['days', 1, later(86_400)],
        ['weeks', 1, later(604_800)],
        ['months', 1, new Date('2030-02-01T00:00:00Z')],
      ] as const;
      for (const [unit, duration, expected] of cases) {
        const issued = await createApiKey(as(admin), { apiId, expiresIn: { unit, duration } });
        expect(issued.key.expiresAt).toEqual(expected);
      }
    });

    it('refuses a past or present expiry, a non-positive duration, an unknown unit and both forms at once', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const before = await rowCounts(db);
      await expect(createApiKey(as(admin), { apiId, expiresAt: t0 })).rejects.toMatchObject({ issues: [{ path: 'expiresAt' }] });
      await expect(createApiKey(as(admin), { apiId, expiresAt: later(-1) })).rejects.toMatchObject({ issues: [{ path: 'expiresAt' }] });
      await expect(createApiKey(as(admin), { apiId, expiresIn: { unit: 'days', duration: 0 } })).rejects.toMatchObject({
        issues: [{ path: 'expiresIn.duration', message: expect.stringMatching(/future/) }],
      });
      await expect(createApiKey(as(admin), { apiId, expiresIn: { unit: 'days', duration: -3 } })).rejects.toMatchObject({ issues: [{ path: 'expiresIn.duration' }] });
      await expect(
        createApiKey(as(admin), { apiId, expiresIn: { unit: 'fortnights' as 'days', duration: 1 } }),
      ).rejects.toMatchObject({ issues: [{ path: 'expiresIn.unit' }] });
      await expect(createApiKey(as(admin), { apiId, expiresAt: later(60), expiresIn: { unit: 'days', duration: 1 } })).rejects.toMatchObject({
        issues: [{ path: 'expiresIn', message: expect.stringMatching(/not both/) }],
      });
      expect(await rowCounts(db)).toEqual(before);
    });

    it('reports a key as expired once the clock passes expiresAt and drops it from the data plane', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const issued = await createApiKey(as(admin), { apiId, expiresIn: { unit: 'minutes', duration: 1 } });
      expect((await liveKeys(db, clock)).map((k) => k.keyId)).toContain(issued.key.id);
      clock = later(60);
      expect((await getApiKey(as(admin), issued.key.id)).status).toBe('expired');
      expect((await listApiKeys(as(admin), { apiId, status: 'expired' }, allRows)).map((k) => k.id)).toEqual([issued.key.id]);
      expect(await listApiKeys(as(admin), { apiId, status: 'active' }, allRows)).toEqual([]);
      expect((await liveKeys(db, clock)).map((k) => k.keyId)).not.toContain(issued.key.id);
      clock = t0;
    });
  });

  describe('quota', () => {
    it('allows at most the configured number of active keys per user and API', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const q = { apiKeyQuotaPerUser: 2 };
      expect((await createApiKey(as(alice, q), { apiId })).remainingApiKeyQuota).toBe(1);
      const second = await createApiKey(as(alice, q), { apiId });
      expect(second.remainingApiKeyQuota).toBe(0);
      const before = await rowCounts(db);
      await expect(createApiKey(as(alice, q), { apiId })).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringContaining('quota'),
        issues: [{ path: 'apiKey' }],
      });
      expect(await rowCounts(db)).toEqual(before);
      // Another user and another API have their own quota.
      await expect(createApiKey(as(bob, q), { apiId })).resolves.toMatchObject({ remainingApiKeyQuota: 1 });
      await expect(createApiKey(as(alice, q), { apiId: await makeApi(db) })).resolves.toMatchObject({ remainingApiKeyQuota: 1 });
      // Revoking frees a slot.
      await revokeApiKey(as(alice), second.key.id);
      expect(await remainingApiKeyQuota(as(alice, q), apiId)).toBe(1);
      await expect(createApiKey(as(alice, q), { apiId })).resolves.toMatchObject({ remainingApiKeyQuota: 0 });
    });
  });

  describe('renew', () => {
    it('keeps the old value working until the grace period ends, then only the new one', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const issued = await createApiKey(as(admin), { apiId, name: 'rotating' });
      const renewed = await renewApiKey(as(admin, { apiKeyRenewGraceSeconds: 300 }), issued.key.id);
      expect(renewed.value).toMatch(/^apip_[0-9a-f]{64}$/);
      expect(renewed.value).not.toBe(issued.value);
      expect(renewed.key).toMatchObject({ name: 'rotating', status: 'active', apiId });
      const old = await getApiKey(as(admin), issued.key.id);
      expect(old).toMatchObject({ status: 'active', replacedById: renewed.key.id, expiresAt: later(300) });
      let digests = (await liveKeys(db, clock)).map((k) => k.digest);
      expect(digests).toEqual(expect.arrayContaining([digestOf(issued.value), digestOf(renewed.value)]));
      clock = later(299);
      expect((await liveKeys(db, clock)).map((k) => k.digest)).toContain(digestOf(issued.value));
      clock = later(300);
      digests = (await liveKeys(db, clock)).map((k) => k.digest);
      expect(digests).not.toContain(digestOf(issued.value));
      expect(digests).toContain(digestOf(renewed.value));
      expect((await getApiKey(as(admin), issued.key.id)).status).toBe('expired');
      // The current key of the name is the successor.
      expect((await listApiKeysForApis(as(admin), [apiId]))[0]!.map((k) => k.id)).toEqual([renewed.key.id]);
      expect(await findEverywhere(db, renewed.value)).toEqual([]);
      clock = t0;
    });

    it('stops the old value at once without grace, and an explicit grace overrides the setting', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const a = await createApiKey(as(admin), { apiId });
      await renewApiKey(as(admin, { apiKeyRenewGraceSeconds: 600 }), a.key.id, { graceSeconds: 0 });
      expect((await getApiKey(as(admin), a.key.id)).status).toBe('revoked');
      const b = await createApiKey(as(admin), { apiId });
      await renewApiKey(as(admin), b.key.id, { graceSeconds: 60 });
      expect((await getApiKey(as(admin), b.key.id)).expiresAt).toEqual(later(60));
    });

    it('takes a custom value, and refuses invalid input, revoked keys and already renewed keys', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const a = await createApiKey(as(admin), { apiId });
      await expect(renewApiKey(as(admin), a.key.id, { customValue: 'no/slash' })).rejects.toMatchObject({ issues: [{ path: 'customValue' }] });
      await expect(renewApiKey(as(admin), a.key.id, { graceSeconds: -1 })).rejects.toMatchObject({ issues: [{ path: 'graceSeconds' }] });
      await expect(renewApiKey(as(admin), a.key.id, { expiresAt: later(-5) })).rejects.toMatchObject({ issues: [{ path: 'expiresAt' }] });
      const renewed = await renewApiKey(as(admin), a.key.id, { customValue: 'renewed-custom-1', graceSeconds: 10 });
      expect(renewed).toMatchObject({ value: 'renewed-custom-1', key: { isCustom: true } });
      await expect(renewApiKey(as(admin), a.key.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      await revokeApiKey(as(admin), renewed.key.id);
      await expect(renewApiKey(as(admin), renewed.key.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'revoked' });
      // Revoking the successor also ends the predecessor's grace period.
      expect((await getApiKey(as(admin), a.key.id)).status).toBe('revoked');
    });
  });

  describe('regenerate and revoke by name (v0.9)', () => {
    it('replaces the value in place, keeping name and id', async () => {
      const apiId = await makeApi(db);
      const a = await createApiKey(as(alice), { apiId, name: 'in-place' });
      const regenerated = await regenerateApiKey(as(alice), apiId, 'in-place');
      expect(regenerated.key).toMatchObject({ id: a.key.id, name: 'in-place' });
      expect(regenerated.value).not.toBe(a.value);
      expect(regenerated.remainingApiKeyQuota).toBe(9);
      const digests = (await liveKeys(db, clock)).map((k) => k.digest);
      expect(digests).not.toContain(digestOf(a.value));
      expect(digests).toContain(digestOf(regenerated.value));
      // A custom value replaces only a value the client brought (source external), as in the reference.
      await expect(regenerateApiKey(as(alice), apiId, 'in-place', { customValue: 'put-custom-value' })).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringMatching(/^operation not allowed: updates are only allowed for externally generated API keys/),
      });
      await createApiKey(as(alice), { apiId, name: 'brought', apiKey: 'brought-custom-value' });
      const custom = await regenerateApiKey(as(alice), apiId, 'brought', { customValue: 'put-custom-value' });
      expect(custom.key).toMatchObject({ masked: '***value', isCustom: true, source: 'external' });
      await expect(regenerateApiKey(as(alice), apiId, 'missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(regenerateApiKey(as(bob), apiId, 'in-place')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(regenerateApiKey(as(alice), apiId, 'in-place', { customValue: 'x' })).rejects.toMatchObject({ code: 'VALIDATION' });
    });

    it('revokes idempotently by name: an unknown or already revoked name changes nothing (null)', async () => {
      const apiId = await makeApi(db);
      await createApiKey(as(admin), { apiId, name: 'to-revoke' });
      expect(await revokeApiKeyByName(as(admin), apiId, 'to-revoke')).toMatchObject({ status: 'revoked' });
      expect(await revokeApiKeyByName(as(admin), apiId, 'to-revoke')).toBeNull();
      expect(await revokeApiKeyByName(as(admin), apiId, 'never-was')).toBeNull();
      // The name is free again once revoked.
      await expect(createApiKey(as(admin), { apiId, name: 'to-revoke' })).resolves.toBeDefined();
    });
  });

  describe('authorization', () => {
    it("hides another consumer's keys (NotFound, not listed) while publishers read all, masked", async () => {
      const apiId = await makeApi(db);
      const mine = await createApiKey(as(alice), { apiId });
      const theirs = await createApiKey(as(bob), { apiId });
      await expect(getApiKey(as(alice), theirs.key.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(revokeApiKey(as(alice), theirs.key.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(renewApiKey(as(alice), theirs.key.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await listApiKeys(as(alice), { apiId }, allRows)).map((k) => k.id)).toEqual([mine.key.id]);
      expect((await listApiKeys(as(publisher), { apiId }, allRows)).map((k) => k.id)).toEqual([mine.key.id, theirs.key.id]);
      expect((await listApiKeys(as(admin), { apiId, createdById: bob.userId! }, allRows)).map((k) => k.id)).toEqual([theirs.key.id]);
    });

    it('lets a publisher renew and revoke exclusive and v0.9 keys but not a shared key, which its owner may', async () => {
      const apiA = await makeApi(db);
      const apiB = await makeApi(db);
      const appId = await makeApp(db, alice);
      const first = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, apiA) });
      const second = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, apiB), apiKeyMode: 'SHARED' });
      const sharedId = first.issuedKey!.key.id;
      const before = await rowCounts(db);
      await expect(renewApiKey(as(publisher), sharedId)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(revokeApiKey(as(publisher), sharedId)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await rowCounts(db)).toEqual(before);
      expect((await getApiKey(as(publisher), sharedId)).masked).toBe(`***${first.issuedKey!.value.slice(-5)}`);
      // Both subscriptions list the shared key; the application exposes it.
      const keys = await listApiKeysForSubscriptions(as(alice), [first.subscription.id, second.subscription.id]);
      expect(keys.map((k) => k.map((x) => x.id))).toEqual([[sharedId], [sharedId]]);
      expect((await loadSharedKeysForApplications(as(alice), [appId]))[0]?.id).toBe(sharedId);
      const renewed = await renewApiKey(as(alice), sharedId);
      expect(renewed.key).toMatchObject({ owner: 'application', applicationId: appId });
      expect((await loadSharedKeysForApplications(as(alice), [appId]))[0]?.id).toBe(renewed.key.id);
      expect(await revokeApiKey(as(alice), renewed.key.id)).toMatchObject({ status: 'revoked' });

      const exclusive = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId: await makePlan(db, apiA) });
      const renewedExclusive = await renewApiKey(as(publisher), exclusive.issuedKey!.key.id);
      expect(renewedExclusive.key.subscriptionId).toBe(exclusive.subscription.id);
      expect(await revokeApiKey(as(publisher), renewedExclusive.key.id)).toMatchObject({ status: 'revoked' });
      const v09 = await createApiKey(as(bob), { apiId: apiA });
      expect(await revokeApiKey(as(publisher), v09.key.id)).toMatchObject({ status: 'revoked' });
    });
  });

  describe('keys in the deployment model', () => {
    it('lists v0.9 keys on their API and exclusive keys with their subscription and plan, only while accepted and in dates', async () => {
      clock = t0;
      const apiId = await makeApi(db);
      const planId = await makePlan(db, apiId);
      const appId = await makeApp(db, alice);
      const sub = await subscribe(as(alice), { applicationId: appId, planId, endingAt: later(3600) });
      const v09 = await createApiKey(as(admin), { apiId });
      const all = await liveKeys(db, clock);
      expect(all.find((k) => k.keyId === sub.issuedKey!.key.id)).toEqual({
        keyId: sub.issuedKey!.key.id,
        digest: digestOf(sub.issuedKey!.value),
        expiresAt: later(3600),
        owner: 'subscription',
        apiIds: [apiId],
        grants: [{ apiId, subscriptionId: sub.subscription.id, planId }],
        applicationId: appId,
        subscriptionId: sub.subscription.id,
        planId,
      });
      expect(all.find((k) => k.keyId === v09.key.id)).toMatchObject({ owner: 'api', apiIds: [apiId], subscriptionId: null, planId: null });
      const revoked = await createApiKey(as(admin), { apiId });
      await revokeApiKey(as(admin), revoked.key.id);
      expect((await liveKeys(db, clock)).map((k) => k.keyId)).not.toContain(revoked.key.id);
      expect((await liveKeys(db, later(3600))).map((k) => k.keyId)).not.toContain(sub.issuedKey!.key.id);
    });
  });

  it('writes audit entries for key changes that hold neither the value nor its digest', async () => {
    clock = t0;
    const apiId = await makeApi(db);
    const issued = await createApiKey(as(admin), { apiId, apiKey: 'audited-value-1' });
    const renewed = await renewApiKey(as(admin), issued.key.id, { graceSeconds: 5 });
    const regenerated = await regenerateApiKey(as(admin), apiId, issued.key.name);
    await revokeApiKey(as(admin), regenerated.key.id);
    const entries = rowsOf(await db.execute(sql`select action, coalesce(before::text, '') || coalesce(after::text, '') as body from audit_log where entity_type = 'api-key'`));
    expect(entries.length).toBeGreaterThan(3);
    for (const secret of [issued.value, renewed.value, regenerated.value]) {
      for (const e of entries) {
        expect(String(e.body)).not.toContain(secret);
        expect(String(e.body)).not.toContain(digestOf(secret));
      }
    }
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['api-key.create', 'api-key.renew', 'api-key.regenerate', 'api-key.revoke']));
  });
});
