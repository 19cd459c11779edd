import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, apis, applications, subscriptionPlans, subscriptions, users } from '../../../server/db/schema/index.ts';
import { nextDeploymentChangeAt } from '../../../server/domain/deployment.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';

const now = new Date('2030-06-01T12:00:00Z');
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);

describe.each(drivers)('nextDeploymentChangeAt (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase(driver);
    const db = database.db;
    await db.insert(users).values({ id: 'usr_1', username: 'owner', passwordHash: 'x', role: 'consumer' });
    await db.insert(apis).values({ id: 'api_1', handle: 'h', displayName: 'H', version: 'v1', context: '/h' });
    await db.insert(applications).values({ id: 'app_1', name: 'a', ownerId: 'usr_1' });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('is null when nothing is due to start, end or expire', async () => {
    expect(await nextDeploymentChangeAt(database.db, now)).toBeNull();
  });

  it('is the earliest future start, end or expiry, ignoring past instants and inactive rows', async () => {
    const db = database.db;
    await db.insert(subscriptions).values([
      // Started in the past and ends in 90 min: its past start must not hide the end.
      { id: 'sub_1', apiId: 'api_1', applicationId: 'app_1', status: 'ACCEPTED', startingAt: at(-60), endingAt: at(90) },
      // Closed: its near end is irrelevant.
      { id: 'sub_2', apiId: 'api_1', applicationId: 'app_1', status: 'CLOSED', endingAt: at(5) },
    ]);
    await db.insert(apiKeys).values([
      { id: 'key_1', name: 'k1', digest: 'd1', masked: '***', apiId: 'api_1', expiresAt: at(45) },
      { id: 'key_2', name: 'k2', digest: 'd2', masked: '***', apiId: 'api_1', status: 'revoked', expiresAt: at(10) },
    ]);
    await db.insert(subscriptionPlans).values({ id: 'spl_1', planName: 'Gold', expiryTime: at(30) });
    expect(await nextDeploymentChangeAt(db, now)).toEqual(at(30));
    expect(await nextDeploymentChangeAt(db, at(31))).toEqual(at(45));
    expect(await nextDeploymentChangeAt(db, at(46))).toEqual(at(90));
    expect(await nextDeploymentChangeAt(db, at(91))).toBeNull();
  });
});
