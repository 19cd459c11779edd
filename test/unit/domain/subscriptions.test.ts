import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../server/db/client.ts';
import { apiKeys, apis, applications, subscriptionPlans, subscriptions } from '../../../server/db/schema/index.ts';
import { getApiKey, revokeApiKey } from '../../../server/domain/api-keys/index.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { newId } from '../../../server/domain/ids.ts';
import { allRows } from '../../../server/domain/pagination.ts';
import { keyDigest } from '../../../server/domain/secrets.ts';

import {
  approveSubscription,
  closeSubscription,
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  listSubscriptionsForApplications,
  listSubscriptionsForPlans,
  loadSubscriptions,
  pauseSubscription,
  rejectSubscription,
  resumeSubscription,
  subscribe,
  transferSubscription,
  updateSubscription,
} from '../../../server/domain/subscriptions/index.ts';
import { type Driver, drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';
import { admin, alice, bob, findEverywhere, liveKeys, makeApi, makeApp, makePlan, nextCounter, publisher, rowCounts, rowsOf, seedUsers } from '../../helpers/contract-fixtures.ts';

const digestOf = (value: string) => keyDigest(testPlatformKeys.digestKey, value);

type Handle = Awaited<ReturnType<typeof openTestDatabase>>;

describe.each(drivers)('subscriptions domain (%s)', (driver: Driver) => {
  let database: Handle;
  let db: Database;
  let clock = new Date('2030-01-01T00:00:00Z');
  const as = (actor: Actor): DomainContext => domainContext(database, actor, () => clock);

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    db = database.db;
    await seedUsers(db);
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('subscribe', () => {
    it('accepts at once and issues a generated key when the plan is AUTO with API-key security', async () => {
      const apiId = await makeApi(db);
      const planId = await makePlan(db, apiId);
      const appId = await makeApp(db, alice);
      const result = await subscribe(as(alice), { applicationId: appId, planId });
      expect(result.subscription).toMatchObject({ status: 'ACCEPTED', apiId, planId, applicationId: appId, usesSharedKey: false });
      expect(result.subscription.processedAt).toEqual(clock);
      expect(result.issuedKey?.value).toMatch(/^apip_[0-9a-f]{64}$/);
      expect(result.issuedKey?.key).toMatchObject({ owner: 'subscription', subscriptionId: result.subscription.id, status: 'active' });
      expect(result.issuedKey?.key.masked).toBe(`***${result.issuedKey!.value.slice(-5)}`);
      const [stored] = await db.select().from(apiKeys).where(eq(apiKeys.id, result.issuedKey!.key.id));
      expect(stored?.digest).toBe(digestOf(result.issuedKey!.value));
    });

    it('stores the clear key in no column of any table (audit included) when a key is issued', async () => {
      const apiId = await makeApi(db);
      const planId = await makePlan(db, apiId);
      const { issuedKey } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId });
      expect(await findEverywhere(db, issuedKey!.value)).toEqual([]);
      expect(await findEverywhere(db, issuedKey!.value.slice(5, 40))).toEqual([]);
    });

    it('issues no key when the plan is JWT', async () => {
      const apiId = await makeApi(db);
      const planId = await makePlan(db, apiId, { security: 'JWT' });
      const result = await subscribe(as(admin), { applicationId: await makeApp(db, alice, { clientId: `client-${nextCounter()}` }), planId });
      expect(result.subscription.status).toBe('ACCEPTED');
      expect(result.issuedKey).toBeNull();
    });

    it.each(['STAGING', 'DEPRECATED', 'CLOSED'] as const)('refuses with InvalidTransitionError when the plan is %s', async (status) => {
      const apiId = await makeApi(db);
      const planId = await makePlan(db, apiId, { status });
      const before = await rowCounts(db);
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId })).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
        from: status,
      });
      const after = await rowCounts(db);
      expect({ ...after, applications: before.applications }).toEqual(before);
    });

    it('refuses with InvalidTransitionError when the plan is KEYLESS (it needs no subscription)', async () => {
      const planId = await makePlan(db, await makeApi(db), { security: 'KEYLESS' });
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    });

    it('hides STAGING plans from consumers (NotFound) when a consumer subscribes', async () => {
      const planId = await makePlan(db, await makeApi(db), { status: 'STAGING' });
      await expect(subscribe(as(alice), { applicationId: await makeApp(db, alice), planId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('refuses with ValidationError on planId when the plan belongs to another API', async () => {
      const planId = await makePlan(db, await makeApi(db));
      const otherApi = await makeApi(db);
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, apiId: otherApi })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'planId' }],
      });
    });

    it('returns NotFound when the plan or application does not exist', async () => {
      const planId = await makePlan(db, await makeApi(db));
      await expect(subscribe(as(admin), { applicationId: 'app_missing', planId })).rejects.toMatchObject({ code: 'NOT_FOUND', entity: 'Application' });
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId: 'pln_missing' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
        entity: 'Plan',
      });
    });

    it("returns NotFound when a consumer subscribes another consumer's application", async () => {
      const planId = await makePlan(db, await makeApi(db));
      const bobsApp = await makeApp(db, bob);
      await expect(subscribe(as(alice), { applicationId: bobsApp, planId })).rejects.toMatchObject({ code: 'NOT_FOUND', entity: 'Application' });
    });

    it('hides private APIs from consumers without a subscription to them', async () => {
      const planId = await makePlan(db, await makeApi(db, { visibility: 'private' }));
      const appId = await makeApp(db, alice);
      await expect(subscribe(as(alice), { applicationId: appId, planId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(subscribe(as(publisher), { applicationId: appId, planId })).resolves.toMatchObject({ subscription: { status: 'ACCEPTED' } });
    });

    it('returns ConflictError when the application already has a live subscription to the plan, and allows one after closing', async () => {
      const planId = await makePlan(db, await makeApi(db));
      const appId = await makeApp(db, alice);
      const first = await subscribe(as(alice), { applicationId: appId, planId });
      const before = await rowCounts(db);
      await expect(subscribe(as(alice), { applicationId: appId, planId })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await rowCounts(db)).toEqual(before);
      await closeSubscription(as(alice), first.subscription.id);
      await expect(subscribe(as(alice), { applicationId: appId, planId })).resolves.toMatchObject({ subscription: { status: 'ACCEPTED' } });
    });

    it('refuses a contract with an API that is not deployed, for admins and publishers as for consumers', async () => {
      const apiId = await makeApi(db, { deploymentState: 'undeployed' });
      const planId = await makePlan(db, apiId);
      const appId = await makeApp(db, alice);
      const before = await rowCounts(db);
      for (const actor of [admin, publisher]) {
        await expect(subscribe(as(actor), { applicationId: appId, planId })).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: 'planId', message: expect.stringMatching(/not deployed/) }],
        });
      }
      await expect(subscribe(as(alice), { applicationId: appId, planId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await rowCounts(db)).toEqual(before);
    });

    it.each(['JWT', 'OAUTH2'] as const)('refuses a %s plan for an application without a clientId (ValidationError on applicationId)', async (security) => {
      const planId = await makePlan(db, await makeApi(db), { security });
      const appId = await makeApp(db, alice);
      const before = await rowCounts(db);
      for (const actor of [admin, alice]) {
        await expect(subscribe(as(actor), { applicationId: appId, planId })).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: 'applicationId', message: expect.stringMatching(/clientId/) }],
        });
      }
      expect(await rowCounts(db)).toEqual(before);
      const withClient = await makeApp(db, alice, { clientId: `client-${security}-${nextCounter()}` });
      await expect(subscribe(as(alice), { applicationId: withClient, planId })).resolves.toMatchObject({ subscription: { status: 'ACCEPTED' } });
    });

    it('validates dates and the request message with field paths', async () => {
      const planId = await makePlan(db, await makeApi(db));
      await expect(
        subscribe(as(admin), {
          applicationId: await makeApp(db, alice),
          planId,
          startingAt: new Date('2031-01-01T00:00:00Z'),
          endingAt: new Date('2029-01-01T00:00:00Z'),
          requestMessage: 'x'.repeat(2001),
        }),
      ).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'endingAt' }, { path: 'endingAt' }, { path: 'requestMessage' }] });
    });
  });

  describe('custom keys', () => {
    it('issues the given value when a custom key is valid', async () => {
      const planId = await makePlan(db, await makeApi(db));
      const result = await subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, customApiKey: 'my-Custom_key.01' });
      expect(result.issuedKey).toMatchObject({ value: 'my-Custom_key.01', key: { isCustom: true, masked: '***ey.01' } });
    });

    it('returns ConflictError and writes nothing when the custom value is already used by any key', async () => {
      const planId = await makePlan(db, await makeApi(db));
      await subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, customApiKey: 'taken-value-1' });
      const otherPlan = await makePlan(db, await makeApi(db));
      const appId = await makeApp(db, alice);
      const before = await rowCounts(db);
      await expect(subscribe(as(admin), { applicationId: appId, planId: otherPlan, customApiKey: 'taken-value-1' })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await rowCounts(db)).toEqual(before);
    });

    it('refuses a custom key on a plan that is not API-key', async () => {
      const planId = await makePlan(db, await makeApi(db), { security: 'OAUTH2' });
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, customApiKey: 'abcdefgh' })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'customApiKey' }],
      });
    });

    it('refuses an invalid custom key with ValidationError on customApiKey', async () => {
      const planId = await makePlan(db, await makeApi(db));
      await expect(subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, customApiKey: 'bad key1' })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'customApiKey' }],
      });
    });
  });

  describe('MANUAL approval', () => {
    it('waits in PENDING without a key, then issues one on approval by a publisher', async () => {
      const planId = await makePlan(db, await makeApi(db), { validation: 'MANUAL' });
      const appId = await makeApp(db, alice);
      const pending = await subscribe(as(alice), { applicationId: appId, planId, requestMessage: 'please' });
      expect(pending).toMatchObject({ subscription: { status: 'PENDING', requestMessage: 'please', processedAt: null }, issuedKey: null });
      expect(await liveKeys(db, clock)).not.toContainEqual(expect.objectContaining({ subscriptionId: pending.subscription.id }));

      await expect(approveSubscription(as(alice), pending.subscription.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(approveSubscription(as(bob), pending.subscription.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });

      const approved = await approveSubscription(as(publisher), pending.subscription.id, { reason: 'ok', customApiKey: 'approved-key-1' });
      expect(approved.subscription).toMatchObject({ status: 'ACCEPTED', reason: 'ok', processedById: publisher.userId, startingAt: clock });
      expect(approved.issuedKey?.value).toBe('approved-key-1');
      const digests = await liveKeys(db, clock);
      expect(digests).toContainEqual(expect.objectContaining({ digest: digestOf('approved-key-1'), apiIds: [pending.subscription.apiId], planId }));

      await expect(approveSubscription(as(publisher), pending.subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'ACCEPTED' });
      await expect(rejectSubscription(as(publisher), pending.subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    });

    it('rejects a PENDING subscription with a reason and then refuses to approve it', async () => {
      const planId = await makePlan(db, await makeApi(db), { validation: 'MANUAL' });
      const { subscription } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId });
      await expect(rejectSubscription(as(alice), subscription.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      const rejected = await rejectSubscription(as(admin), subscription.id, { reason: 'no' });
      expect(rejected).toMatchObject({ status: 'REJECTED', reason: 'no', processedById: admin.userId });
      await expect(approveSubscription(as(admin), subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'REJECTED' });
    });

    it('keeps a custom key given at subscription inactive until approval, and revokes it on rejection', async () => {
      const planId = await makePlan(db, await makeApi(db), { validation: 'MANUAL' });
      const { subscription, issuedKey } = await subscribe(as(admin), { applicationId: await makeApp(db, alice), planId, customApiKey: 'pending-key-1' });
      expect(issuedKey?.value).toBe('pending-key-1');
      expect((await liveKeys(db, clock)).map((k) => k.digest)).not.toContain(digestOf('pending-key-1'));
      await rejectSubscription(as(admin), subscription.id);
      expect((await getApiKey(as(admin), issuedKey!.key.id)).status).toBe('revoked');
    });
  });

  describe('pause, resume, close', () => {
    it('moves ACCEPTED -> PAUSED -> ACCEPTED and refuses the wrong way round', async () => {
      const planId = await makePlan(db, await makeApi(db));
      const { subscription, issuedKey } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId });
      await expect(resumeSubscription(as(admin), subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'ACCEPTED' });
      await expect(pauseSubscription(as(alice), subscription.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await pauseSubscription(as(publisher), subscription.id)).toMatchObject({ status: 'PAUSED' });
      expect((await liveKeys(db, clock)).map((k) => k.keyId)).not.toContain(issuedKey!.key.id);
      await expect(pauseSubscription(as(publisher), subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'PAUSED' });
      expect(await resumeSubscription(as(publisher), subscription.id)).toMatchObject({ status: 'ACCEPTED' });
      expect((await liveKeys(db, clock)).map((k) => k.keyId)).toContain(issuedKey!.key.id);
    });

    it('closes any live subscription, revokes the keys it owns, and refuses closing twice', async () => {
      const planId = await makePlan(db, await makeApi(db));
      const { subscription, issuedKey } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId });
      await expect(closeSubscription(as(bob), subscription.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const closed = await closeSubscription(as(alice), subscription.id, { reason: 'done' });
      expect(closed).toMatchObject({ status: 'CLOSED', reason: 'done', closedAt: clock });
      expect((await getApiKey(as(alice), issuedKey!.key.id)).status).toBe('revoked');
      await expect(closeSubscription(as(admin), subscription.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', from: 'CLOSED' });
    });
  });

  describe('transfer', () => {
    it('moves to another PUBLISHED plan of the same API with the same security, keeping the key', async () => {
      const apiId = await makeApi(db);
      const from = await makePlan(db, apiId);
      const to = await makePlan(db, apiId);
      const { subscription, issuedKey } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId: from });
      const moved = await transferSubscription(as(publisher), subscription.id, { planId: to });
      expect(moved).toMatchObject({ planId: to, status: 'ACCEPTED' });
      expect(await liveKeys(db, clock)).toContainEqual(expect.objectContaining({ keyId: issuedKey!.key.id, planId: to }));
    });

    it('refuses other security types, other APIs, the same plan, non-published plans and consumers', async () => {
      const apiId = await makeApi(db);
      const from = await makePlan(db, apiId);
      const jwt = await makePlan(db, apiId, { security: 'JWT' });
      const staging = await makePlan(db, apiId, { status: 'STAGING' });
      const elsewhere = await makePlan(db, await makeApi(db));
      const { subscription } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId: from });
      const before = await rowCounts(db);
      await expect(transferSubscription(as(admin), subscription.id, { planId: jwt })).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'planId' }] });
      await expect(transferSubscription(as(admin), subscription.id, { planId: elsewhere })).rejects.toMatchObject({ code: 'VALIDATION' });
      await expect(transferSubscription(as(admin), subscription.id, { planId: from })).rejects.toMatchObject({ code: 'VALIDATION' });
      await expect(transferSubscription(as(admin), subscription.id, { planId: staging })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      await expect(transferSubscription(as(admin), subscription.id, { planId: 'pln_missing' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(transferSubscription(as(alice), subscription.id, { planId: staging })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await rowCounts(db)).toEqual(before);
    });

    it('returns ConflictError when the application already holds the target plan', async () => {
      const apiId = await makeApi(db);
      const a = await makePlan(db, apiId);
      const b = await makePlan(db, apiId);
      const appId = await makeApp(db, alice);
      const first = await subscribe(as(admin), { applicationId: appId, planId: a });
      await subscribe(as(admin), { applicationId: appId, planId: b, apiKeyMode: 'EXCLUSIVE' });
      await expect(transferSubscription(as(admin), first.subscription.id, { planId: b })).rejects.toMatchObject({ code: 'CONFLICT' });
    });
  });

  describe('shared keys (seed 000)', () => {
    it('makes the first key the application key and reuses it on a second API when SHARED is chosen', async () => {
      const apiA = await makeApi(db);
      const apiB = await makeApi(db);
      const planA = await makePlan(db, apiA);
      const planB = await makePlan(db, apiB);
      const appId = await makeApp(db, alice);
      const first = await subscribe(as(alice), { applicationId: appId, planId: planA });
      const second = await subscribe(as(alice), { applicationId: appId, planId: planB, apiKeyMode: 'SHARED' });
      expect(second.issuedKey).toBeNull();
      expect(second.subscription.usesSharedKey).toBe(true);
      const [app] = await db.select().from(applications).where(eq(applications.id, appId));
      expect(app?.apiKeyMode).toBe('SHARED');
      const key = await getApiKey(as(alice), first.issuedKey!.key.id);
      expect(key).toMatchObject({ owner: 'application', applicationId: appId, subscriptionId: null, status: 'active' });
      const entry = (await liveKeys(db, clock)).find((k) => k.keyId === key.id);
      expect(entry).toMatchObject({ digest: digestOf(first.issuedKey!.value), owner: 'application', apiIds: [apiA, apiB].sort() });
      expect(await getSubscription(as(alice), first.subscription.id)).toMatchObject({ usesSharedKey: true });

      // A third API reuses it too; an API where it is already used gets an exclusive key.
      const apiC = await makeApi(db);
      const third = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, apiC) });
      expect(third.issuedKey).toBeNull();
      const onA = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, apiA) });
      expect(onA.issuedKey?.key.owner).toBe('subscription');
      expect(onA.subscription.usesSharedKey).toBe(false);

      // The mode cannot change afterwards.
      await expect(
        subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db)), apiKeyMode: 'EXCLUSIVE' }),
      ).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'apiKeyMode' }] });

      // Closing a subscription that uses the shared key leaves the key working for the others.
      await closeSubscription(as(alice), second.subscription.id);
      expect((await getApiKey(as(alice), key.id)).status).toBe('active');
      expect((await liveKeys(db, clock)).find((k) => k.keyId === key.id)?.apiIds).toEqual([apiA, apiC].sort());
    });

    it('refuses a publisher revoking the shared key and lets the owner revoke it', async () => {
      const appId = await makeApp(db, alice);
      const first = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db)) });
      await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db)), apiKeyMode: 'SHARED' });
      const keyId = first.issuedKey!.key.id;
      await expect(revokeApiKey(as(publisher), keyId)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(revokeApiKey(as(bob), keyId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await revokeApiKey(as(alice), keyId)).toMatchObject({ status: 'revoked' });
    });

    it('uses EXCLUSIVE without a choice when both subscriptions are on the same API, and refuses SHARED there', async () => {
      const apiId = await makeApi(db);
      const appId = await makeApp(db, alice);
      await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, apiId) });
      const planB = await makePlan(db, apiId);
      await expect(subscribe(as(alice), { applicationId: appId, planId: planB, apiKeyMode: 'SHARED' })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'apiKeyMode' }],
      });
      const second = await subscribe(as(alice), { applicationId: appId, planId: planB });
      expect(second.issuedKey?.key.owner).toBe('subscription');
      const [app] = await db.select().from(applications).where(eq(applications.id, appId));
      expect(app?.apiKeyMode).toBe('EXCLUSIVE');
    });

    it('defaults to EXCLUSIVE on distinct APIs when no mode is given', async () => {
      const appId = await makeApp(db, alice);
      await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db)) });
      const second = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db)) });
      expect(second.issuedKey?.key.owner).toBe('subscription');
      const [app] = await db.select().from(applications).where(eq(applications.id, appId));
      expect(app?.apiKeyMode).toBe('EXCLUSIVE');
    });

    it('issues a new shared key at the first acceptance when SHARED was chosen while both were pending', async () => {
      const appId = await makeApp(db, alice);
      const p1 = await subscribe(as(alice), { applicationId: appId, planId: await makePlan(db, await makeApi(db), { validation: 'MANUAL' }) });
      const p2 = await subscribe(as(alice), {
        applicationId: appId,
        planId: await makePlan(db, await makeApi(db), { validation: 'MANUAL' }),
        apiKeyMode: 'SHARED',
      });
      const a1 = await approveSubscription(as(admin), p1.subscription.id);
      expect(a1.issuedKey?.key.owner).toBe('application');
      const a2 = await approveSubscription(as(admin), p2.subscription.id);
      expect(a2.issuedKey).toBeNull();
      expect(a2.subscription.usesSharedKey).toBe(true);
    });
  });

  describe('v0.9 subscriptions', () => {
    it('stores the token only as its SHA-256 and refuses the same token twice on one API', async () => {
      const apiId = await makeApi(db);
      const created = await createSubscription(as(admin), { apiId, subscriptionToken: 'sub-token-abc123xyz', applicationId: 'ext-app', billingCustomerId: 'cus_1' });
      expect(created).toMatchObject({ status: 'ACCEPTED', hasToken: true, applicationRef: 'ext-app', applicationId: null, planId: null, billingCustomerId: 'cus_1' });
      expect(await findEverywhere(db, 'sub-token-abc123xyz')).toEqual([]);
      const [row] = await db.select().from(subscriptions).where(eq(subscriptions.id, created.id));
      expect(row?.tokenHash).toBe(digestOf('sub-token-abc123xyz'));
      const before = await rowCounts(db);
      await expect(createSubscription(as(admin), { apiId, subscriptionToken: 'sub-token-abc123xyz' })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await rowCounts(db)).toEqual(before);
      await expect(createSubscription(as(admin), { apiId: await makeApi(db), subscriptionToken: 'sub-token-abc123xyz' })).resolves.toBeDefined();
    });

    it('accepts the API handle as apiId and refuses consumers', async () => {
      const apiId = await makeApi(db);
      const [api] = await db.select().from(apis).where(eq(apis.id, apiId));
      await expect(createSubscription(as(publisher), { apiId: api!.handle, subscriptionToken: 'by-handle' })).resolves.toMatchObject({ apiId });
      await expect(createSubscription(as(alice), { apiId, subscriptionToken: 'by-consumer' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(createSubscription(as(admin), { apiId: 'no-such-api', subscriptionToken: 't' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('requires the subscription plan to exist, be ACTIVE and be offered by the API', async () => {
      const tag = nextCounter();
      const gold = newId('subscriptionPlan');
      const silver = newId('subscriptionPlan');
      const bronze = newId('subscriptionPlan');
      await db.insert(subscriptionPlans).values([
        { id: gold, planName: `Gold-${tag}` },
        { id: silver, planName: `Silver-${tag}` },
        { id: bronze, planName: `Bronze-${tag}`, status: 'INACTIVE' },
      ]);
      const apiId = await makeApi(db, { subscriptionPlanNames: [`Gold-${tag}`, `Bronze-${tag}`] });
      await expect(createSubscription(as(admin), { apiId, subscriptionToken: 't1', subscriptionPlanId: 'spl_missing' })).rejects.toMatchObject({
        code: 'VALIDATION',
        issues: [{ path: 'subscriptionPlanId', message: expect.stringContaining('spl_missing') }],
      });
      await expect(createSubscription(as(admin), { apiId, subscriptionToken: 't2', subscriptionPlanId: bronze })).rejects.toMatchObject({
        issues: [{ message: expect.stringContaining('not ACTIVE') }],
      });
      await expect(createSubscription(as(admin), { apiId, subscriptionToken: 't3', subscriptionPlanId: silver })).rejects.toMatchObject({
        issues: [{ message: expect.stringContaining(`Silver-${tag}`) }],
      });
      await expect(createSubscription(as(admin), { apiId, subscriptionToken: 't4', subscriptionPlanId: gold })).resolves.toMatchObject({ subscriptionPlanId: gold });
      const anyPlanApi = await makeApi(db);
      await expect(createSubscription(as(admin), { apiId: anyPlanApi, subscriptionToken: 't5', subscriptionPlanId: silver })).resolves.toBeDefined();
    });

    it('updates fields and status, then deletes', async () => {
      const apiId = await makeApi(db);
      const created = await createSubscription(as(admin), { apiId, subscriptionToken: 'upd-1' });
      const paused = await updateSubscription(as(admin), created.id, { status: 'PAUSED', billingSubscriptionId: 'bs_1' });
      expect(paused).toMatchObject({ status: 'PAUSED', billingSubscriptionId: 'bs_1' });
      expect(await updateSubscription(as(admin), created.id, { status: 'ACCEPTED' })).toMatchObject({ status: 'ACCEPTED', closedAt: null });
      await expect(updateSubscription(as(admin), created.id, { status: 'PENDING' })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      await createSubscription(as(admin), { apiId, subscriptionToken: 'upd-2' });
      await expect(updateSubscription(as(admin), created.id, { subscriptionToken: 'upd-2' })).rejects.toMatchObject({ code: 'CONFLICT' });
      await deleteSubscription(as(admin), created.id);
      await expect(getSubscription(as(admin), created.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(deleteSubscription(as(admin), created.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('moves a contract along its lifecycle only when updated', async () => {
      const { subscription } = await subscribe(as(admin), { applicationId: await makeApp(db, alice), planId: await makePlan(db, await makeApi(db)) });
      expect(await updateSubscription(as(admin), subscription.id, { status: 'PAUSED' })).toMatchObject({ status: 'PAUSED' });
      await expect(updateSubscription(as(admin), subscription.id, { status: 'REJECTED' })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      expect(await updateSubscription(as(admin), subscription.id, { status: 'CLOSED' })).toMatchObject({ status: 'CLOSED' });
    });
  });

  describe('reads', () => {
    it("lists only a consumer's own applications' subscriptions and hides others' as NotFound", async () => {
      const planId = await makePlan(db, await makeApi(db));
      const mine = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId });
      const theirs = await subscribe(as(bob), { applicationId: await makeApp(db, bob), planId });
      const aliceSees = await listSubscriptions(as(alice), { planId }, allRows);
      expect(aliceSees.map((s) => s.id)).toEqual([mine.subscription.id]);
      expect((await listSubscriptions(as(publisher), { planId }, allRows)).map((s) => s.id)).toEqual([mine.subscription.id, theirs.subscription.id]);
      await expect(getSubscription(as(alice), theirs.subscription.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await loadSubscriptions(as(alice), [theirs.subscription.id, mine.subscription.id])).toEqual([null, mine.subscription]);
    });

    it('filters by API, application, plan and status and pages by id', async () => {
      const apiId = await makeApi(db);
      const planA = await makePlan(db, apiId);
      const planB = await makePlan(db, apiId, { validation: 'MANUAL' });
      const appId = await makeApp(db, alice);
      const a = await subscribe(as(admin), { applicationId: appId, planId: planA });
      const b = await subscribe(as(admin), { applicationId: appId, planId: planB });
      expect((await listSubscriptions(as(admin), { apiId }, allRows)).map((s) => s.id)).toEqual([a.subscription.id, b.subscription.id]);
      expect((await listSubscriptions(as(admin), { apiId, status: 'PENDING' }, allRows)).map((s) => s.id)).toEqual([b.subscription.id]);
      expect((await listSubscriptions(as(admin), { applicationId: appId, planId: planA }, allRows)).map((s) => s.id)).toEqual([a.subscription.id]);
      expect((await listSubscriptions(as(admin), { apiId }, { limit: 1, inverted: false, after: a.subscription.id })).map((s) => s.id)).toEqual([b.subscription.id]);
      expect(await listSubscriptions(as(admin), { apiId: 'no-such-api' }, allRows)).toEqual([]);
    });

    it('batch-loads subscriptions per plan and per application in the order asked', async () => {
      const apiId = await makeApi(db);
      const p1 = await makePlan(db, apiId);
      const p2 = await makePlan(db, apiId);
      const app1 = await makeApp(db, alice);
      const s1 = await subscribe(as(admin), { applicationId: app1, planId: p1 });
      const s2 = await subscribe(as(admin), { applicationId: app1, planId: p2 });
      const grouped = await listSubscriptionsForPlans(as(admin), [p2, 'pln_none', p1]);
      expect(grouped.map((g) => g.map((s) => s.id))).toEqual([[s2.subscription.id], [], [s1.subscription.id]]);
      const byApp = await listSubscriptionsForApplications(as(bob), [app1]);
      expect(byApp).toEqual([[]]);
    });
  });

  it('records audit entries without secrets for every change', async () => {
    clock = new Date('2030-02-01T00:00:00Z');
    const { subscription, issuedKey } = await subscribe(as(alice), { applicationId: await makeApp(db, alice), planId: await makePlan(db, await makeApi(db)) });
    const entries = rowsOf(await db.execute(sql`select action, before::text as b, after::text as a from audit_log where entity_id in (${subscription.id}, ${issuedKey!.key.id}) order by id`));
    expect(entries.map((e) => e.action)).toEqual(['subscription.create', 'api-key.create']);
    for (const e of entries) {
      expect(`${String(e.b)}${String(e.a)}`).not.toContain(issuedKey!.value);
      expect(`${String(e.b)}${String(e.a)}`).not.toContain(digestOf(issuedKey!.value));
    }
  });
});
