import { generateKeyPairSync } from 'node:crypto';
import { count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { apiKeys, apis, applications, auditLog, planPolicies, plans, subscriptions } from '../../../server/db/schema/index.ts';
import type { Actor, DomainContext } from '../../../server/domain/context.ts';
import { ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import type { PlanSecurityInput } from '../../../server/domain/plan-security.ts';
import {
  assertPlanAcceptsSubscriptions,
  closePlan,
  createPlan,
  type CreatePlanInput,
  createPlanVersion,
  deletePlan,
  deprecatePlan,
  getPlan,
  listPlans,
  listPlansForApis,
  loadPlans,
  type Plan,
  publishPlan,
  updatePlan,
} from '../../../server/domain/plans/index.ts';
import { closeSubscription } from '../../../server/domain/subscriptions/index.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext, testPlatformKeys } from '../../helpers/domain.ts';
import { openSecurityConfig } from '../../../server/domain/plan-security.ts';

const page = { limit: 100, inverted: false };

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected the call to be rejected');
}

async function issuePaths(promise: Promise<unknown>): Promise<string[]> {
  const error = await caught(promise);
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.path).sort();
}

/** An `ssh-rsa` public key line built from a fresh RSA key (RFC 4253 6.6). */
function sshRsaKey(): string {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
  const field = (buf: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  const mpint = (b64url: string | undefined) => {
    const raw = Buffer.from(b64url ?? '', 'base64url');
    return field((raw[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
  };
  return `ssh-rsa ${Buffer.concat([field(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]).toString('base64')} ops@example.com`;
}

const gold = [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 10_000, duration: '24h' }] } }];
const oauth2: PlanSecurityInput = {
  type: 'OAUTH2',
  oauth2: { introspectionUrl: 'https://idp.example/introspect', clientId: 'gateway', clientSecret: 's3cr3t-value' },
};

describe.each(drivers)('plans (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let admin: DomainContext;
  let publisher: DomainContext;
  let consumer: DomainContext;
  let publicApi: string;
  let privateApi: string;
  let consumerApp: string;

  async function counts() {
    const [p] = await database.db.select({ n: count() }).from(plans);
    const [pp] = await database.db.select({ n: count() }).from(planPolicies);
    const [a] = await database.db.select({ n: count() }).from(auditLog);
    return { plans: p?.n, policies: pp?.n, audit: a?.n };
  }

  async function insertApi(handle: string, visibility: 'public' | 'private'): Promise<string> {
    const id = newId('api');
    // Owned by the publisher: publishers manage only the APIs they own or are members of.
    await database.db.insert(apis).values({ id, handle, displayName: handle, version: '1.0', context: `/${handle}`, visibility, ownerId: publisher.actor.userId });
    return id;
  }

  function create(overrides: Partial<CreatePlanInput> = {}, ctx: DomainContext = publisher): Promise<Plan> {
    return createPlan(ctx, { apiId: publicApi, name: 'Gold', security: { type: 'API_KEY' }, policies: gold, ...overrides });
  }

  async function insertSubscription(planId: string, apiId: string, status: 'PENDING' | 'ACCEPTED' | 'REJECTED' | 'PAUSED'): Promise<string> {
    // One application per subscription: an application holds one live subscription per plan.
    const applicationId = newId('application');
    await database.db.insert(applications).values({ id: applicationId, name: 'app', ownerId: consumer.actor.userId ?? '' });
    const id = newId('subscription');
    await database.db.insert(subscriptions).values({ id, apiId, planId, applicationId, status });
    return id;
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database);
    const actor = async (username: string, role: Actor['role']): Promise<Actor> => {
      const user = await createUser(admin, { username, password: `${username}-password`, role });
      return { userId: user.id, username, role };
    };
    publisher = domainContext(database, await actor('pat', 'publisher'));
    consumer = domainContext(database, await actor('cora', 'consumer'));
    publicApi = await insertApi('weather', 'public');
    privateApi = await insertApi('ledger', 'private');
    consumerApp = newId('application');
    await database.db.insert(applications).values({ id: consumerApp, name: 'cora-app', ownerId: consumer.actor.userId ?? '' });
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('createPlan', () => {
    it('creates a STAGING version 1 plan with defaults, ordered policies and an audit entry', async () => {
      const plan = await create({
        policies: [...gold, { name: 'set-headers', version: 'v1', params: { request: { headers: [{ name: 'x-tier', value: 'gold' }] } } }],
      });
      expect(plan).toMatchObject({ status: 'STAGING', version: 1, lineageId: plan.id, validation: 'AUTO', selectionRule: null, publishedAt: null });
      expect(plan.security).toEqual({ type: 'API_KEY', apiKey: { keyLocation: 'HEADER', keyName: 'x-api-key', propagateKey: false }, jwt: null, oauth2: null });
      expect(plan.policies.map((p) => p.name)).toEqual(['throttle', 'set-headers']);
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.entityId, plan.id));
      expect(entry).toMatchObject({ action: 'plan.create', actorName: 'pat' });
    });

    it('defaults the query parameter name to api-key when the key is read from the query', async () => {
      const plan = await create({ security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', propagateKey: true } } });
      expect(plan.security.apiKey).toEqual({ keyLocation: 'QUERY', keyName: 'api-key', propagateKey: true });
    });

    it('places a new plan after the API\u2019s last one when no position is given', async () => {
      const apiId = await insertApi('positions', 'public');
      const first = await create({ apiId });
      const second = await create({ apiId });
      expect([first.position, second.position]).toEqual([0, 1]);
    });

    it('stores JWT options with defaults when the resolver is a JWKS URL', async () => {
      const plan = await create({ security: { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: 'https://idp.example/.well-known/jwks.json' } } });
      expect(plan.security.jwt).toEqual({
        signatureAlgorithms: ['RS256'],
        keyResolver: 'JWKS_URL',
        jwksUrl: 'https://idp.example/.well-known/jwks.json',
        givenKey: null,
        clientIdClaim: null,
        userClaim: 'sub',
        requiredScopes: [],
        strictScopes: false,
        extractClaims: [],
        propagateAuthHeader: false,
        leewaySeconds: 0,
        requireExpiration: true,
        maxTokenLifetime: '24h',
      });
    });

    it('requires exp and bounds token lifetimes to 24 h on a new JWT plan unless told otherwise', async () => {
      const jwt = (options: Record<string, unknown>) => ({ type: 'JWT' as const, jwt: { keyResolver: 'GATEWAY_KEYS', ...options } });
      const pick = (plan: Awaited<ReturnType<typeof create>>) => ({ requireExpiration: plan.security.jwt?.requireExpiration, maxTokenLifetime: plan.security.jwt?.maxTokenLifetime });
      expect(pick(await create({ security: jwt({ maxTokenLifetime: '1h30m' }) }))).toEqual({ requireExpiration: true, maxTokenLifetime: '1h30m' });
      expect(pick(await create({ security: jwt({ maxTokenLifetime: null }) }))).toEqual({ requireExpiration: true, maxTokenLifetime: null });
      expect(pick(await create({ security: jwt({ requireExpiration: false }) }))).toEqual({ requireExpiration: false, maxTokenLifetime: null });
    });

    it('reads a JWT plan stored before requireExpiration and maxTokenLifetime as requiring neither', async () => {
      const plan = await create({ security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS' } } });
      await database.db.execute(sql`update plans set security_config = security_config - 'requireExpiration' - 'maxTokenLifetime' where id = ${plan.id}`);
      const stored = await getPlan(publisher, plan.id);
      expect(stored.security.jwt).toMatchObject({ requireExpiration: false, maxTokenLifetime: null });
    });

    it('refuses a maxTokenLifetime that is not a duration of whole seconds in 1s..8760h, or that comes without requireExpiration', async () => {
      for (const maxTokenLifetime of ['1 hour', '24', '0s', '1500ms', '8761h', '', 3600]) {
        const attempt = create({ security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', maxTokenLifetime } } });
        expect(await issuePaths(attempt), String(maxTokenLifetime)).toEqual(['security.jwt.maxTokenLifetime']);
      }
      const unbounded = create({ security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', requireExpiration: false, maxTokenLifetime: '1h' } } });
      expect(await issuePaths(unbounded)).toEqual(['security.jwt.maxTokenLifetime']);
    });

    it('accepts a given PEM key, a public JWK and an ssh-rsa key, and returns them readable', async () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const pem = ec.export({ type: 'spki', format: 'pem' }).toString();
      const jwk = JSON.stringify(ec.export({ format: 'jwk' }));
      for (const givenKey of [pem, jwk]) {
        const plan = await create({ security: { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey, signatureAlgorithms: ['ES256'] } } });
        expect(plan.security.jwt?.givenKey).toBe(givenKey);
      }
      const ssh = sshRsaKey();
      const plan = await create({ security: { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey: ssh } } });
      expect(plan.security.jwt?.givenKey).toBe(ssh);
    });

    it('never returns a symmetric (oct) given key', async () => {
      const givenKey = JSON.stringify({ kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url') });
      const plan = await create({ security: { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey, signatureAlgorithms: ['HS256'] } } });
      expect(plan.security.jwt?.givenKey).toBeNull();
    });

    it('reports each JWT option problem at its path', async () => {
      expect(await issuePaths(create({ security: { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY' } } }))).toEqual(['security.jwt.givenKey']);
      expect(await issuePaths(create({ security: { type: 'JWT', jwt: { keyResolver: 'JWKS_URL' } } }))).toEqual(['security.jwt.jwksUrl']);
      expect(await issuePaths(create({ security: { type: 'JWT', jwt: { keyResolver: 'JWKS_URL', jwksUrl: 'ftp://x/jwks' } } }))).toEqual(['security.jwt.jwksUrl']);
      expect(await issuePaths(create({ security: { type: 'JWT', jwt: {} } }))).toEqual(['security.jwt.keyResolver']);
      expect(
        await issuePaths(
          create({
            security: {
              type: 'JWT',
              jwt: {
                keyResolver: 'GATEWAY_KEYS',
                signatureAlgorithms: ['none'],
                extractClaims: [{ claim: 'tenant', header: 'x-apip-application-id' }],
                leewaySeconds: -1,
                requiredScopes: ['has space'],
              },
            },
          }),
        ),
      ).toEqual(['security.jwt.extractClaims[0].header', 'security.jwt.leewaySeconds', 'security.jwt.requiredScopes[0]', 'security.jwt.signatureAlgorithms[0]']);
    });

    it('rejects a private, unreadable or mismatched given key', async () => {
      const privateJwk = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }));
      const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      for (const [givenKey, signatureAlgorithms] of [
        [privateJwk, ['ES256']],
        ['not a key at all', ['RS256']],
        ['ssh-rsa AAAAB3NzaC1kc3M= x', ['RS256']],
        [ecPem, ['RS256']],
      ] as const) {
        expect(await issuePaths(create({ security: { type: 'JWT', jwt: { keyResolver: 'GIVEN_KEY', givenKey, signatureAlgorithms: [...signatureAlgorithms] } } }))).toEqual([
          'security.jwt.givenKey',
        ]);
      }
    });

    it('reports API key and OAuth2 option problems, unknown options and options of another type', async () => {
      expect(await issuePaths(create({ security: { type: 'API_KEY', apiKey: { keyName: 'bad header', colour: 'red' } } }))).toEqual([
        'security.apiKey.colour',
        'security.apiKey.keyName',
      ]);
      expect(await issuePaths(create({ security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'nope', cacheTtlSeconds: 1.5 } } }))).toEqual([
        'security.oauth2.cacheTtlSeconds',
        'security.oauth2.clientId',
        'security.oauth2.clientSecret',
        'security.oauth2.introspectionUrl',
      ]);
      expect(await issuePaths(create({ security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'https://idp/x', clientId: 'gw' } } }))).toEqual([
        'security.oauth2.clientSecret',
      ]);
      expect(await issuePaths(create({ security: { type: 'KEYLESS', jwt: { keyResolver: 'GATEWAY_KEYS' } } }))).toEqual(['security.jwt']);
    });

    it('validates policies with the registry and collects every problem before writing anything', async () => {
      const before = await counts();
      const paths = await issuePaths(
        create({
          name: '  ',
          security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'a b' } },
          policies: [
            { name: 'throttle', version: 'v1', params: { limits: [{ requests: 0, duration: '1m' }] } },
            { name: 'teleport', version: 'v1' },
            { name: 'set-headers', version: '1.0.0', params: { request: { headers: [{ name: 'x-a', value: '1' }] } } },
          ],
        }),
      );
      expect(paths).toEqual(['name', 'policies[0].params.limits[0].requests', 'policies[1].name', 'policies[2].version', 'security.apiKey.keyName']);
      expect(await counts()).toEqual(before);
    });

    it('keeps the OAuth2 client secret out of the plan and the audit log', async () => {
      const plan = await create({ security: oauth2 });
      expect(plan.security.oauth2).toMatchObject({ clientId: 'gateway', hasClientSecret: true, cacheTtlSeconds: 0 });
      expect(JSON.stringify(plan)).not.toContain('s3cr3t-value');
      const entries = await database.db.select().from(auditLog).where(eq(auditLog.entityId, plan.id));
      expect(JSON.stringify(entries)).not.toContain('s3cr3t-value');
    });

    it('throws NotFoundError when the API does not exist and ForbiddenError for a consumer', async () => {
      expect(await caught(create({ apiId: 'api_missing' }))).toBeInstanceOf(NotFoundError);
      expect(await caught(create({}, consumer))).toBeInstanceOf(ForbiddenError);
    });
  });

  describe('updatePlan', () => {
    it('replaces security and policies of a STAGING plan', async () => {
      const plan = await create();
      const updated = await updatePlan(publisher, plan.id, {
        name: 'Silver',
        security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS' } },
        policies: [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 1000, duration: '24h' }] } }],
        validation: 'MANUAL',
        selectionRule: "header.x-tier == 'silver'",
      });
      expect(updated).toMatchObject({ name: 'Silver', validation: 'MANUAL', security: { type: 'JWT', apiKey: null } });
      expect(updated.policies).toEqual([{ name: 'throttle', version: 'v1', executionCondition: null, params: { limits: [{ requests: 1000, duration: '24h' }] } }]);
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'plan.update'));
      expect(entry?.before).toMatchObject({ name: 'Gold' });
    });

    it('keeps the stored OAuth2 secret when an update omits it', async () => {
      const plan = await create({ security: oauth2 });
      await updatePlan(publisher, plan.id, { security: { type: 'OAUTH2', oauth2: { introspectionUrl: 'https://idp.example/v2', clientId: 'gw2' } } });
      const [row] = await database.db.select().from(plans).where(eq(plans.id, plan.id));
      expect(JSON.stringify(row?.securityConfig)).not.toContain('s3cr3t-value');
      expect(openSecurityConfig(testPlatformKeys.box, 'OAUTH2', row!.securityConfig)).toMatchObject({ introspectionUrl: 'https://idp.example/v2', clientSecret: 's3cr3t-value' });
    });

    it('fails with InvalidTransitionError when a published plan\u2019s policies or security change, and writes nothing', async () => {
      const plan = await publishPlan(publisher, (await create()).id);
      const before = await counts();
      for (const input of [{ policies: [] }, { security: { type: 'KEYLESS' as const } }, { selectionRule: null }, { validation: 'MANUAL' as const }]) {
        const error = await caught(updatePlan(publisher, plan.id, input));
        expect(error).toBeInstanceOf(InvalidTransitionError);
      }
      expect(await counts()).toEqual(before);
      expect((await getPlan(publisher, plan.id)).policies).toEqual(plan.policies);
    });

    it('renames and redescribes a published, deprecated or closed plan', async () => {
      const plan = await publishPlan(publisher, (await create()).id);
      expect(await updatePlan(publisher, plan.id, { name: 'Gold 2024', description: 'For big users' })).toMatchObject({ name: 'Gold 2024', description: 'For big users' });
      await closePlan(publisher, plan.id);
      expect((await updatePlan(publisher, plan.id, { description: null })).description).toBeNull();
    });

    it('throws NotFoundError for an unknown plan and ForbiddenError for a consumer', async () => {
      expect(await caught(updatePlan(publisher, 'pln_missing', { name: 'x' }))).toBeInstanceOf(NotFoundError);
      const plan = await create();
      expect(await caught(updatePlan(consumer, plan.id, { name: 'x' }))).toBeInstanceOf(ForbiddenError);
    });
  });

  describe('lifecycle', () => {
    it('moves one way STAGING -> PUBLISHED -> DEPRECATED -> CLOSED, stamping each step', async () => {
      const at = new Date('2025-01-02T03:04:05Z');
      const clocked = { ...publisher, now: () => at };
      const plan = await create();
      expect(await publishPlan(clocked, plan.id)).toMatchObject({ status: 'PUBLISHED', publishedAt: at });
      expect(await deprecatePlan(clocked, plan.id)).toMatchObject({ status: 'DEPRECATED', deprecatedAt: at });
      expect(await closePlan(clocked, plan.id)).toMatchObject({ status: 'CLOSED', closedAt: at });
      const actions = (await database.db.select().from(auditLog).where(eq(auditLog.entityId, plan.id))).map((e) => e.action);
      expect(actions).toEqual(['plan.create', 'plan.publish', 'plan.deprecate', 'plan.close']);
    });

    it('refuses to publish a JWT or API_KEY plan whose route-wide options differ from a serving plan of its type, naming them (OAuth2: the same rule)', async () => {
      const apiId = await insertApi(`route-wide-${driver}`, 'public');
      const jwt = (options: Record<string, unknown>): PlanSecurityInput => ({ type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS', ...options } });
      const first = await create({ apiId, name: 'Partners', security: jwt({ clientIdClaim: 'azp', extractClaims: [{ claim: 'email', header: 'x-user-email' }] }) });
      await publishPlan(publisher, first.id);
      const other = await create({ apiId, name: 'Staff', security: jwt({ clientIdClaim: 'client_id', userClaim: 'email' }) });
      const before = await counts();
      expect(await issuePaths(publishPlan(publisher, other.id))).toEqual(['security.jwt.clientIdClaim', 'security.jwt.extractClaims', 'security.jwt.userClaim']);
      expect(await counts()).toEqual(before);
      expect((await getPlan(publisher, other.id)).status).toBe('STAGING');
      // A deprecated plan still serves: it binds the next one the same way; agreeing options publish.
      await deprecatePlan(publisher, first.id);
      expect(await issuePaths(publishPlan(publisher, other.id))).toContain('security.jwt.clientIdClaim');
      const agreeing = await create({ apiId, name: 'Agreeing', security: jwt({ clientIdClaim: 'azp', extractClaims: [{ claim: 'email', header: 'x-user-email' }], leewaySeconds: 5 }) });
      expect((await publishPlan(publisher, agreeing.id)).status).toBe('PUBLISHED');
      // Plans of another type, and closed plans, do not count.
      await closePlan(publisher, first.id);
      await closePlan(publisher, agreeing.id);
      expect((await publishPlan(publisher, other.id)).status).toBe('PUBLISHED');
      // API_KEY plans read the key in one place per route.
      const header = await create({ apiId, name: 'Header key', security: { type: 'API_KEY', apiKey: { keyLocation: 'HEADER', keyName: 'x-api-key' } } });
      await publishPlan(publisher, header.id);
      const query = await create({ apiId, name: 'Query key', security: { type: 'API_KEY', apiKey: { keyLocation: 'QUERY', keyName: 'apikey' } } });
      expect(await issuePaths(publishPlan(publisher, query.id))).toEqual(['security.apiKey.keyLocation', 'security.apiKey.keyName']);
    });

    it('closes a STAGING or PUBLISHED plan directly', async () => {
      expect((await closePlan(publisher, (await create()).id)).status).toBe('CLOSED');
      const published = await publishPlan(publisher, (await create()).id);
      expect((await closePlan(publisher, published.id)).status).toBe('CLOSED');
    });

    it('refuses backwards and repeated transitions with InvalidTransitionError naming from and to', async () => {
      const plan = await create();
      const deprecateStaging = await caught(deprecatePlan(publisher, plan.id));
      expect(deprecateStaging).toMatchObject({ code: 'INVALID_TRANSITION', from: 'STAGING', to: 'DEPRECATED' });
      await publishPlan(publisher, plan.id);
      expect(await caught(publishPlan(publisher, plan.id))).toMatchObject({ from: 'PUBLISHED', to: 'PUBLISHED' });
      await deprecatePlan(publisher, plan.id);
      expect(await caught(publishPlan(publisher, plan.id))).toMatchObject({ from: 'DEPRECATED', to: 'PUBLISHED' });
      await closePlan(publisher, plan.id);
      for (const move of [publishPlan, deprecatePlan, closePlan]) {
        expect(await caught(move(publisher, plan.id))).toMatchObject({ from: 'CLOSED' });
      }
      expect((await getPlan(publisher, plan.id)).status).toBe('CLOSED');
    });

    it('closes each subscription as closing it directly does: endingAt clamped to now, the same audit entry', async () => {
      const at = new Date('2025-07-01T00:00:00Z');
      const later = new Date('2026-01-01T00:00:00Z');
      const made = new Date('2025-01-01T00:00:00Z');
      const direct = await insertSubscription((await publishPlan(publisher, (await create()).id)).id, publicApi, 'ACCEPTED');
      const plan = await publishPlan(publisher, (await create()).id);
      const viaPlan = await insertSubscription(plan.id, publicApi, 'ACCEPTED');
      await database.db.update(subscriptions).set({ endingAt: later, createdAt: made, updatedAt: made }).where(eq(subscriptions.id, direct));
      await database.db.update(subscriptions).set({ endingAt: later, createdAt: made, updatedAt: made }).where(eq(subscriptions.id, viaPlan));
      await closeSubscription({ ...publisher, now: () => at }, direct, { reason: 'plan closed' });
      await closePlan({ ...publisher, now: () => at }, plan.id);

      const subs = new Map((await database.db.select().from(subscriptions)).map((s) => [s.id, s]));
      for (const id of [direct, viaPlan]) expect(subs.get(id)).toMatchObject({ status: 'CLOSED', closedAt: at, endingAt: at, reason: 'plan closed' });
      const entryOf = async (id: string) => {
        const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.entityId, id));
        const strip = (v: unknown) => {
          const { id: _id, planId: _planId, applicationId: _applicationId, ...rest } = v as Record<string, unknown>;
          return rest;
        };
        return { action: entry?.action, actorId: entry?.actorId, before: strip(entry?.before), after: strip(entry?.after) };
      };
      const expected = await entryOf(direct);
      expect(expected.after).toMatchObject({ status: 'CLOSED', endingAt: at.toISOString() });
      expect(await entryOf(viaPlan)).toEqual(expected);
    });

    it('closes the plan\u2019s open subscriptions and revokes their keys in the same transaction', async () => {
      const plan = await publishPlan(publisher, (await create()).id);
      const accepted = await insertSubscription(plan.id, publicApi, 'ACCEPTED');
      const pending = await insertSubscription(plan.id, publicApi, 'PENDING');
      const rejected = await insertSubscription(plan.id, publicApi, 'REJECTED');
      const other = await insertSubscription((await publishPlan(publisher, (await create()).id)).id, publicApi, 'ACCEPTED');
      const key = newId('apiKey');
      const shared = newId('apiKey');
      const otherKey = newId('apiKey');
      await database.db.insert(apiKeys).values([
        { id: key, name: 'k', digest: 'a'.repeat(64), masked: '***aaaaa', subscriptionId: accepted },
        { id: shared, name: 's', digest: 'b'.repeat(64), masked: '***bbbbb', applicationId: consumerApp },
        { id: otherKey, name: 'o', digest: 'c'.repeat(64), masked: '***ccccc', subscriptionId: other },
      ]);
      const at = new Date('2025-06-01T00:00:00Z');
      await closePlan({ ...publisher, now: () => at }, plan.id);

      const subs = new Map((await database.db.select().from(subscriptions)).map((s) => [s.id, s]));
      for (const id of [accepted, pending]) expect(subs.get(id)).toMatchObject({ status: 'CLOSED', reason: 'plan closed', closedAt: at });
      expect(subs.get(rejected)).toMatchObject({ status: 'REJECTED', closedAt: null });
      expect(subs.get(other)?.status).toBe('ACCEPTED');
      const keys = new Map((await database.db.select().from(apiKeys)).map((k) => [k.id, k]));
      expect(keys.get(key)).toMatchObject({ status: 'revoked', revokedAt: at });
      expect(keys.get(shared)?.status).toBe('active');
      expect(keys.get(otherKey)?.status).toBe('active');
      const actions = (await database.db.select().from(auditLog).where(eq(auditLog.at, at))).map((e) => `${e.action}:${e.entityId}`).sort();
      expect(actions).toEqual([`api-key.revoke:${key}`, `plan.close:${plan.id}`, `subscription.close:${accepted}`, `subscription.close:${pending}`].sort());
    });
  });

  describe('createPlanVersion', () => {
    it('copies a locked plan into a STAGING plan of the same lineage with the next version', async () => {
      const v1 = await publishPlan(publisher, (await create({ security: oauth2, selectionRule: "claims.tier == 'gold'", validation: 'MANUAL', description: 'd' })).id);
      const v2 = await createPlanVersion(publisher, v1.id);
      expect(v2).toMatchObject({ status: 'STAGING', version: 2, lineageId: v1.lineageId, name: v1.name, description: 'd', selectionRule: "claims.tier == 'gold'", validation: 'MANUAL', publishedAt: null });
      expect(v2.id).not.toBe(v1.id);
      expect(v2.policies).toEqual(v1.policies);
      expect(v2.security).toEqual(v1.security);
      const [row] = await database.db.select().from(plans).where(eq(plans.id, v2.id));
      expect(openSecurityConfig(testPlatformKeys.box, 'OAUTH2', row!.securityConfig)).toMatchObject({ clientSecret: 's3cr3t-value' });
      // The copy is editable; the original stays locked.
      await updatePlan(publisher, v2.id, { policies: [] });
      expect((await getPlan(publisher, v1.id)).policies).toHaveLength(1);
      // Versioning the first version again numbers after the newest one.
      expect((await createPlanVersion(publisher, v1.id)).version).toBe(3);
    });

    it('refuses to version a STAGING plan', async () => {
      const error = await caught(createPlanVersion(publisher, (await create()).id));
      expect(error).toBeInstanceOf(InvalidTransitionError);
    });
  });

  describe('deletePlan', () => {
    it('deletes a STAGING plan with its policies', async () => {
      const plan = await create();
      await deletePlan(publisher, plan.id);
      expect(await caught(getPlan(publisher, plan.id))).toBeInstanceOf(NotFoundError);
      expect(await database.db.select().from(planPolicies).where(eq(planPolicies.planId, plan.id))).toEqual([]);
    });

    it('refuses a published plan and a STAGING plan with subscriptions', async () => {
      const published = await publishPlan(publisher, (await create()).id);
      expect(await caught(deletePlan(publisher, published.id))).toBeInstanceOf(InvalidTransitionError);
      const staging = await create();
      await insertSubscription(staging.id, publicApi, 'PENDING');
      expect(await caught(deletePlan(publisher, staging.id))).toBeInstanceOf(InvalidTransitionError);
      expect((await getPlan(publisher, staging.id)).status).toBe('STAGING');
    });
  });

  describe('reading', () => {
    it('shows a consumer PUBLISHED and DEPRECATED plans of visible APIs only', async () => {
      const apiId = await insertApi('reading', 'public');
      const staging = await create({ apiId });
      const published = await publishPlan(publisher, (await create({ apiId })).id);
      const deprecated = await deprecatePlan(publisher, (await publishPlan(publisher, (await create({ apiId })).id)).id);
      const closed = await closePlan(publisher, (await create({ apiId })).id);
      expect(await caught(getPlan(consumer, staging.id))).toBeInstanceOf(NotFoundError);
      expect(await caught(getPlan(consumer, closed.id))).toBeInstanceOf(NotFoundError);
      expect((await getPlan(consumer, published.id)).id).toBe(published.id);
      expect((await listPlans(consumer, apiId, {}, page)).map((p) => p.id)).toEqual([published.id, deprecated.id]);
      expect((await listPlans(consumer, apiId, { status: ['STAGING', 'DEPRECATED'] }, page)).map((p) => p.id)).toEqual([deprecated.id]);
      expect(await listPlans(consumer, apiId, { status: ['STAGING'] }, page)).toEqual([]);
      expect((await listPlans(publisher, apiId, {}, page)).map((p) => p.id)).toEqual([staging.id, published.id, deprecated.id, closed.id]);
    });

    it('hides a private API\u2019s plans from a consumer until one of its applications subscribes', async () => {
      const plan = await publishPlan(publisher, (await create({ apiId: privateApi })).id);
      expect(await caught(listPlans(consumer, privateApi, {}, page))).toBeInstanceOf(NotFoundError);
      expect(await loadPlans(consumer, [plan.id])).toEqual([null]);
      await insertSubscription(plan.id, privateApi, 'ACCEPTED');
      expect((await listPlans(consumer, privateApi, {}, page)).map((p) => p.id)).toEqual([plan.id]);
    });

    it('filters by status and security and pages by id', async () => {
      const apiId = await insertApi('filters', 'public');
      const a = await create({ apiId, security: { type: 'KEYLESS' }, policies: [] });
      const b = await publishPlan(publisher, (await create({ apiId })).id);
      const c = await create({ apiId, security: { type: 'JWT', jwt: { keyResolver: 'GATEWAY_KEYS' } } });
      expect((await listPlans(publisher, apiId, { security: 'KEYLESS' }, page)).map((p) => p.id)).toEqual([a.id]);
      expect((await listPlans(publisher, apiId, { status: ['PUBLISHED'] }, page)).map((p) => p.id)).toEqual([b.id]);
      expect((await listPlans(publisher, apiId, {}, { limit: 2, inverted: false, after: a.id })).map((p) => p.id)).toEqual([b.id, c.id]);
      expect((await listPlans(publisher, apiId, {}, { limit: 1, inverted: true })).map((p) => p.id)).toEqual([c.id]);
    });

    it('batch-loads plans per API and by id in the order asked', async () => {
      const apiId = await insertApi('batch', 'public');
      const x = await create({ apiId, position: 5 });
      const y = await create({ apiId, position: 1 });
      const grouped = await listPlansForApis(publisher, [apiId, 'api_missing', apiId]);
      expect(grouped.map((g) => g.map((p) => p.id))).toEqual([[y.id, x.id], [], [y.id, x.id]]);
      expect((await listPlansForApis(consumer, [apiId]))[0]).toEqual([]);
      const loaded = await loadPlans(publisher, [x.id, 'pln_missing', y.id]);
      expect(loaded.map((p) => p?.id ?? null)).toEqual([x.id, null, y.id]);
    });
  });

  describe('assertPlanAcceptsSubscriptions', () => {
    it('accepts a PUBLISHED keyed plan and refuses keyless, STAGING, DEPRECATED and CLOSED plans', async () => {
      const plan = await create();
      expect(() => assertPlanAcceptsSubscriptions({ ...plan, status: 'PUBLISHED' })).not.toThrow();
      for (const status of ['STAGING', 'DEPRECATED', 'CLOSED'] as const) {
        expect(() => assertPlanAcceptsSubscriptions({ ...plan, status })).toThrow(InvalidTransitionError);
      }
      const keyless = { ...plan, status: 'PUBLISHED' as const, security: { ...plan.security, type: 'KEYLESS' as const } };
      expect(() => assertPlanAcceptsSubscriptions(keyless)).toThrow('Keyless plans need no subscription');
    });
  });
});
