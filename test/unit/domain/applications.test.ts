import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { apiKeys, apis, applications, auditLog, subscriptions } from '../../../server/db/schema/index.ts';
import {
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  loadApplicationOwners,
  loadApplications,
  setApiKeyMode,
  updateApplication,
} from '../../../server/domain/applications.ts';
import { type Actor, type DomainContext, write } from '../../../server/domain/context.ts';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

const page = { limit: 100, inverted: false };

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected the call to be rejected');
}

describe.each(drivers)('applications (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let admin: DomainContext;
  let publisher: DomainContext;
  let cora: DomainContext;
  let dan: DomainContext;
  let apiId: string;

  async function counts() {
    const [a] = await database.db.select({ n: count() }).from(applications);
    const [l] = await database.db.select({ n: count() }).from(auditLog);
    return { applications: a?.n, audit: l?.n };
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database);
    const actor = async (username: string, role: Actor['role']): Promise<Actor> => {
      const user = await createUser(admin, { username, password: `${username}-password`, role });
      return { userId: user.id, username, role };
    };
    publisher = domainContext(database, await actor('pat', 'publisher'));
    cora = domainContext(database, await actor('cora', 'consumer'));
    dan = domainContext(database, await actor('dan', 'consumer'));
    admin = domainContext(database, await actor('ada', 'admin'));
    apiId = newId('api');
    await database.db.insert(apis).values({ id: apiId, handle: 'weather', displayName: 'Weather', version: '1.0', context: '/weather' });
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('createApplication', () => {
    it('creates an application owned by the caller with API-key mode UNSPECIFIED and an audit entry', async () => {
      const app = await createApplication(cora, { name: ' Mobile ', description: 'iOS', clientId: 'mobile-client' });
      expect(app).toMatchObject({ name: 'Mobile', description: 'iOS', clientId: 'mobile-client', ownerId: cora.actor.userId, apiKeyMode: 'UNSPECIFIED' });
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.entityId, app.id));
      expect(entry).toMatchObject({ action: 'application.create', actorName: 'cora' });
    });

    it('reports every invalid field by path and writes nothing', async () => {
      const before = await counts();
      const error = await caught(createApplication(cora, { name: '  ', clientId: 'has space', description: 'x'.repeat(2001) }));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.path).sort()).toEqual(['clientId', 'description', 'name']);
      expect(await counts()).toEqual(before);
    });

    it('returns ConflictError when the client id is taken, and writes nothing', async () => {
      await createApplication(cora, { name: 'A', clientId: 'dup-client' });
      const before = await counts();
      expect(await caught(createApplication(dan, { name: 'B', clientId: 'dup-client' }))).toBeInstanceOf(ConflictError);
      expect(await counts()).toEqual(before);
    });

    it('lets an admin create an application for another user, and nobody else', async () => {
      const app = await createApplication(admin, { name: 'For Dan', ownerId: dan.actor.userId });
      expect(app.ownerId).toBe(dan.actor.userId);
      expect(await caught(createApplication(cora, { name: 'For Dan', ownerId: dan.actor.userId }))).toBeInstanceOf(ForbiddenError);
      expect(await caught(createApplication(admin, { name: 'Ghost', ownerId: 'usr_missing' }))).toBeInstanceOf(NotFoundError);
    });
  });

  describe('reading', () => {
    it('shows a consumer its own applications only; another consumer\u2019s is NotFound', async () => {
      const mine = await createApplication(cora, { name: 'Reader Cora' });
      const theirs = await createApplication(dan, { name: 'Reader Dan' });
      expect((await getApplication(cora, mine.id)).id).toBe(mine.id);
      expect(await caught(getApplication(cora, theirs.id))).toBeInstanceOf(NotFoundError);
      expect(await loadApplications(cora, [theirs.id, mine.id, 'app_missing'])).toEqual([null, mine, null]);
      const listed = await listApplications(cora, {}, page);
      expect(listed.every((a) => a.ownerId === cora.actor.userId)).toBe(true);
      expect(await listApplications(cora, { ownerId: dan.actor.userId }, page)).toEqual([]);
    });

    it('shows publishers and admins every application, filtered by name and owner', async () => {
      const app = await createApplication(dan, { name: 'Searchable_Thing' });
      expect((await getApplication(publisher, app.id)).id).toBe(app.id);
      expect((await listApplications(publisher, { name: 'searchable_' }, page)).map((a) => a.id)).toEqual([app.id]);
      // LIKE wildcards in the filter are literal.
      expect(await listApplications(admin, { name: '%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%' }, page)).toEqual([]);
      const owned = await listApplications(admin, { ownerId: dan.actor.userId }, page);
      expect(owned.length).toBeGreaterThan(0);
      expect(owned.every((a) => a.ownerId === dan.actor.userId)).toBe(true);
    });

    it('pages by id in both directions', async () => {
      const a = await createApplication(cora, { name: 'P1' });
      const b = await createApplication(cora, { name: 'P2' });
      expect((await listApplications(cora, {}, { limit: 1, inverted: false, after: a.id })).map((x) => x.id)).toEqual([b.id]);
      expect((await listApplications(cora, {}, { limit: 1, inverted: true }))[0]?.id).toBe(b.id);
    });

    it('loads owners in the order asked', async () => {
      const owners = await loadApplicationOwners(publisher, [dan.actor.userId ?? '', 'usr_missing', cora.actor.userId ?? '']);
      expect(owners.map((u) => u?.username ?? null)).toEqual(['dan', null, 'cora']);
    });
  });

  describe('updateApplication', () => {
    it('updates fields, clears with null and records before and after', async () => {
      const app = await createApplication(cora, { name: 'Old', description: 'd', clientId: 'old-client' });
      const updated = await updateApplication(cora, app.id, { name: 'New', description: null, clientId: null });
      expect(updated).toMatchObject({ name: 'New', description: null, clientId: null });
      const entries = await database.db.select().from(auditLog).where(eq(auditLog.action, 'application.update'));
      expect(entries.find((e) => e.entityId === app.id)?.before).toMatchObject({ name: 'Old' });
    });

    it('sets the API-key mode once, then refuses to change it with InvalidTransitionError', async () => {
      const app = await createApplication(cora, { name: 'Mode' });
      expect((await updateApplication(cora, app.id, { apiKeyMode: 'SHARED' })).apiKeyMode).toBe('SHARED');
      expect((await updateApplication(cora, app.id, { apiKeyMode: 'SHARED' })).apiKeyMode).toBe('SHARED');
      for (const mode of ['EXCLUSIVE', 'UNSPECIFIED'] as const) {
        expect(await caught(updateApplication(cora, app.id, { apiKeyMode: mode }))).toMatchObject({ code: 'INVALID_TRANSITION', from: 'SHARED', to: mode });
      }
      expect((await getApplication(cora, app.id)).apiKeyMode).toBe('SHARED');
    });

    it('returns ConflictError for a client id another application holds', async () => {
      await createApplication(dan, { name: 'Holder', clientId: 'held-client' });
      const app = await createApplication(cora, { name: 'Taker' });
      expect(await caught(updateApplication(cora, app.id, { clientId: 'held-client' }))).toBeInstanceOf(ConflictError);
      // Its own client id is no conflict.
      const self = await createApplication(cora, { name: 'Self', clientId: 'self-client' });
      expect((await updateApplication(cora, self.id, { clientId: 'self-client' })).clientId).toBe('self-client');
    });

    it('is NotFound for another consumer, Forbidden for a publisher, and lets an admin move the owner', async () => {
      const app = await createApplication(cora, { name: 'Guarded' });
      expect(await caught(updateApplication(dan, app.id, { name: 'Mine now' }))).toBeInstanceOf(NotFoundError);
      expect(await caught(updateApplication(publisher, app.id, { name: 'Mine now' }))).toBeInstanceOf(ForbiddenError);
      expect(await caught(updateApplication(cora, app.id, { ownerId: dan.actor.userId }))).toBeInstanceOf(ForbiddenError);
      expect((await updateApplication(admin, app.id, { ownerId: dan.actor.userId })).ownerId).toBe(dan.actor.userId);
      expect(await caught(getApplication(cora, app.id))).toBeInstanceOf(NotFoundError);
    });
  });

  describe('setApiKeyMode', () => {
    it('fixes the mode inside the caller\u2019s transaction, and rolls back with it', async () => {
      const app = await createApplication(cora, { name: 'Subscriber' });
      await caught(
        write(cora, async (scope) => {
          await setApiKeyMode(scope, app.id, 'EXCLUSIVE');
          throw new Error('subscription failed');
        }),
      );
      expect((await getApplication(cora, app.id)).apiKeyMode).toBe('UNSPECIFIED');
      const set = await write(cora, (scope) => setApiKeyMode(scope, app.id, 'EXCLUSIVE'));
      expect(set.apiKeyMode).toBe('EXCLUSIVE');
      expect(await write(cora, (scope) => setApiKeyMode(scope, app.id, 'EXCLUSIVE'))).toMatchObject({ apiKeyMode: 'EXCLUSIVE' });
      expect(await caught(write(cora, (scope) => setApiKeyMode(scope, app.id, 'SHARED')))).toBeInstanceOf(InvalidTransitionError);
      const actions = (await database.db.select().from(auditLog).where(eq(auditLog.entityId, app.id))).map((e) => e.action);
      expect(actions).toEqual(['application.create', 'application.set-api-key-mode']);
    });
  });

  describe('deleteApplication', () => {
    async function subscribe(applicationId: string, status: 'ACCEPTED' | 'PENDING'): Promise<{ subscriptionId: string; keyId: string }> {
      const subscriptionId = newId('subscription');
      await database.db.insert(subscriptions).values({ id: subscriptionId, apiId, applicationId, status });
      const keyId = newId('apiKey');
      await database.db.insert(apiKeys).values({ id: keyId, name: 'k', digest: newId('apiKey').padEnd(64, '0'), masked: '***00000', subscriptionId });
      return { subscriptionId, keyId };
    }

    it('deletes an application with its subscriptions and keys', async () => {
      const app = await createApplication(cora, { name: 'Doomed' });
      const { subscriptionId, keyId } = await subscribe(app.id, 'PENDING');
      await deleteApplication(cora, app.id);
      expect(await caught(getApplication(cora, app.id))).toBeInstanceOf(NotFoundError);
      expect(await database.db.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId))).toEqual([]);
      expect(await database.db.select().from(apiKeys).where(eq(apiKeys.id, keyId))).toEqual([]);
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'application.delete'));
      expect(entry?.entityId).toBe(app.id);
    });

    it('refuses while a subscription is ACCEPTED unless forced', async () => {
      const app = await createApplication(cora, { name: 'Busy' });
      await subscribe(app.id, 'ACCEPTED');
      const before = await counts();
      expect(await caught(deleteApplication(cora, app.id))).toBeInstanceOf(InvalidTransitionError);
      expect(await counts()).toEqual(before);
      await deleteApplication(cora, app.id, { force: true });
      expect(await loadApplications(cora, [app.id])).toEqual([null]);
    });

    it('is NotFound for another consumer and Forbidden for a publisher', async () => {
      const app = await createApplication(cora, { name: 'Kept' });
      expect(await caught(deleteApplication(dan, app.id))).toBeInstanceOf(NotFoundError);
      expect(await caught(deleteApplication(publisher, app.id))).toBeInstanceOf(ForbiddenError);
      expect((await getApplication(cora, app.id)).id).toBe(app.id);
    });
  });
});
