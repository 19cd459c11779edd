import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, deleteApi, updateApi } from '../../../server/domain/apis/index.ts';
import { systemActor } from '../../../server/domain/context.ts';
import { loadDeploymentModel } from '../../../server/domain/deployment.ts';
import { ConflictError, ValidationError } from '../../../server/domain/errors.ts';
import { createKeyManager, deleteKeyManager } from '../../../server/domain/key-managers.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';

const jwtAuth = (issuers: string[]) => ({ name: 'jwt-auth', version: 'v1', params: { issuers } });
const spec = (context: string, issuers: string[]) => ({
  displayName: `Books ${context.slice(1)}`,
  version: 'v1',
  context,
  upstream: { main: { url: 'https://books.example.test' } },
  operations: [{ method: 'GET' as const, path: '/books', policies: [jwtAuth(issuers)] }],
});

describe.each(drivers)('key managers (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let admin: ReturnType<typeof domainContext>;

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database, systemActor);
    await createKeyManager(admin, { name: 'idp', issuer: 'https://idp.test', jwksUrl: 'https://idp.test/jwks', audiences: ['books'] });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('refuses an API write naming an unknown key manager, on the issuers entry, for create and update', async () => {
    const refused = createApi(admin, { metadata: { name: 'unknown-km' }, spec: spec('/unknown', ['idp', 'nope']) });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toMatchObject({ issues: [{ path: 'spec.operations[0].policies[0].params.issuers[1]' }] });
    await createApi(admin, { metadata: { name: 'known-km' }, spec: spec('/known', ['idp']) });
    const { operations: _ops, ...rest } = spec('/known', ['idp']);
    await expect(updateApi(admin, 'known-km', { spec: { ...rest, operations: [{ method: 'GET', path: '/books' }], policies: [jwtAuth(['gone'])] } })).rejects.toMatchObject({
      issues: [{ path: 'spec.policies[0].params.issuers[0]' }],
    });
    await deleteApi(admin, 'known-km');
  });

  it('ships key managers in the deployment model', async () => {
    const model = await loadDeploymentModel(database.db, new Date(), testPlatformKeys.box);
    expect(model.keyManagers).toEqual([{ name: 'idp', issuer: 'https://idp.test', jwksUrl: 'https://idp.test/jwks', certificate: null, jwks: null, audiences: ['books'] }]);
  });

  it('never lets a delete and a write naming the key manager both succeed when they race', async () => {
    for (let i = 0; i < 5; i++) {
      const name = `racing-${i}`;
      await createKeyManager(admin, { name, jwksUrl: 'https://racing.test/jwks' });
      const [write, removal] = await Promise.allSettled([
        createApi(admin, { metadata: { name: `racer-${i}` }, spec: spec(`/racer-${i}`, [name]) }),
        deleteKeyManager(admin, name),
      ]);
      expect([write.status, removal.status].sort()).toEqual(['fulfilled', 'rejected']);
      const reason = write.status === 'rejected' ? write.reason : (removal as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(write.status === 'rejected' ? ValidationError : ConflictError);
    }
  });
});
