import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { numberedSeedApi } from '../../helpers/rest-seed.ts';

const apiFields = `id handle displayName version context resolvedContext visibility deploymentState deployedAt
  labels { key value } annotations { key value } subscriptionPlans
  upstream { main { url ref hostRewrite } sandbox { url ref hostRewrite } }
  upstreamDefinitions { name basePath connectTimeout upstreams { url weight } }
  vhosts { main sandbox }
  policies { name canonicalName version executionCondition params }
  operations { method path policies { name version params } }`;

const result = (payload: string, withIssues = true) => `__typename
  ... on ${payload} { api { ${apiFields} } }
  ... on Error { message code }
  ${withIssues ? '... on ValidationError { issues { path message } }' : ''}`;

const createApiMutation = `mutation($input: CreateApiInput!) { createApi(input: $input) { ${result('CreateApiPayload')} } }`;
const updateApiMutation = `mutation($input: UpdateApiInput!) { updateApi(input: $input) { ${result('UpdateApiPayload')} } }`;
const deployApiMutation = `mutation($input: DeployApiInput!) { deployApi(input: $input) { ${result('DeployApiPayload', false)} } }`;
const undeployApiMutation = `mutation($input: UndeployApiInput!) { undeployApi(input: $input) { ${result('UndeployApiPayload', false)} } }`;
const deleteApiMutation = `mutation($input: DeleteApiInput!) { deleteApi(input: $input) {
  __typename ... on DeleteApiPayload { deletedId handle } ... on Error { message code } } }`;

interface ApiView {
  id: string;
  handle: string;
  displayName: string;
  context: string;
  resolvedContext: string;
  deploymentState: string;
  deployedAt: string | null;
  visibility: string;
  [key: string]: unknown;
}

interface MutationResult {
  __typename: string;
  api?: ApiView;
  message?: string;
  code?: string;
  issues?: { path: string; message: string }[];
}

/** `Api:api_…` -> `api_…` (Relay global ids are base64 of `<type>:<id>`). */
const rawId = (globalId: string): string => Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';

let seq = 0;
interface PolicyVariables {
  name: string;
  version: string;
  params?: Record<string, unknown>;
}

/** `CreateApiInput` as JSON variables (strings where GraphQL has enums). */
interface ApiVariables {
  metadata: { name: string; labels?: { key: string; value: string }[] };
  spec: {
    displayName: string;
    version: string;
    context: string;
    upstream: { main: { url?: string; ref?: string } };
    policies?: PolicyVariables[];
    operations: { method: string; path: string }[];
  };
  visibility?: string;
}

/** The seed's RestApi as GraphQL input, with a fresh handle, name and context. */
function seedInput(edit: (input: ApiVariables) => void = () => {}): ApiVariables {
  seq++;
  const { name, spec } = numberedSeedApi(seq);
  const input: ApiVariables = { metadata: { name, labels: [{ key: 'team', value: 'books' }] }, spec };
  edit(input);
  return input;
}

describe.each(shapeDrivers)('GraphQL apis (%s)', (driver) => {
  let t: TestPlatform;
  const publisherAuth = basicAuth('pub', 'publisher-password');
  const consumerAuth = basicAuth('con', 'consumer-password');

  async function createApi(input: ApiVariables, auth?: string): Promise<MutationResult> {
    const res = await t.graphql<{ createApi: MutationResult }>(createApiMutation, { input: { ...input } }, auth);
    expect(res.errors).toBeUndefined();
    return res.data!.createApi;
  }

  async function count(table: string): Promise<number> {
    const rows = await t.platform.database.db.execute(`select count(*)::int as n from ${table}`);
    const list = (Array.isArray(rows) ? rows : (rows as unknown as { rows: { n: number }[] }).rows) as { n: number }[];
    return list[0]!.n;
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['pub', 'publisher'], ['con', 'consumer']] as const) {
      await t.graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`, {
        input: { username, password: `${role}-password`, role },
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates the seed API and reads it back by id, handle and node', async () => {
    const created = await createApi(seedInput(), publisherAuth);
    expect(created.__typename).toBe('CreateApiPayload');
    const api = created.api!;
    expect(api).toMatchObject({
      displayName: `Reading-List-API-${seq}`,
      resolvedContext: `/reading-list-${seq}/v1.0`,
      deploymentState: 'deployed',
      visibility: 'public',
      labels: [{ key: 'team', value: 'books' }],
      policies: [{ name: 'set-headers', canonicalName: 'set-headers', version: 'v1', executionCondition: null }],
    });
    expect(api.deployedAt).toMatch(/Z$/);
    const byId = await t.graphql<{ api: ApiView; apiByHandle: ApiView; node: { handle: string } }>(
      `query($id: ID!, $handle: String!) { api(id: $id) { handle } apiByHandle(handle: $handle) { id } node(id: $id) { ... on Api { handle } } }`,
      { id: api.id, handle: api.handle },
    );
    expect(byId.data).toEqual({ api: { handle: api.handle }, apiByHandle: { id: api.id }, node: { handle: api.handle } });
  });

  it('stores a policy given without version as the installed major v1, as REST does', async () => {
    const created = await createApi(seedInput((i) => {
      i.spec.policies = i.spec.policies!.map(({ version: _omitted, ...rest }) => rest as PolicyVariables);
    }));
    expect(created.__typename).toBe('CreateApiPayload');
    expect(created.api!.policies).toEqual([expect.objectContaining({ name: 'set-headers', version: 'v1' })]);
  });

  it('returns ValidationError with v0.9 paths and writes nothing when the input breaks several rules', async () => {
    const before = await count('apis');
    const res = await createApi(seedInput((i) => {
      i.metadata.name = 'has space';
      i.spec.context = 'no-slash/';
      i.spec.upstream.main = { url: 'ftp://x' };
      i.spec.operations[2]!.path = '/books/{id';
      i.spec.policies = [{ name: 'api-key', version: 'v1.0.0', params: { in: 'cookie' } }];
    }));
    expect(res.__typename).toBe('ValidationError');
    expect(res.code).toBe('VALIDATION');
    expect(res.issues!.map((i) => i.path)).toEqual([
      'metadata.name',
      'spec.context',
      'spec.upstream.main.url',
      'spec.policies[0].version',
      'spec.policies[0].params.key',
      'spec.policies[0].params.in',
      'spec.operations[2].path',
    ]);
    expect(res.issues).toContainEqual({
      path: 'spec.policies[0].version',
      message: "policy 'api-key' version must be major-only (e.g., v1); full semantic version (e.g., v1.0.0) is not allowed",
    });
    expect(await count('apis')).toBe(before);
  });

  it('returns ConflictError for a repeated handle and for a route another deployed API serves', async () => {
    const first = (await createApi(seedInput((i) => (i.spec.context = '/gql-shared')))).api!;
    const sameHandle = await createApi(seedInput((i) => (i.metadata.name = first.handle)));
    expect(sameHandle).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT', message: `configuration already exists: API with handle '${first.handle}'` });
    const sameRoute = await createApi(seedInput((i) => (i.spec.context = '/gql-shared')));
    expect(sameRoute.__typename).toBe('ConflictError');
    expect(sameRoute.message).toContain(`is already served by deployed API '${first.handle}'`);
  });

  it('updates, undeploys, deploys and deletes an API, auditing each change', async () => {
    const api = (await createApi(seedInput(), publisherAuth)).api!;
    const next = seedInput((i) => (i.spec.operations = [{ method: 'GET', path: '/shelves' }]));
    const updated = await t.graphql<{ updateApi: MutationResult }>(updateApiMutation, {
      input: { id: api.id, spec: next.spec, visibility: 'private' },
    }, publisherAuth);
    expect(updated.data!.updateApi.api).toMatchObject({ id: api.id, handle: api.handle, visibility: 'private', operations: [{ method: 'GET', path: '/shelves', policies: [] }] });

    const mismatch = await t.graphql<{ updateApi: MutationResult }>(updateApiMutation, {
      input: { id: api.id, metadata: { name: 'other' }, spec: next.spec },
    });
    expect(mismatch.data!.updateApi).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'metadata.name' }] });
    expect(mismatch.data!.updateApi.message).toMatch(/^handle mismatch: /);

    const off = await t.graphql<{ undeployApi: MutationResult }>(undeployApiMutation, { input: { id: api.id } }, publisherAuth);
    expect(off.errors).toBeUndefined();
    expect(off.data!.undeployApi.api).toMatchObject({ deploymentState: 'undeployed', deployedAt: null });
    const on = await t.graphql<{ deployApi: MutationResult }>(deployApiMutation, { input: { id: api.id } }, publisherAuth);
    expect(on.data!.deployApi.api!.deploymentState).toBe('deployed');

    const deleted = await t.graphql<{ deleteApi: { __typename: string; deletedId: string; handle: string } }>(deleteApiMutation, { input: { id: api.id } }, publisherAuth);
    expect(deleted.data!.deleteApi).toEqual({ __typename: 'DeleteApiPayload', deletedId: api.id, handle: api.handle });
    const again = await t.graphql<{ deleteApi: MutationResult }>(deleteApiMutation, { input: { id: api.id } });
    expect(again.data!.deleteApi).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND', message: `RestAPI with handle '${rawId(api.id)}' not found` });

    const audit = await t.graphql<{ auditLog: { edges: { node: { action: string } }[] } }>(
      `query($id: String) { auditLog(first: 20, entityType: "api", entityId: $id) { edges { node { action } } } }`,
      { id: rawId(api.id) },
    );
    expect(audit.data!.auditLog.edges.map((e) => e.node.action).sort()).toEqual(['api.create', 'api.delete', 'api.deploy', 'api.undeploy', 'api.update']);
  });

  it('creates an API governed by plans unless told OPEN, and audits an operator’s change of access mode', async () => {
    const select = `api { id accessMode reachability }`;
    const created = await t.graphql<{ createApi: { api: { id: string; accessMode: string; reachability: string } } }>(
      `mutation($input: CreateApiInput!) { createApi(input: $input) { ... on CreateApiPayload { ${select} } } }`,
      { input: seedInput() },
      publisherAuth,
    );
    const api = created.data!.createApi.api;
    expect(api).toMatchObject({ accessMode: 'PLANS', reachability: 'CLOSED' });
    const next = seedInput();
    const opened = await t.graphql<{ updateApi: { api: { accessMode: string; reachability: string } } }>(
      `mutation($input: UpdateApiInput!) { updateApi(input: $input) { ... on UpdateApiPayload { ${select} } } }`,
      { input: { id: api.id, spec: next.spec, accessMode: 'OPEN' } },
      publisherAuth,
    );
    expect(opened.data!.updateApi.api).toMatchObject({ accessMode: 'OPEN', reachability: 'OPEN' });
    // Absent on update: kept.
    const kept = await t.graphql<{ updateApi: { api: { accessMode: string } } }>(
      `mutation($input: UpdateApiInput!) { updateApi(input: $input) { ... on UpdateApiPayload { ${select} } } }`,
      { input: { id: api.id, spec: next.spec } },
      publisherAuth,
    );
    expect(kept.data!.updateApi.api.accessMode).toBe('OPEN');
    const audit = await t.graphql<{ auditLog: { edges: { node: { action: string; before: { accessMode?: string } | null; after: { accessMode?: string } | null } }[] } }>(
      `query($id: String) { auditLog(first: 20, entityType: "api", entityId: $id) { edges { node { action before after } } } }`,
      { id: rawId(api.id) },
    );
    const changes = audit.data!.auditLog.edges.map((e) => [e.node.action, e.node.before?.accessMode ?? null, e.node.after?.accessMode ?? null]);
    expect(changes).toContainEqual(['api.create', null, 'PLANS']);
    expect(changes).toContainEqual(['api.update', 'PLANS', 'OPEN']);
  });

  it('forbids a consumer to create an API and writes nothing', async () => {
    const before = await count('apis');
    const res = await t.graphql<{ createApi: MutationResult | null }>(createApiMutation, { input: seedInput() }, consumerAuth);
    const typed = res.data?.createApi?.__typename;
    const top = res.errors?.[0]?.extensions?.code;
    expect(typed === 'ForbiddenError' || top === 'FORBIDDEN').toBe(true);
    expect(await count('apis')).toBe(before);
  });

  it('hides a private API from a consumer without a subscription', async () => {
    const hidden = (await createApi(seedInput((i) => (i.visibility = 'private')), publisherAuth)).api!;
    const shown = (await createApi(seedInput(), publisherAuth)).api!;
    const res = await t.graphql<{ api: ApiView | null; apiByHandle: ApiView | null; apis: { edges: { node: { handle: string } }[] } }>(
      `query($id: ID!, $handle: String!) { api(id: $id) { handle } apiByHandle(handle: $handle) { handle } apis(first: 100) { edges { node { handle } } } }`,
      { id: hidden.id, handle: hidden.handle },
      consumerAuth,
    );
    expect(res.data!.api).toBeNull();
    expect(res.data!.apiByHandle).toBeNull();
    const handles = res.data!.apis.edges.map((e) => e.node.handle);
    expect(handles).toContain(shown.handle);
    expect(handles).not.toContain(hidden.handle);
  });

  it('filters the apis connection and pages in a stable order', async () => {
    const version = `v${900 + seq}`;
    const made: ApiView[] = [];
    for (let n = 0; n < 3; n++) made.push((await createApi(seedInput((i) => (i.spec.version = version)))).api!);
    const query = `query($version: String, $after: String) { apis(first: 2, after: $after, version: $version) {
      edges { cursor node { handle } } pageInfo { hasNextPage endCursor } } }`;
    const page1 = await t.graphql<{ apis: { edges: { node: { handle: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } }>(query, { version });
    expect(page1.data!.apis.pageInfo.hasNextPage).toBe(true);
    const page2 = await t.graphql<{ apis: { edges: { node: { handle: string } }[]; pageInfo: { hasNextPage: boolean } } }>(query, { version, after: page1.data!.apis.pageInfo.endCursor });
    expect(page2.data!.apis.pageInfo.hasNextPage).toBe(false);
    const seen = [...page1.data!.apis.edges, ...page2.data!.apis.edges].map((e) => e.node.handle);
    expect([...seen].sort()).toEqual(made.map((a) => a.handle).sort());
    const filtered = await t.graphql<{ apis: { edges: { node: { handle: string } }[] } }>(
      `query($ctx: String) { apis(first: 10, context: $ctx, labels: [{ key: "team", value: "books" }]) { edges { node { handle } } } }`,
      { ctx: made[0]!.resolvedContext },
    );
    expect(filtered.data!.apis.edges.map((e) => e.node.handle)).toEqual([made[0]!.handle]);
  });

  it('lists the policy catalogue with JSON Schemas', async () => {
    const res = await t.graphql<{ policyDefinitions: { name: string; aliases: string[]; majorVersion: string; paramsSchema: { type: string } }[] }>(
      '{ policyDefinitions { name aliases majorVersion paramsSchema } }',
      {},
      consumerAuth,
    );
    const byName = new Map(res.data!.policyDefinitions.map((d) => [d.name, d]));
    expect(byName.get('api-key')).toMatchObject({ aliases: ['api-key-auth'], majorVersion: 'v1', paramsSchema: { type: 'object' } });
    expect(byName.get('throttle')!.aliases).toEqual(['basic-ratelimit']);
  });
});
