import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { drivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { seedRestApi } from '../helpers/rest-seed.ts';
import { gatewayAnswers, mutate, type Recorder, requestCounts, send, startRecorder } from '../helpers/traffic.ts';

const notFound = { error: 'Not Found' };

/** The seed's example RestApi body, verbatim except the upstream URL (a recorder on 127.0.0.1 with a base path). */
function seedBodyFor(upstreamUrl: string) {
  const body = structuredClone(seedRestApi) as unknown as { spec: { upstream: { main: { url: string } } } };
  body.spec.upstream.main.url = upstreamUrl;
  return body;
}

describe.each(drivers)('traffic: API lifecycle through the embedded gateway (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let readingList: Recorder;
  let weather: Recorder;
  let gw: number;
  let weatherApiId: string;

  beforeAll(async () => {
    readingList = await startRecorder('reading-list', '/samples/reading-list/v1.0');
    weather = await startRecorder('weather');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
  });
  afterAll(async () => {
    await t.close();
    await readingList.close();
    await weather.close();
  });

  describe('an API created over REST from the seed example', () => {
    it('serves GET /reading-list/v1.0/books after the 201, rewritten onto the upstream base path', async () => {
      const created = await rest.post('/rest-apis', seedBodyFor(readingList.url));
      expect(created.status).toBe(201);
      const answer = await gatewayAnswers(gw, '/reading-list/v1.0/books?sort=title', 200);
      expect(answer.headers['x-upstream']).toBe('reading-list');
      expect(readingList.last()).toMatchObject({ method: 'GET', url: '/samples/reading-list/v1.0/books?sort=title' });
    });

    it('routes a {id} path parameter and each declared method to the upstream', async () => {
      const mark = readingList.received.length;
      expect((await send(gw, '/reading-list/v1.0/books/42')).status).toBe(200);
      expect((await send(gw, '/reading-list/v1.0/books/42', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"title":"Dune"}' })).status).toBe(200);
      expect((await send(gw, '/reading-list/v1.0/books/42', { method: 'DELETE' })).status).toBe(200);
      expect((await send(gw, '/reading-list/v1.0/books', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"Emma"}' })).status).toBe(200);
      expect(readingList.since(mark).map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
        'GET /samples/reading-list/v1.0/books/42 ',
        'PUT /samples/reading-list/v1.0/books/42 {"title":"Dune"}',
        'DELETE /samples/reading-list/v1.0/books/42 ',
        'POST /samples/reading-list/v1.0/books {"title":"Emma"}',
      ]);
    });

    it('answers 404 Not Found, without calling the upstream, for undeclared methods, paths, extra segments and the unsubstituted $version', async () => {
      const mark = readingList.received.length;
      for (const [method, path] of [
        ['PATCH', '/reading-list/v1.0/books/42'],
        ['GET', '/reading-list/v1.0/authors'],
        ['GET', '/reading-list/v1.0/books/42/pages'],
        ['GET', '/reading-list/$version/books'],
        ['GET', '/reading-list/v2.0/books'],
      ] as const) {
        const answer = await send(gw, path, { method });
        expect({ method, path, status: answer.status, body: answer.json() }).toEqual({ method, path, status: 404, body: notFound });
      }
      expect(readingList.since(mark)).toEqual([]);
    });

    it('sets the seed’s set-headers request header at the upstream and its response header at the client', async () => {
      const answer = await send(gw, '/reading-list/v1.0/books', { headers: { 'x-wso2-apip-gateway-version': 'client-value' } });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-environment']).toBe('development');
      expect(readingList.last().headers['x-wso2-apip-gateway-version']).toBe('v1.0.0');
    });

    it('answers 404 Not Found after an undeploy (PUT with deploymentState undeployed), and 200 again after redeploying', async () => {
      const current = await rest.get<{ spec: Record<string, unknown> }>('/rest-apis/reading-list-api-v1.0');
      const undeployed = await rest.put('/rest-apis/reading-list-api-v1.0', { ...seedBodyFor(readingList.url), spec: { ...current.body.spec, deploymentState: 'undeployed' } });
      expect(undeployed.status).toBe(200);
      expect((await gatewayAnswers(gw, '/reading-list/v1.0/books', 404)).json()).toEqual(notFound);

      const redeployed = await rest.put('/rest-apis/reading-list-api-v1.0', seedBodyFor(readingList.url));
      expect(redeployed.status).toBe(200);
      await gatewayAnswers(gw, '/reading-list/v1.0/books', 200);
    });

    it('answers 404 Not Found after DELETE /rest-apis/{id}', async () => {
      expect((await rest.delete('/rest-apis/reading-list-api-v1.0')).status).toBe(200);
      expect((await gatewayAnswers(gw, '/reading-list/v1.0/books/7', 404)).json()).toEqual(notFound);
    });
  });

  describe('an API created over GraphQL', () => {
    it('serves its routes after createApi, with $version substituted and {param} segments matched', async () => {
      const created = await mutate<{ api: { id: string } }>(t, 'createApi', 'CreateApiInput', 'api { id }', {
        metadata: { name: 'weather-api-v2' },
        // No plan: this is about routes and lifecycle, so the API is open by choice (docs/plan-selection.md).
        accessMode: 'OPEN',
        spec: {
          displayName: 'Weather',
          version: 'v2',
          context: '/weather/$version',
          upstream: { main: { url: weather.url } },
          operations: [
            { method: 'GET', path: '/cities/{city}/forecast/{day}' },
            { method: 'GET', path: '/cities' },
          ],
        },
      });
      weatherApiId = created.api.id;
      await gatewayAnswers(gw, '/weather/v2/cities', 200);
      expect(weather.last().url).toBe('/cities');
      expect((await send(gw, '/weather/v2/cities/Lisbon/forecast/monday?units=metric')).status).toBe(200);
      expect(weather.last().url).toBe('/cities/Lisbon/forecast/monday?units=metric');
      expect((await send(gw, '/weather/v2/cities/Lisbon/forecast')).status).toBe(404);
      expect((await send(gw, '/weather/v2/cities//forecast/monday')).status).toBe(404);
    });

    it('answers 404 Not Found after undeployApi and 200 after deployApi', async () => {
      await mutate(t, 'undeployApi', 'UndeployApiInput', 'api { id }', { id: weatherApiId });
      expect((await gatewayAnswers(gw, '/weather/v2/cities', 404)).json()).toEqual(notFound);
      await mutate(t, 'deployApi', 'DeployApiInput', 'api { id }', { id: weatherApiId });
      await gatewayAnswers(gw, '/weather/v2/cities', 200);
    });

    it('counts the requests sent in the gateway admin /metrics by API, route, status and decision', async () => {
      const route = 'weather-api-v2/GET/cities/{city}/forecast/{day}';
      const before = await requestCounts(t.platform.ports.gatewayAdmin ?? 0);
      for (let i = 0; i < 3; i++) expect((await send(gw, `/weather/v2/cities/c${i}/forecast/today`)).status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await send(gw, '/weather/v2/cities')).status).toBe(200);
      const after = await requestCounts(t.platform.ports.gatewayAdmin ?? 0);
      const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
      expect(delta(`weather-api-v2|${route}|200|forwarded`)).toBe(3);
      expect(delta('weather-api-v2|weather-api-v2/GET/cities|200|forwarded')).toBe(2);
    });

    it('passes the strict Envoy proto check with every API of this suite deployed', async () => {
      const resources = t.platform.snapshots.current()?.resources;
      expect(JSON.stringify(resources?.routeConfiguration)).toContain('weather-api-v2/GET/cities/{city}/forecast/{day}');
      expect(validateResources(resources!)).toEqual([]);
    });

    it('answers 404 Not Found after deleteApi', async () => {
      await mutate(t, 'deleteApi', 'DeleteApiInput', 'deletedId', { id: weatherApiId });
      expect((await gatewayAnswers(gw, '/weather/v2/cities/Lisbon/forecast/monday', 404)).json()).toEqual(notFound);
    });
  });
});
