import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { apiKeys, apis, applications, auditLog, operations, subscriptions } from '../../../server/db/schema/index.ts';
import {
  type ApiInput,
  createApi,
  deleteApi,
  deployApi,
  getApi,
  getApiByHandle,
  listApis,
  loadApis,
  resolvedContext,
  undeployApi,
  updateApi,
} from '../../../server/domain/apis/index.ts';
import type { Actor, ChangeEvent, DomainContext } from '../../../server/domain/context.ts';
import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import { allRows } from '../../../server/domain/pagination.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';
import { numberedSeedApi } from '../../helpers/rest-seed.ts';

let seq = 0;
/** The seed's reading-list API with a fresh handle, name and context; `edit` changes the copy. */
function apiInput(edit: (input: ApiInput) => void = () => {}): ApiInput {
  seq++;
  const { name, spec } = numberedSeedApi(seq);
  const input: ApiInput = { metadata: { name, labels: { team: 'books' } }, spec };
  edit(input);
  return input;
}

async function caught(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

/** A value the TypeScript types forbid but REST's arbitrary JSON can carry. */
function bad<T>(value: unknown): T {
  return value as T;
}

describe.each(drivers)('apis domain (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let admin: DomainContext;
  let publisher: DomainContext;
  let consumer: DomainContext;
  let otherConsumer: DomainContext;

  async function rowCounts() {
    const [a] = await database.db.select({ n: count() }).from(apis);
    const [o] = await database.db.select({ n: count() }).from(operations);
    const [l] = await database.db.select({ n: count() }).from(auditLog);
    return { apis: a!.n, operations: o!.n, audit: l!.n };
  }

  async function actorFor(username: string, role: Actor['role']): Promise<DomainContext> {
    const user = await createUser(admin, { username, password: 'password-123', role });
    return domainContext(database, { userId: user.id, username, role });
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database);
    publisher = await actorFor('pub', 'publisher');
    consumer = await actorFor('con', 'consumer');
    otherConsumer = await actorFor('con2', 'consumer');
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('create', () => {
    it('stores the whole v0.9 resource when the seed payload is valid', async () => {
      const input = apiInput((i) => {
        i.metadata.annotations = { 'example.com/owner': 'books-team' };
        i.spec.upstream.sandbox = { ref: 'backend', hostRewrite: 'manual' };
        i.spec.upstreamDefinitions = [
          { name: 'backend', basePath: '/api/v2', timeout: { connect: '5s' }, upstreams: [{ url: 'http://a:8080', weight: 80 }, { url: 'http://b:8080' }] },
        ];
        i.spec.vhosts = { main: 'api.example.com', sandbox: 'sandbox.example.com' };
        i.spec.subscriptionPlans = ['Gold', 'Silver'];
        i.spec.operations[0]!.policies = [{ name: 'basic-ratelimit', version: 'v1', executionCondition: '', params: { limits: [{ requests: 5, duration: '1m' }] } }];
      });
      const api = await createApi(publisher, input);
      expect(api).toMatchObject({
        handle: input.metadata.name,
        labels: { team: 'books' },
        annotations: { 'example.com/owner': 'books-team' },
        displayName: input.spec.displayName,
        version: 'v1.0',
        context: input.spec.context,
        upstream: {
          main: { url: 'https://apis.bijira.dev/samples/reading-list-api-service/v1.0', ref: null, hostRewrite: null },
          sandbox: { url: null, ref: 'backend', hostRewrite: 'manual' },
        },
        upstreamDefinitions: [
          { name: 'backend', basePath: '/api/v2', connectTimeout: '5s', upstreams: [{ url: 'http://a:8080', weight: 80 }, { url: 'http://b:8080', weight: null }] },
        ],
        vhosts: { main: 'api.example.com', sandbox: 'sandbox.example.com' },
        subscriptionPlans: ['Gold', 'Silver'],
        deploymentState: 'deployed',
        visibility: 'public',
        ownerId: publisher.actor.userId,
      });
      expect(api.id).toMatch(/^api_/);
      expect(api.deployedAt).toBeInstanceOf(Date);
      expect(api.policies).toEqual([{ ...input.spec.policies![0], executionCondition: null }]);
      expect(api.operations.map((o) => `${o.method} ${o.path}`)).toEqual(input.spec.operations.map((o) => `${o.method} ${o.path}`));
      expect(api.operations[0]!.policies).toEqual([{ name: 'basic-ratelimit', version: 'v1', executionCondition: '', params: { limits: [{ requests: 5, duration: '1m' }] } }]);
      expect(resolvedContext(api)).toBe(input.spec.context.replace('$version', 'v1.0'));
      expect(await getApi(admin, api.handle)).toEqual(api);
      expect(await getApi(admin, api.id)).toEqual(api);
      expect(await getApiByHandle(admin, api.handle)).toEqual(api);
    });

    it('writes an audit entry and publishes a change event only after commit when an API is created', async () => {
      const events: ChangeEvent[] = [];
      const seenAtPublish: Promise<unknown[]>[] = [];
      const ctx = domainContext(database, publisher.actor);
      ctx.changes.subscribe((batch) => {
        events.push(...batch);
        // Read through the pool at publish time: the row must already be committed and visible.
        for (const e of batch) seenAtPublish.push(database.db.select({ id: apis.id }).from(apis).where(eq(apis.id, e.entityId)));
      });
      const api = await createApi(ctx, apiInput());
      expect(events).toEqual([{ entityType: 'api', entityId: api.id, action: 'api.create' }]);
      expect(await Promise.all(seenAtPublish)).toEqual([[{ id: api.id }]]);
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.entityId, api.id));
      expect(entry).toMatchObject({ action: 'api.create', entityType: 'api', actorName: 'pub' });
      expect((entry!.after as { handle: string }).handle).toBe(api.handle);
      await caught(createApi(ctx, apiInput((i) => (i.metadata.name = api.handle))));
      expect(events).toHaveLength(1);
    });

    it('creates an API governed by plans (PLANS) unless the input says OPEN', async () => {
      expect((await createApi(admin, apiInput())).accessMode).toBe('PLANS');
      expect((await createApi(admin, apiInput((i) => (i.accessMode = 'OPEN')))).accessMode).toBe('OPEN');
    });

    it('creates an undeployed API without deployedAt when deploymentState is undeployed', async () => {
      const api = await createApi(admin, apiInput((i) => (i.spec.deploymentState = 'undeployed')));
      expect(api.deploymentState).toBe('undeployed');
      expect(api.deployedAt).toBeNull();
    });

    it('accepts the root context and a plain numeric version', async () => {
      const api = await createApi(admin, apiInput((i) => {
        i.spec.context = '/';
        i.spec.version = '2';
        i.spec.vhosts = { main: 'root.example.com' };
      }));
      expect(resolvedContext(api)).toBe('/');
    });
  });

  describe('validation', () => {
    const cases: [string, (i: ApiInput) => void, string, string][] = [
      ['metadata.name is missing', (i) => (i.metadata.name = ''), 'metadata.name', 'metadata.name is required'],
      ['metadata.name holds whitespace', (i) => (i.metadata.name = 'a b'), 'metadata.name', "metadata.name must not contain whitespace or '/'"],
      ['metadata.name holds a slash', (i) => (i.metadata.name = 'a/b'), 'metadata.name', "metadata.name must not contain whitespace or '/'"],
      ['a label key holds whitespace', (i) => (i.metadata.labels = { 'bad key': 'x' }), 'metadata.labels', "Label key 'bad key' must be non-empty and must not contain whitespace"],
      ['a label value is not a string', (i) => (i.metadata.labels = bad({ k: 1 })), 'metadata.labels.k', 'Value must be a string'],
      ['displayName has a slash', (i) => (i.spec.displayName = 'Books/API'), 'spec.displayName', 'Display name must be 1-100 letters, digits, spaces, hyphens, underscores or dots'],
      ['displayName has a !', (i) => (i.spec.displayName = 'Books!'), 'spec.displayName', 'Display name must be 1-100 letters, digits, spaces, hyphens, underscores or dots'],
      ['displayName is empty', (i) => (i.spec.displayName = ''), 'spec.displayName', 'Display name must be 1-100 letters, digits, spaces, hyphens, underscores or dots'],
      ['displayName is 101 characters', (i) => (i.spec.displayName = 'a'.repeat(101)), 'spec.displayName', 'Display name must be 1-100 letters, digits, spaces, hyphens, underscores or dots'],
      ['version is not numeric', (i) => (i.spec.version = 'v1.x'), 'spec.version', 'Version must look like v1, v1.0 or 1.0.0'],
      ['version has four parts', (i) => (i.spec.version = 'v1.0.0.0'), 'spec.version', 'Version must look like v1, v1.0 or 1.0.0'],
      ['version is empty', (i) => (i.spec.version = ''), 'spec.version', 'Version must look like v1, v1.0 or 1.0.0'],
      ['version ends with a dot', (i) => (i.spec.version = 'v1.'), 'spec.version', 'Version must look like v1, v1.0 or 1.0.0'],
      ['version is a word', (i) => (i.spec.version = 'version1'), 'spec.version', 'Version must look like v1, v1.0 or 1.0.0'],
      ['context lacks the leading slash', (i) => (i.spec.context = 'books'), 'spec.context', 'Context must start with / and cannot end with /'],
      ['context has a trailing slash', (i) => (i.spec.context = '/books/'), 'spec.context', 'Context must start with / and cannot end with /'],
      ['context is 201 characters', (i) => (i.spec.context = `/${'a'.repeat(200)}`), 'spec.context', 'Context must be at most 200 characters'],
      ['context holds another placeholder', (i) => (i.spec.context = '/books/$name'), 'spec.context', 'Context may contain no placeholder other than $version'],
      ['upstream has both url and ref', (i) => (i.spec.upstream.main = { url: 'http://a', ref: 'x' }), 'spec.upstream.main', 'Exactly one of url or ref must be set'],
      ['upstream has neither url nor ref', (i) => (i.spec.upstream.main = bad({})), 'spec.upstream.main', 'Exactly one of url or ref must be set'],
      ['upstream is missing', (i) => (i.spec.upstream = bad({})), 'spec.upstream.main', 'Main upstream is required'],
      ['upstream url is ftp', (i) => (i.spec.upstream.main = { url: 'ftp://files' }), 'spec.upstream.main.url', 'Upstream URL must be an http or https URL with a host'],
      ['upstream url is not a URL', (i) => (i.spec.upstream.main = { url: 'not a url' }), 'spec.upstream.main.url', 'Upstream URL must be an http or https URL with a host'],
      ['upstream url has no host', (i) => (i.spec.upstream.main = { url: 'http://' }), 'spec.upstream.main.url', 'Upstream URL must be an http or https URL with a host'],
      ['upstream ref names nothing', (i) => (i.spec.upstream.main = { ref: 'ghost' }), 'spec.upstream.main.ref', "Upstream ref 'ghost' does not name an upstreamDefinition"],
      ['hostRewrite is unknown', (i) => (i.spec.upstream.main.hostRewrite = bad('always')), 'spec.upstream.main.hostRewrite', 'hostRewrite must be auto or manual'],
      ['sandbox upstream url is invalid', (i) => (i.spec.upstream.sandbox = { url: 'nope' }), 'spec.upstream.sandbox.url', 'Upstream URL must be an http or https URL with a host'],
      ['an upstreamDefinition name has a dot', (i) => (i.spec.upstreamDefinitions = [{ name: 'a.b', upstreams: [{ url: 'http://a' }] }]), 'spec.upstreamDefinitions[0].name', 'Name must be letters, digits, - or _'],
      ['upstreamDefinition names repeat', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', upstreams: [{ url: 'http://a' }] }, { name: 'a', upstreams: [{ url: 'http://b' }] }]), 'spec.upstreamDefinitions[1].name', "Duplicate upstream definition name 'a'"],
      ['a weight is 101', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', upstreams: [{ url: 'http://a', weight: 101 }] }]), 'spec.upstreamDefinitions[0].upstreams[0].weight', 'Weight must be an integer from 0 to 100'],
      ['a weight is negative', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', upstreams: [{ url: 'http://a', weight: -1 }] }]), 'spec.upstreamDefinitions[0].upstreams[0].weight', 'Weight must be an integer from 0 to 100'],
      ['a target url is invalid', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', upstreams: [{ url: 'a:b' }] }]), 'spec.upstreamDefinitions[0].upstreams[0].url', 'Upstream URL must be an http or https URL with a host'],
      ['a definition has no targets', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', upstreams: [] }]), 'spec.upstreamDefinitions[0].upstreams', 'At least one upstream is required'],
      ['connect timeout is not a duration', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', timeout: { connect: '5 seconds' }, upstreams: [{ url: 'http://a' }] }]), 'spec.upstreamDefinitions[0].timeout.connect', 'Connect timeout must be a duration such as 5s or 500ms'],
      ['basePath lacks a slash', (i) => (i.spec.upstreamDefinitions = [{ name: 'a', basePath: 'v2', upstreams: [{ url: 'http://a' }] }]), 'spec.upstreamDefinitions[0].basePath', 'basePath must start with /'],
      ['the main vhost is not a host', (i) => (i.spec.vhosts = { main: 'http://x' }), 'spec.vhosts.main', 'Main vhost must be a host name'],
      ['there are no operations', (i) => (i.spec.operations = []), 'spec.operations', 'At least one operation is required'],
      ['a method is TRACE', (i) => (i.spec.operations[2]!.method = bad('TRACE')), 'spec.operations[2].method', 'Method must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS'],
      ['a path lacks the leading slash', (i) => (i.spec.operations[2]!.path = 'books'), 'spec.operations[2].path', 'Path must start with / and have balanced {} around parameter names'],
      ['a path has an unclosed brace', (i) => (i.spec.operations[2]!.path = '/books/{id'), 'spec.operations[2].path', 'Path must start with / and have balanced {} around parameter names'],
      ['a path has an empty parameter', (i) => (i.spec.operations[2]!.path = '/books/{}'), 'spec.operations[2].path', 'Path must start with / and have balanced {} around parameter names'],
      ['a path has a stray closing brace', (i) => (i.spec.operations[2]!.path = '/books/id}'), 'spec.operations[2].path', 'Path must start with / and have balanced {} around parameter names'],
      ['an operation repeats with another parameter name', (i) => (i.spec.operations[3] = { method: 'GET', path: '/books/{bookId}' }), 'spec.operations[3].path', 'Duplicate operation GET /books/{bookId}'],
      ['an API policy is unknown', (i) => (i.spec.policies![0]!.name = 'nope'), 'spec.policies[0].name', "Unknown policy 'nope'"],
      ['an API policy version is v1.0.0', (i) => (i.spec.policies![0]!.version = 'v1.0.0'), 'spec.policies[0].version', "policy 'set-headers' version must be major-only (e.g., v1); full semantic version (e.g., v1.0.0) is not allowed"],
      ['api-key params lack key', (i) => (i.spec.policies = [{ name: 'api-key', version: 'v1', params: {} }]), 'spec.policies[0].params.key', 'is required'],
      ['an operation policy has bad params', (i) => (i.spec.operations[1]!.policies = [{ name: 'throttle', version: 'v1', params: { limits: [{ requests: 0, duration: '1m' }] } }]), 'spec.operations[1].policies[0].params.limits[0].requests', 'must be at least 1'],
      ['a subscription plan name is empty', (i) => (i.spec.subscriptionPlans = ['']), 'spec.subscriptionPlans[0]', 'Plan name must be a non-empty string'],
      ['deploymentState is unknown', (i) => (i.spec.deploymentState = bad('paused')), 'spec.deploymentState', 'deploymentState must be deployed or undeployed'],
      ['visibility is unknown', (i) => (i.visibility = bad('secret')), 'visibility', 'Visibility must be public or private'],
      ['accessMode is unknown', (i) => (i.accessMode = bad('ANYONE')), 'accessMode', 'accessMode must be one of PLANS, OPEN'],
    ];

    it.each(cases)('reports %s at its path', async (_name, edit, path, message) => {
      const before = await rowCounts();
      const error = await caught(createApi(admin, apiInput((i) => edit(i))));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.code).toBe('VALIDATION');
      expect(error.message).toBe('Configuration validation failed');
      expect(error.issues).toContainEqual({ path, message: expect.stringContaining(message) });
      expect(await rowCounts()).toEqual(before);
    });

    it('reports every problem at once when several rules fail', async () => {
      const error = await caught(
        createApi(admin, apiInput((i) => {
          i.metadata.name = 'a b';
          i.spec.context = 'x/';
          i.spec.upstream.main = { url: 'ftp://x' };
          i.spec.operations[2]!.path = 'nope';
          i.spec.policies![0]!.version = 'v1.0.0';
        })),
      );
      expect(error.issues.map((i) => i.path)).toEqual([
        'metadata.name', 'spec.context', 'spec.upstream.main.url', 'spec.policies[0].version', 'spec.operations[2].path',
      ]);
    });

    it('accepts each boundary value when it is just inside the rules', async () => {
      const api = await createApi(admin, apiInput((i) => {
        i.spec.displayName = `${'a'.repeat(95)}-${seq}`.slice(-100);
        i.spec.context = `/${'c'.repeat(190)}${seq}`.slice(0, 200);
        i.spec.upstreamDefinitions = [{ name: 'up_1-A', upstreams: [{ url: 'http://a', weight: 0 }, { url: 'https://b', weight: 100 }] }];
        i.spec.upstream.main = { ref: 'up_1-A', hostRewrite: 'auto' };
        i.spec.operations = [{ method: 'OPTIONS', path: '/{a}/{b}' }, { method: 'HEAD', path: '/' }, { method: 'PATCH', path: '/x' }];
      }));
      expect(api.upstream.main).toEqual({ url: null, ref: 'up_1-A', hostRewrite: 'auto' });
    });
  });

  describe('conflicts', () => {
    it('returns 409-style ConflictError when the handle exists, writing nothing', async () => {
      const first = await createApi(admin, apiInput());
      const before = await rowCounts();
      const error = await caught(createApi(admin, apiInput((i) => (i.metadata.name = first.handle))));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toBe(`configuration already exists: API with handle '${first.handle}'`);
      expect(await rowCounts()).toEqual(before);
    });

    it('returns ConflictError when displayName and version exist', async () => {
      const first = await createApi(admin, apiInput());
      const error = await caught(createApi(admin, apiInput((i) => (i.spec.displayName = first.displayName))));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toBe(`configuration already exists: API with displayName '${first.displayName}' and version 'v1.0'`);
    });

    it('accepts the same displayName when the version differs', async () => {
      const first = await createApi(admin, apiInput());
      const second = await createApi(admin, apiInput((i) => {
        i.spec.displayName = first.displayName;
        i.spec.version = 'v2.0';
      }));
      expect(second.displayName).toBe(first.displayName);
    });
  });

  describe('route claims', () => {
    it('refuses a deployed API whose route another deployed API serves, writing nothing', async () => {
      const first = await createApi(admin, apiInput((i) => (i.spec.context = '/shared-a/$version')));
      const before = await rowCounts();
      const error = await caught(createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-a';
        i.spec.operations = [{ method: 'GET', path: '/v1.0/books/{bookId}' }];
      })));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toBe(`route GET /shared-a/v1.0/books/{bookId} on vhost '*' is already served by deployed API '${first.handle}'`);
      expect(await rowCounts()).toEqual(before);
    });

    it('refuses a root operation whose context another API serves as a literal path, and a wildcard another API serves; allows overlapping shapes', async () => {
      const literal = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-r';
        i.spec.operations = [{ method: 'GET', path: '/a' }, { method: 'GET', path: '/files/*' }];
      }));
      const root = await caught(createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-r/a';
        i.spec.operations = [{ method: 'GET', path: '/' }];
      })));
      expect(root).toBeInstanceOf(ConflictError);
      expect(root.message).toBe(`route GET /shared-r/a/ on vhost '*' is already served by deployed API '${literal.handle}'`);
      const wildcard = await caught(createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-r/files';
        i.spec.operations = [{ method: 'GET', path: '/*' }];
      })));
      expect(wildcard).toBeInstanceOf(ConflictError);
      // Overlapping, not identical: served by match order (literal before prefix, the longer prefix first).
      const overlapping = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-r';
        i.spec.operations = [{ method: 'GET', path: '/files/x' }, { method: 'GET', path: '/files/x/*' }];
      }));
      expect(overlapping.deploymentState).toBe('deployed');
    });

    it('allows the same route when the method, vhost or deployment differs', async () => {
      await createApi(admin, apiInput((i) => (i.spec.context = '/shared-b')));
      const otherMethod = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-b';
        i.spec.operations = [{ method: 'PATCH', path: '/books' }];
      }));
      const otherHost = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-b';
        i.spec.vhosts = { main: 'other.example.com' };
      }));
      const parked = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-b';
        i.spec.deploymentState = 'undeployed';
      }));
      expect([otherMethod, otherHost, parked].map((a) => a.handle)).toHaveLength(3);
      const error = await caught(deployApi(admin, parked.handle));
      expect(error).toBeInstanceOf(ConflictError);
      expect((await getApi(admin, parked.id)).deploymentState).toBe('undeployed');
    });

    it('lets an API take a route once its holder is undeployed', async () => {
      const holder = await createApi(admin, apiInput((i) => (i.spec.context = '/shared-c')));
      const waiting = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-c';
        i.spec.deploymentState = 'undeployed';
      }));
      await undeployApi(admin, holder.id);
      const deployed = await deployApi(admin, waiting.id);
      expect(deployed.deploymentState).toBe('deployed');
      expect(deployed.deployedAt).toBeInstanceOf(Date);
      expect(await caught(deployApi(admin, holder.id))).toBeInstanceOf(ConflictError);
    });

    it('refuses a second API on the default sandbox vhost when both have a sandbox upstream and different main vhosts', async () => {
      const first = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-e';
        i.spec.vhosts = { main: 'shop-a.example.com' };
        i.spec.upstream.sandbox = { url: 'http://sandbox-a:8080' };
      }));
      const before = await rowCounts();
      const error = await caught(createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-e';
        i.spec.vhosts = { main: 'shop-b.example.com' };
        i.spec.upstream.sandbox = { url: 'http://sandbox-b:8080' };
      })));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toBe(`route GET /shared-e/books on vhost 'sandbox-*' is already served by deployed API '${first.handle}'`);
      expect(await rowCounts()).toEqual(before);
      // Without a sandbox upstream the second API claims no sandbox vhost, so it does not clash.
      const mainOnly = await createApi(admin, apiInput((i) => {
        i.spec.context = '/shared-e';
        i.spec.vhosts = { main: 'shop-c.example.com' };
      }));
      expect(mainOnly.deploymentState).toBe('deployed');
    });

    it('refuses an update that moves a deployed API onto another one’s route', async () => {
      await createApi(admin, apiInput((i) => (i.spec.context = '/shared-d')));
      const mover = await createApi(admin, apiInput());
      const error = await caught(updateApi(admin, mover.handle, { spec: { ...apiInput().spec, context: '/shared-d', displayName: mover.displayName } }));
      expect(error).toBeInstanceOf(ConflictError);
    });
  });

  describe('update', () => {
    it('replaces the spec and keeps the handle, visibility and id when the input is valid', async () => {
      const api = await createApi(admin, apiInput((i) => {
        i.visibility = 'private';
        i.spec.policies = [{ name: 'api-key', version: 'v1', params: { key: 'X-API-Key' } }];
      }));
      const next = apiInput((i) => {
        i.spec.operations = [{ method: 'GET', path: '/shelves', policies: [{ name: 'throttle', version: 'v1', params: { planQuota: true } }] }];
        i.spec.policies = [];
        i.metadata.labels = { tier: 'gold' };
      });
      const updated = await updateApi(admin, api.handle, { metadata: { name: api.handle, labels: next.metadata.labels }, spec: next.spec });
      expect(updated).toMatchObject({ id: api.id, handle: api.handle, visibility: 'private', labels: { tier: 'gold' }, displayName: next.spec.displayName, policies: [] });
      expect(updated.operations.map((o) => o.path)).toEqual(['/shelves']);
      expect(updated.operations[0]!.policies[0]!.name).toBe('throttle');
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'api.update'));
      expect(entry).toBeDefined();
    });

    it('refuses a body handle that differs from the API’s with a handle mismatch', async () => {
      const api = await createApi(admin, apiInput());
      const error = await caught(updateApi(admin, api.handle, { metadata: { name: 'another' }, spec: apiInput().spec }));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.message).toMatch(/^handle mismatch: /);
      expect(error.issues[0]!.path).toBe('metadata.name');
    });

    it('answers NotFound with the v0.9 message when the handle is unknown, never creating', async () => {
      const before = await rowCounts();
      const error = await caught(updateApi(admin, 'ghost-api', { spec: apiInput().spec }));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe("RestAPI with handle 'ghost-api' not found");
      expect(await rowCounts()).toEqual(before);
    });

    it('refuses an update taking another API’s displayName and version', async () => {
      const a = await createApi(admin, apiInput());
      const b = await createApi(admin, apiInput());
      const error = await caught(updateApi(admin, b.id, { spec: { ...apiInput().spec, displayName: a.displayName } }));
      expect(error).toBeInstanceOf(ConflictError);
    });

    it('reports validation issues on update like on create', async () => {
      const api = await createApi(admin, apiInput());
      const error = await caught(updateApi(admin, api.id, { spec: { ...apiInput().spec, context: 'bad' } }));
      expect(error.issues).toEqual([{ path: 'spec.context', message: 'Context must start with / and cannot end with /' }]);
    });

    it('keeps configuration when undeployed through the spec', async () => {
      const api = await createApi(admin, apiInput());
      const updated = await updateApi(admin, api.id, { spec: { ...apiInput().spec, displayName: api.displayName, context: api.context, deploymentState: 'undeployed' } });
      expect(updated.deploymentState).toBe('undeployed');
      expect(updated.deployedAt).toBeNull();
      expect(updated.operations).toHaveLength(5);
    });
  });

  describe('delete', () => {
    it('deletes the API with its keys and subscriptions and audits it', async () => {
      const api = await createApi(admin, apiInput());
      await database.db.insert(apiKeys).values({ id: newId('apiKey'), name: 'k1', digest: 'd'.repeat(64) + api.id, masked: '***abcde', apiId: api.id });
      const [app] = await database.db.insert(applications).values({ id: newId('application'), name: 'app', ownerId: consumer.actor.userId! }).returning();
      await database.db.insert(subscriptions).values({ id: newId('subscription'), apiId: api.id, applicationId: app!.id, status: 'ACCEPTED' });
      const deleted = await deleteApi(admin, api.handle);
      expect(deleted.id).toBe(api.id);
      expect(await database.db.select().from(apiKeys).where(eq(apiKeys.apiId, api.id))).toEqual([]);
      expect(await database.db.select().from(subscriptions).where(eq(subscriptions.apiId, api.id))).toEqual([]);
      expect(await database.db.select().from(operations).where(eq(operations.apiId, api.id))).toEqual([]);
      expect(await caught(getApi(admin, api.id))).toBeInstanceOf(NotFoundError);
      const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'api.delete'));
      expect(entry?.entityId).toBe(api.id);
    });

    it('answers NotFound when the API does not exist', async () => {
      const error = await caught(deleteApi(admin, 'nope'));
      expect(error.message).toBe("RestAPI with handle 'nope' not found");
    });
  });

  describe('deploy and undeploy', () => {
    it('takes the API off traffic and back, recording each change', async () => {
      const api = await createApi(publisher, apiInput());
      const off = await undeployApi(publisher, api.handle);
      expect(off).toMatchObject({ deploymentState: 'undeployed', deployedAt: null });
      expect(await undeployApi(publisher, api.handle)).toEqual(off);
      const on = await deployApi(publisher, api.handle);
      expect(on.deploymentState).toBe('deployed');
      const actions = (await database.db.select().from(auditLog).where(eq(auditLog.entityId, api.id)).orderBy(auditLog.id)).map((e) => e.action);
      // Ids within one millisecond are not ordered, so compare as a set.
      expect(actions.sort()).toEqual(['api.create', 'api.deploy', 'api.undeploy']);
    });
  });

  describe('list and load', () => {
    it('filters by displayName, version, context, state, visibility and labels in id order', async () => {
      const a = await createApi(admin, apiInput((i) => {
        i.spec.version = 'v9';
        i.metadata.labels = { env: 'prod', team: 'x' };
      }));
      const b = await createApi(admin, apiInput((i) => {
        i.spec.version = 'v9';
        i.visibility = 'private';
        i.spec.deploymentState = 'undeployed';
        i.metadata.labels = { env: 'dev' };
      }));
      const handles = async (f: Parameters<typeof listApis>[1]) => (await listApis(admin, f, allRows)).map((x) => x.handle);
      // Lists order by id; two ids of the same millisecond compare by their random part.
      const [first, second] = [a, b].sort((x, y) => (x.id < y.id ? -1 : 1)) as [typeof a, typeof b];
      expect(await handles({ version: 'v9' })).toEqual([first.handle, second.handle]);
      expect(await handles({ displayName: a.displayName })).toEqual([a.handle]);
      expect(await handles({ context: a.context })).toEqual([a.handle]);
      expect(await handles({ context: resolvedContext(a) })).toEqual([a.handle]);
      expect(await handles({ version: 'v9', deploymentState: 'undeployed' })).toEqual([b.handle]);
      expect(await handles({ version: 'v9', visibility: 'public' })).toEqual([a.handle]);
      expect(await handles({ labels: [{ key: 'env', value: 'prod' }] })).toEqual([a.handle]);
      expect(await handles({ version: 'v9', labels: [{ key: 'env' }] })).toEqual([first.handle, second.handle]);
      const page = await listApis(admin, { version: 'v9' }, { limit: 1, inverted: false, after: first.id });
      expect(page.map((x) => x.id)).toEqual([second.id]);
      const inverted = await listApis(admin, { version: 'v9' }, { limit: 10, inverted: true });
      expect(inverted.map((x) => x.id)).toEqual([second.id, first.id]);
    });

    it('loads APIs in the order asked with null for unknown ids', async () => {
      const a = await createApi(admin, apiInput());
      const b = await createApi(admin, apiInput());
      const loaded = await loadApis(admin, [b.id, 'api_missing', a.id]);
      expect(loaded.map((x) => x?.id ?? null)).toEqual([b.id, null, a.id]);
    });
  });

  describe('authorization', () => {
    it('forbids a consumer to create an API, writing nothing', async () => {
      const before = await rowCounts();
      const error = await caught(createApi(consumer, apiInput()));
      expect(error).toBeInstanceOf(ForbiddenError);
      expect(await rowCounts()).toEqual(before);
    });

    it('hides a private API from a consumer without a subscription and shows it once subscribed', async () => {
      const api = await createApi(publisher, apiInput((i) => (i.visibility = 'private')));
      expect(await caught(getApi(consumer, api.handle))).toBeInstanceOf(NotFoundError);
      expect((await listApis(consumer, { displayName: api.displayName }, allRows))).toEqual([]);
      expect(await loadApis(consumer, [api.id])).toEqual([null]);
      // A write on something it cannot see is NotFound too (no leak), not Forbidden.
      expect(await caught(deleteApi(consumer, api.handle))).toBeInstanceOf(NotFoundError);

      const [app] = await database.db.insert(applications).values({ id: newId('application'), name: 'reader', ownerId: consumer.actor.userId! }).returning();
      await database.db.insert(subscriptions).values({ id: newId('subscription'), apiId: api.id, applicationId: app!.id, status: 'ACCEPTED' });
      expect((await getApi(consumer, api.handle)).id).toBe(api.id);
      expect((await listApis(consumer, { displayName: api.displayName }, allRows)).map((x) => x.id)).toEqual([api.id]);
      expect(await caught(getApi(otherConsumer, api.handle))).toBeInstanceOf(NotFoundError);
      expect(await caught(deleteApi(consumer, api.handle))).toBeInstanceOf(ForbiddenError);
    });

    it('shows a consumer deployed public APIs but not undeployed ones', async () => {
      const live = await createApi(admin, apiInput());
      const parked = await createApi(admin, apiInput((i) => (i.spec.deploymentState = 'undeployed')));
      expect((await getApi(consumer, live.id)).id).toBe(live.id);
      expect(await caught(getApi(consumer, parked.id))).toBeInstanceOf(NotFoundError);
      expect(await caught(updateApi(consumer, live.id, { spec: apiInput().spec }))).toBeInstanceOf(ForbiddenError);
      expect(await caught(deployApi(consumer, parked.id))).toBeInstanceOf(NotFoundError);
    });
  });
});
