import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addApiMember, removeApiMember, transferApiOwnership } from '../../../server/domain/apis/index.ts';
import { createApiKey, revokeApiKeyByName } from '../../../server/domain/api-keys/index.ts';
import { type ApiInput, createApi, deleteApi, getApi, undeployApi, updateApi } from '../../../server/domain/apis/index.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { createPlan, publishPlan } from '../../../server/domain/plans/index.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

let seq = 0;
function apiInput(visibility: 'public' | 'private' = 'public', deployed = true): ApiInput {
  seq++;
  return {
    metadata: { name: `owned-api-${seq}` },
    spec: {
      displayName: `Owned-${seq}`,
      version: 'v1',
      context: `/owned-${seq}`,
      upstream: { main: { url: 'http://127.0.0.1:9/upstream' } },
      operations: [{ method: 'GET', path: '/items' }],
      deploymentState: deployed ? 'deployed' : 'undeployed',
    },
    visibility,
  };
}

describe.each(drivers)('API ownership (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let admin: DomainContext;
  let owner: DomainContext;
  let other: DomainContext;
  let consumer: DomainContext;
  const actor = async (username: string, role: Actor['role']) => {
    const user = await createUser(domainContext(database), { username, password: `${username}-password`, role });
    return domainContext(database, { userId: user.id, username, role });
  };

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = await actor('root', 'admin');
    owner = await actor('olga', 'publisher');
    other = await actor('otto', 'publisher');
    consumer = await actor('cody', 'consumer');
  });
  afterAll(async () => {
    await database.drop();
  });

  it('makes the creating user the owner', async () => {
    const api = await createApi(owner, apiInput());
    expect(api.ownerId).toBe(owner.actor.userId);
  });

  it("refuses another publisher every managing operation on an API it can read, with ForbiddenError", async () => {
    const api = await createApi(owner, apiInput());
    expect((await getApi(other, api.handle)).id).toBe(api.id);
    for (const attempt of [
      () => updateApi(other, api.handle, { spec: apiInput().spec }),
      () => undeployApi(other, api.handle),
      () => deleteApi(other, api.handle),
      () => createPlan(other, { apiId: api.id, name: 'Sneaky', security: { type: 'KEYLESS' } }),
      () => addApiMember(other, api.id, other.actor.userId!),
      () => transferApiOwnership(other, api.id, other.actor.userId!),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    expect((await getApi(admin, api.id)).deploymentState).toBe('deployed');
  });

  it('answers NotFound to a consumer managing an API it cannot see, Forbidden for one it can', async () => {
    const hidden = await createApi(owner, apiInput('private', false));
    await expect(undeployApi(consumer, hidden.handle)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(addApiMember(consumer, hidden.id, consumer.actor.userId!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const open = await createApi(owner, apiInput());
    await expect(undeployApi(consumer, open.handle)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('lets a member manage the API and its plans, but not its team; removal ends it', async () => {
    const api = await createApi(owner, apiInput());
    const added = await addApiMember(owner, api.id, other.actor.userId!);
    expect(added.username).toBe('otto');
    await expect(addApiMember(owner, api.id, other.actor.userId!)).rejects.toMatchObject({ code: 'CONFLICT' });
    const plan = await createPlan(other, { apiId: api.id, name: 'Member-made', security: { type: 'KEYLESS' } });
    expect((await publishPlan(other, plan.id)).status).toBe('PUBLISHED');
    expect((await undeployApi(other, api.handle)).deploymentState).toBe('undeployed');
    await expect(addApiMember(other, api.id, admin.actor.userId!)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await removeApiMember(owner, api.id, other.actor.userId!);
    await expect(updateApi(other, api.handle, { spec: apiInput().spec })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses members that are not active publishers, naming the field', async () => {
    const api = await createApi(owner, apiInput());
    await expect(addApiMember(owner, api.id, consumer.actor.userId!)).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'userId' }] });
    await expect(addApiMember(owner, api.id, 'usr_nobody')).rejects.toMatchObject({ code: 'VALIDATION', issues: [{ path: 'userId' }] });
  });

  it('lets an admin manage every API and transfer its ownership; the previous owner stays a member', async () => {
    const api = await createApi(owner, apiInput());
    expect((await undeployApi(admin, api.handle)).deploymentState).toBe('undeployed');
    const moved = await transferApiOwnership(admin, api.id, other.actor.userId!);
    expect(moved.ownerId).toBe(other.actor.userId);
    expect((await getApi(admin, api.id)).ownerId).toBe(other.actor.userId);
    // Olga keeps managing as a member, but no longer changes the team.
    expect((await updateApi(owner, api.handle, { spec: apiInput().spec })).id).toBe(api.id);
    await expect(transferApiOwnership(owner, api.id, owner.actor.userId!)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // The owner transfers too.
    expect((await transferApiOwnership(other, api.id, owner.actor.userId!)).ownerId).toBe(owner.actor.userId);
  });

  it("a consumer's conflicting key name names nothing of the other consumer's key", async () => {
    const api = await createApi(owner, apiInput());
    const rival = await actor(`rival-${seq}`, 'consumer');
    await createApiKey(rival, { apiId: api.handle, name: 'prod-key' });
    const refused = createApiKey(consumer, { apiId: api.handle, name: 'prod-key' });
    await expect(refused).rejects.toMatchObject({ code: 'CONFLICT', message: "API key name 'prod-key' is not available on this API; choose another name" });
    // And the other's key stays invisible to it: its revoke finds nothing (idempotent, null) and changes nothing.
    expect(await revokeApiKeyByName(consumer, api.handle, 'prod-key')).toBeNull();
    expect(await revokeApiKeyByName(rival, api.handle, 'prod-key')).toMatchObject({ status: 'revoked' });
  });
});
