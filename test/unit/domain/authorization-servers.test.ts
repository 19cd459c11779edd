import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, authorizationServers } from '../../../server/db/schema/index.ts';
import { createApi } from '../../../server/domain/apis/index.ts';
import {
  createAuthorizationServer,
  deleteAuthorizationServer,
  getAuthorizationServer,
  updateAuthorizationServer,
} from '../../../server/domain/authorization-servers.ts';
import { systemActor } from '../../../server/domain/context.ts';
import { loadDeploymentModel } from '../../../server/domain/deployment.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../../../server/domain/errors.ts';
import { checkOAuth2References, parsePlanSecurity } from '../../../server/domain/plan-security.ts';
import { createPlan, createPlanVersion, closePlan, publishPlan } from '../../../server/domain/plans/index.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';

const valid = { name: 'corp-idp', introspectionUrl: 'https://idp.example.test/oauth2/introspect', clientId: 'gateway', clientSecret: 'gw-secret-1' };

async function issuesOf(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ValidationError) return error.issues.map((i) => i.path).sort();
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe.each(drivers)('authorization servers (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let admin: ReturnType<typeof domainContext>;
  let apiId: string;

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database, systemActor);
    apiId = (await createApi(admin, {
      metadata: { name: 'books-v1' },
      spec: { displayName: 'Books', version: 'v1', context: '/books', upstream: { main: { url: 'https://books.example.test' } }, operations: [{ method: 'GET', path: '/books' }] },
    })).id;
  });
  afterAll(async () => {
    await database.drop();
  });

  it('creates a server with defaults, never returning or auditing the secret', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'defaults' });
    expect(server).toMatchObject({ name: 'defaults', hasClientSecret: true, tokenTypeHint: null, timeoutMs: 2000, maxCacheSeconds: 300 });
    expect(JSON.stringify(server)).not.toContain('gw-secret-1');
    const audits = await database.db.select().from(auditLog).where(eq(auditLog.entityId, server.id));
    expect(audits.map((a) => a.action)).toEqual(['authorization-server.create']);
    expect(JSON.stringify(audits)).not.toContain('gw-secret-1');
  });

  it('validates every field at once', async () => {
    expect(await issuesOf(createAuthorizationServer(admin, { name: ' ', introspectionUrl: 'ftp://x', clientId: '', tokenTypeHint: 'bad hint', timeoutMs: 99, maxCacheSeconds: 3601 }))).toEqual([
      'clientId', 'clientSecret', 'introspectionUrl', 'maxCacheSeconds', 'name', 'timeoutMs', 'tokenTypeHint',
    ]);
    expect(await issuesOf(createAuthorizationServer(admin, { ...valid, name: 'creds', introspectionUrl: 'https://user:pw@idp/introspect' }))).toEqual(['introspectionUrl']);
  });

  it('refuses a second server with the same name', async () => {
    await createAuthorizationServer(admin, { ...valid, name: 'twice' });
    await expect(createAuthorizationServer(admin, { ...valid, name: 'twice' })).rejects.toBeInstanceOf(ConflictError);
  });

  it('updates by merging, keeping the secret unless given, and clears the hint with null', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'merge', tokenTypeHint: 'access_token' });
    const updated = await updateAuthorizationServer(admin, server.id, { timeoutMs: 500, tokenTypeHint: null });
    expect(updated).toMatchObject({ name: 'merge', clientId: 'gateway', timeoutMs: 500, tokenTypeHint: null, maxCacheSeconds: 300 });
    const [row] = await database.db.select().from(authorizationServers).where(eq(authorizationServers.id, server.id));
    // Stored sealed (AES-256-GCM under the secrets key), never in clear.
    expect(row?.clientSecret).toMatch(/^enc:v1:/);
    expect(testPlatformKeys.box.open(row!.clientSecret)).toBe('gw-secret-1');
    await updateAuthorizationServer(admin, server.id, { clientSecret: 'rotated-2' });
    const [rotated] = await database.db.select().from(authorizationServers).where(eq(authorizationServers.id, server.id));
    expect(testPlatformKeys.box.open(rotated!.clientSecret)).toBe('rotated-2');
    const audits = await database.db.select().from(auditLog).where(eq(auditLog.entityId, server.id));
    expect(JSON.stringify(audits)).not.toContain('rotated-2');
  });

  it('lets only admins and publishers manage or read servers', async () => {
    const consumer = domainContext(database, { userId: null, username: 'cody', role: 'consumer' });
    const publisher = domainContext(database, { userId: null, username: 'pia', role: 'publisher' });
    await expect(createAuthorizationServer(consumer, { ...valid, name: 'nope' })).rejects.toBeInstanceOf(ForbiddenError);
    const server = await createAuthorizationServer(publisher, { ...valid, name: 'by-publisher' });
    await expect(getAuthorizationServer(consumer, server.id)).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('accepts an OAuth2 plan referring to a server, and checks that it exists', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'for-plans' });
    const parsed = await parsePlanSecurity({ type: 'OAUTH2', oauth2: { authorizationServerId: server.id, requiredScopes: ['books:read'] } }, 'security', null);
    expect(parsed.issues).toEqual([]);
    expect(parsed.config).toEqual({ authorizationServerId: server.id, requiredScopes: ['books:read'], strictScopes: false, clientIdClaim: null, extractClaims: [], propagateAuthHeader: false });
    expect(await checkOAuth2References(database.db, 'OAUTH2', parsed.config, 'security')).toEqual([]);
    const ghost = 'asv_0000000000zzzzzzzzzzzzzzzz';
    expect(await checkOAuth2References(database.db, 'OAUTH2', { authorizationServerId: ghost }, 'security')).toEqual([
      { path: 'security.oauth2.authorizationServerId', message: `No authorization server '${ghost}'` },
    ]);
    const plan = await createPlan(admin, { apiId, name: 'Referenced', security: { type: 'OAUTH2', oauth2: { authorizationServerId: server.id } } });
    expect(plan.security.oauth2).toMatchObject({ authorizationServerId: server.id, introspectionUrl: null, clientId: null, hasClientSecret: false, cacheTtlSeconds: null });
  });

  it('refuses inline options beside a server, and requires them without one', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'exclusive' });
    const both = await parsePlanSecurity({ type: 'OAUTH2', oauth2: { authorizationServerId: server.id, introspectionUrl: 'https://x/i', clientSecret: 's', cacheTtlSeconds: 5 } }, 'security', null);
    expect(both.issues.map((i) => i.path).sort()).toEqual(['security.oauth2.cacheTtlSeconds', 'security.oauth2.clientSecret', 'security.oauth2.introspectionUrl']);
    const none = await parsePlanSecurity({ type: 'OAUTH2', oauth2: {} }, 'security', null);
    expect(none.issues.map((i) => i.path).sort()).toEqual(['security.oauth2.clientId', 'security.oauth2.clientSecret', 'security.oauth2.introspectionUrl']);
    const badId = await parsePlanSecurity({ type: 'OAUTH2', oauth2: { authorizationServerId: 'srv-1' } }, 'security', null);
    expect(badId.issues.map((i) => i.path)).toEqual(['security.oauth2.authorizationServerId']);
  });

  it('refuses to delete a server an OAuth2 plan refers to, even a closed one, and deletes it once unreferenced', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'in-use' });
    const plan = await createPlan(admin, { apiId, name: 'Uses', security: { type: 'OAUTH2', oauth2: { authorizationServerId: server.id } } });
    await publishPlan(admin, plan.id);
    await closePlan(admin, plan.id);
    await expect(deleteAuthorizationServer(admin, server.id)).rejects.toBeInstanceOf(ConflictError);
    const unused = await createAuthorizationServer(admin, { ...valid, name: 'unused' });
    expect((await deleteAuthorizationServer(admin, unused.id)).name).toBe('unused');
    const [gone] = await database.db.select().from(authorizationServers).where(eq(authorizationServers.id, unused.id));
    expect(gone).toBeUndefined();
    // A version of the closed plan still names the server: still refused.
    await createPlanVersion(admin, plan.id);
    await expect(deleteAuthorizationServer(admin, server.id)).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses to delete a server an oauth2 policy attachment names, and deploys that server', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'attached' });
    await createApi(admin, {
      metadata: { name: 'attached-v1' },
      spec: {
        displayName: 'Attached',
        version: 'v1',
        context: '/attached',
        upstream: { main: { url: 'https://attached.example.test' } },
        policies: [{ name: 'oauth2', version: 'v1', params: { authorizationServerId: server.id, requiredScopes: ['a'] } }],
        operations: [{ method: 'GET', path: '/things' }],
      },
    });
    await expect(deleteAuthorizationServer(admin, server.id)).rejects.toThrow(/1 oauth2 policy attachment/);
    const model = await loadDeploymentModel(database.db, new Date(), testPlatformKeys.box);
    expect(model.authorizationServers.map((s) => s.id)).toContain(server.id);
  });

  it('puts referenced servers (with secrets) and implicit inline servers in the deployment model', async () => {
    const server = await createAuthorizationServer(admin, { ...valid, name: 'deployed', tokenTypeHint: 'access_token', maxCacheSeconds: 60 });
    await createAuthorizationServer(admin, { ...valid, name: 'not-deployed' });
    const referenced = await createPlan(admin, {
      apiId,
      name: 'Ref',
      selectionRule: 'claims.tier == "gold"',
      security: { type: 'OAUTH2', oauth2: { authorizationServerId: server.id, requiredScopes: ['a'], strictScopes: true, clientIdClaim: 'cid' } },
    });
    // Serving OAuth2 plans of one API agree on the route-wide options (plans/route-wide-options.ts): clientIdClaim too.
    const inline = await createPlan(admin, {
      apiId,
      name: 'Inline',
      security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'https://legacy.example.test/introspect', clientId: 'legacy', clientSecret: 'legacy-secret', cacheTtlSeconds: 7200, clientIdClaim: 'cid' } },
    });
    const staging = await createPlan(admin, { apiId, name: 'Staging', security: { type: 'OAUTH2', oauth2: { authorizationServerId: server.id } } });
    await publishPlan(admin, referenced.id);
    await publishPlan(admin, inline.id);
    const model = await loadDeploymentModel(database.db, new Date(), testPlatformKeys.box);
    const plans = model.plans.filter((p) => p.security.type === 'OAUTH2');
    expect(plans.map((p) => p.id)).not.toContain(staging.id);
    expect(plans.find((p) => p.id === referenced.id)?.security.oauth2).toEqual({
      authorizationServerId: server.id,
      requiredScopes: ['a'],
      strictScopes: true,
      clientIdClaim: 'cid',
      extractClaims: [],
      propagateAuthHeader: false,
    });
    expect(plans.find((p) => p.id === inline.id)?.security.oauth2?.authorizationServerId).toBe(`plan:${inline.id}`);
    expect(model.authorizationServers.filter((s) => s.id === server.id || s.id.startsWith('plan:'))).toEqual([
      { id: server.id, name: 'deployed', introspectionUrl: valid.introspectionUrl, clientId: 'gateway', clientSecret: 'gw-secret-1', tokenTypeHint: 'access_token', timeoutMs: 2000, maxCacheSeconds: 60 },
      { id: `plan:${inline.id}`, name: 'plan Inline', introspectionUrl: 'https://legacy.example.test/introspect', clientId: 'legacy', clientSecret: 'legacy-secret', tokenTypeHint: null, timeoutMs: 2000, maxCacheSeconds: 3600 },
    ]);
  });
});
