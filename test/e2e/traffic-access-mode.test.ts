import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { restClient } from '../helpers/rest.ts';
import { seedRestApi } from '../helpers/rest-seed.ts';
import { createApi, createPlan, expectServedConfigValid, must, newSubscriber, query, replyOf, sendThrough, waitServed } from '../helpers/plans-traffic.ts';
import { gatewayAnswers, type Recorder, startRecorder } from '../helpers/traffic.ts';

const closedReply = { status: 403, body: { status: 'error', message: 'No published plan admits traffic to this API.' } };

interface ApiView {
  accessMode: string;
  reachability: string;
}

// Issue 12, item 1 (docs/plan-selection.md "Who can reach an API"): an API governed by plans (accessMode PLANS, the
// GraphQL default) admits traffic only through its PUBLISHED or DEPRECATED plans, and nobody while it has none;
// an OPEN API (the REST v0.9 default) without serving plans is open, its own policies deciding. Every case goes
// through GraphQL or REST and the embedded gateway with the real modules, and checks the served Envoy
// configuration strictly.
describe.each(shapeDrivers)('traffic: who can reach an API (%s)', (driver) => {
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;

  const apiView = async (id: string): Promise<ApiView> =>
    (await query<{ node: ApiView }>(t, 'query($id: ID!) { node(id: $id) { ... on Api { accessMode reachability } } }', { id })).node;
  const servedReachability = async (): Promise<Record<string, string>> => {
    const status = await query<{ deploymentStatus: { apis: { api: string; reachability: string }[] } }>(t, '{ deploymentStatus { apis { api reachability } } }');
    return Object.fromEntries(status.deploymentStatus.apis.map((a) => [a.api, a.reachability]));
  };
  /** The served route configuration's routes of one API (route names start with its handle). */
  const servedRoutes = (handle: string): Record<string, unknown>[] => {
    const routeConfigurations = t.platform.snapshots.current()?.resources.routeConfiguration ?? [];
    const hosts = routeConfigurations.flatMap((rc) => (rc as { virtualHosts?: { routes: Record<string, unknown>[] }[] }).virtualHosts ?? []);
    return hosts.flatMap((h) => h.routes).filter((r) => String(r.name).startsWith(`${handle}/`));
  };

  beforeAll(async () => {
    upstream = await startRecorder('access-upstream');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('answers 403 to anonymous requests when the only plan is a STAGING API_KEY plan, then 401 / 200 once it is published', async () => {
    const api = await createApi(t, 'staging-only', { context: '/staging-only', upstreamUrl: upstream.url });
    const plan = await createPlan(t, api, 'Keys', { type: 'API_KEY' }, { publish: false });
    const closed = await waitServed(t, gw, '/staging-only/items', 403);
    expect(replyOf(closed)).toEqual(closedReply);
    expect(closed.headers['content-type']).toBe('application/json');
    const again = await sendThrough(gw, upstream, '/staging-only/items');
    expect(again.answer.status).toBe(403);
    expect(again.seen).toEqual([]);
    await expectServedConfigValid(t, ['staging-only']);
    expect(servedRoutes('staging-only')).toEqual([
      expect.objectContaining({ name: 'staging-only/GET/items', directResponse: { status: 403, body: { inlineString: JSON.stringify(closedReply.body) } } }),
    ]);
    expect(servedRoutes('staging-only')[0]).not.toHaveProperty('route');

    await must(t, 'publishPlan', 'PublishPlanInput', 'plan { status }', { id: plan });
    await waitServed(t, gw, '/staging-only/items', 401);
    const sub = await newSubscriber(t, 'staging-only-app', plan);
    // The new key is served with the next snapshot.
    await waitServed(t, gw, '/staging-only/items', 200, { headers: { 'x-api-key': sub.key! } });
    const admitted = await sendThrough(gw, upstream, '/staging-only/items', { headers: { 'x-api-key': sub.key! } });
    expect(admitted.answer.status).toBe(200);
    expect(admitted.seen).toHaveLength(1);
    await expectServedConfigValid(t, ['staging-only']);
  });

  it('answers 403 when the API has plans but none is published (one STAGING, one CLOSED)', async () => {
    const api = await createApi(t, 'none-published', { context: '/none-published', upstreamUrl: upstream.url });
    const closedPlan = await createPlan(t, api, 'Old', { type: 'KEYLESS' });
    await must(t, 'closePlan', 'ClosePlanInput', 'plan { status }', { id: closedPlan });
    await createPlan(t, api, 'Next', { type: 'KEYLESS' }, { publish: false });
    expect(replyOf(await waitServed(t, gw, '/none-published/items', 403))).toEqual(closedReply);
    expect((await sendThrough(gw, upstream, '/none-published/items')).seen).toEqual([]);
    expect(await apiView(api)).toEqual({ accessMode: 'PLANS', reachability: 'CLOSED' });
    await expectServedConfigValid(t, ['none-published']);
  });

  it('admits nobody between GraphQL createApi and the first publishPlan (the README walkthrough window)', async () => {
    const api = await createApi(t, 'walkthrough', { context: '/walkthrough', upstreamUrl: upstream.url, operations: [{ method: 'GET', path: '/books' }, { method: 'GET', path: '/books/{id}' }] });
    // Deployed, routed, upstream listening: served at once, and closed.
    const closed = await waitServed(t, gw, '/walkthrough/books/42', 403);
    expect(replyOf(closed)).toEqual(closedReply);
    expect((await sendThrough(gw, upstream, '/walkthrough/books')).seen).toEqual([]);
    expect(await apiView(api)).toEqual({ accessMode: 'PLANS', reachability: 'CLOSED' });
    await expectServedConfigValid(t, ['walkthrough']);
    expect(servedRoutes('walkthrough').map((r) => [r.name, (r.directResponse as { status: number } | undefined)?.status])).toEqual([
      ['walkthrough/GET/books', 403],
      ['walkthrough/GET/books/{id}', 403],
    ]);

    await createPlan(t, api, 'Open to all', { type: 'KEYLESS' });
    await waitServed(t, gw, '/walkthrough/books/42', 200);
    expect(await apiView(api)).toEqual({ accessMode: 'PLANS', reachability: 'PLANS' });
  });

  it('keeps a REST v0.9 API without plans open (OPEN), and closes it when an operator switches it to PLANS', async () => {
    const rest = restClient(t);
    const body = structuredClone(seedRestApi) as { metadata: { name: string }; spec: Record<string, unknown> };
    body.metadata.name = 'legacy-open';
    body.spec = { ...body.spec, displayName: 'Legacy-Open', context: '/legacy-open', upstream: { main: { url: upstream.url } }, operations: [{ method: 'GET', path: '/items' }] };
    const created = await rest.post<Record<string, unknown>>('/rest-apis', body);
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('accessMode');
    expect(created.body.spec).not.toHaveProperty('accessMode');
    const open = await waitServed(t, gw, '/legacy-open/items', 200);
    expect(open.status).toBe(200);

    const found = await query<{ apiByHandle: { id: string } & ApiView }>(t, '{ apiByHandle(handle: "legacy-open") { id accessMode reachability } }');
    expect(found.apiByHandle).toEqual({ id: found.apiByHandle.id, accessMode: 'OPEN', reachability: 'OPEN' });
    await expectServedConfigValid(t, ['legacy-open']);
    expect(servedRoutes('legacy-open')[0]).toHaveProperty('route');

    const spec = { displayName: 'Legacy-Open', version: 'v1.0', context: '/legacy-open', upstream: { main: { url: upstream.url } }, operations: [{ method: 'GET', path: '/items' }] };
    const updated = await must<{ api: ApiView }>(t, 'updateApi', 'UpdateApiInput', 'api { accessMode reachability }', { id: found.apiByHandle.id, spec, accessMode: 'PLANS' });
    expect(updated.api).toEqual({ accessMode: 'PLANS', reachability: 'CLOSED' });
    expect(replyOf(await waitServed(t, gw, '/legacy-open/items', 403))).toEqual(closedReply);

    // A REST PUT (whose body has no access mode) keeps the operator's choice.
    const put = await rest.put<Record<string, unknown>>('/rest-apis/legacy-open', body);
    expect(put.status).toBe(200);
    expect((await apiView(found.apiByHandle.id)).accessMode).toBe('PLANS');
    expect((await sendThrough(gw, upstream, '/legacy-open/items')).answer.status).toBe(403);
  });

  it('admits anonymous traffic to a GraphQL API created with accessMode OPEN and no plan', async () => {
    const created = await must<{ api: { id: string } & ApiView }>(t, 'createApi', 'CreateApiInput', 'api { id accessMode reachability }', {
      metadata: { name: 'chosen-open' },
      accessMode: 'OPEN',
      spec: { displayName: 'chosen-open', version: 'v1', context: '/chosen-open', upstream: { main: { url: upstream.url } }, operations: [{ method: 'GET', path: '/items' }] },
    });
    expect(created.api).toMatchObject({ accessMode: 'OPEN', reachability: 'OPEN' });
    await gatewayAnswers(gw, '/chosen-open/items', 200);
  });

  it('shows OPEN, PLANS, CLOSED and NOT_DEPLOYED in GraphQL, and the served ones in deploymentStatus', async () => {
    const mk = (handle: string, extra: Record<string, unknown> = {}) =>
      must<{ api: { id: string } }>(t, 'createApi', 'CreateApiInput', 'api { id }', {
        metadata: { name: handle },
        ...extra,
        spec: { displayName: handle, version: 'v1', context: `/${handle}`, upstream: { main: { url: upstream.url } }, operations: [{ method: 'GET', path: '/items' }], ...((extra.spec as object | undefined) ?? {}) },
      });
    const open = (await mk('reach-open', { accessMode: 'OPEN' })).api.id;
    const plans = await createApi(t, 'reach-plans', { context: '/reach-plans', upstreamUrl: upstream.url });
    await createPlan(t, plans, 'Free', { type: 'KEYLESS' });
    const closed = await createApi(t, 'reach-closed', { context: '/reach-closed', upstreamUrl: upstream.url });
    const undeployed = (await mk('reach-undeployed', { accessMode: 'OPEN', spec: { deploymentState: 'undeployed' } })).api.id;
    await waitServed(t, gw, '/reach-plans/items', 200);
    await waitServed(t, gw, '/reach-closed/items', 403);
    await waitServed(t, gw, '/reach-open/items', 200);

    expect((await apiView(open)).reachability).toBe('OPEN');
    expect((await apiView(plans)).reachability).toBe('PLANS');
    expect((await apiView(closed)).reachability).toBe('CLOSED');
    expect((await apiView(undeployed)).reachability).toBe('NOT_DEPLOYED');
    const served = await servedReachability();
    expect(served).toMatchObject({ 'reach-open': 'OPEN', 'reach-plans': 'PLANS', 'reach-closed': 'CLOSED' });
    expect(served).not.toHaveProperty('reach-undeployed');
  });
});
