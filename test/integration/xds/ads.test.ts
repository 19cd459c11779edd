import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AdsServer, startAdsServer } from '../../../server/xds/ads-server.ts';
import { maxNackMessageLength } from '../../../server/xds/ads-stream.ts';
import { createApi } from '../../../server/domain/apis/index.ts';
import { defaultSettings, systemActor } from '../../../server/domain/context.ts';
import { routeName } from '../../../server/xds/names.ts';
import { resourceCodec } from '../../../server/envoy/resource-codec.ts';
import { typeUrls } from '../../../server/envoy/resources.ts';
import { SnapshotCache } from '../../../server/xds/snapshot-cache.ts';
import { validateResources } from '../../../server/xds/validate.ts';
import { openPlatformPki, type PlatformPki } from '../../../server/pki/platform-pki.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { dataPlaneCredentials } from '../../helpers/xds-tls.ts';
import { deltaStatus, TestEnvoy } from './ads-client.ts';
import { apiInput } from './fake-pipeline.ts';
import { withoutDefaults } from './proto-helpers.ts';
import { sampleResources } from './resources-fixture.ts';

const logs: Record<string, unknown>[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });

let cache: SnapshotCache;
let pki: PlatformPki;
let server: AdsServer;
const envoys: TestEnvoy[] = [];
let seq = 0;

async function connect(nodeId = `envoy-${++seq}`): Promise<TestEnvoy> {
  const envoy = TestEnvoy.connect(server.port, nodeId, await dataPlaneCredentials(pki, nodeId));
  envoys.push(envoy);
  return envoy;
}

beforeAll(async () => {
  cache = new SnapshotCache({ epoch: 1000 });
  cache.publish(sampleResources(['books']));
  pki = await openPlatformPki({ kind: 'memory' }, []);
  server = await startAdsServer({ snapshots: cache, logger, port: 0, host: '127.0.0.1', tls: { caCertificate: pki.caCertificate, ...pki.server } });
});

afterEach(() => {
  for (const envoy of envoys.splice(0)) envoy.close();
});

afterAll(async () => {
  await server.close();
});

describe('ADS server (state of the world)', () => {
  it('serves fixtures that Envoy itself would accept, unchanged by the protobuf round trip', () => {
    const resources = sampleResources(['books', 'authors']);
    expect(validateResources(resources)).toEqual([]);
    const codec = resourceCodec();
    for (const [kind, typeUrl] of Object.entries(typeUrls) as [keyof typeof typeUrls, string][]) {
      for (const resource of resources[kind]) {
        expect(codec.decode(typeUrl, codec.encode(typeUrl, resource))).toEqual(withoutDefaults(codec.type(typeUrl), resource));
      }
    }
  });

  it('answers a wildcard CDS request with every cluster, the snapshot version and a nonce', async () => {
    const envoy = await connect();
    envoy.request({ typeUrl: typeUrls.cluster });
    const response = await envoy.next(typeUrls.cluster);
    expect(response.versionInfo).toBe(cache.current()?.version);
    expect(response.nonce).not.toBe('');
    expect(response.names).toEqual(['books', 'eds/backend']);
    // Durations and wrappers in proto3 JSON ("5s", bare numbers) survive the trip through protobuf.
    expect(response.resources[0]).toMatchObject({ name: 'books', type: 'STRICT_DNS', connectTimeout: '5s', perConnectionBufferLimitBytes: 32768 });
  });

  it('packs listeners with their typed filter configs as Envoy decodes them', async () => {
    const envoy = await connect();
    envoy.request({ typeUrl: typeUrls.listener });
    const response = await envoy.next(typeUrls.listener);
    const hcm = (response.resources[0] as { filterChains: { filters: { typedConfig: Record<string, unknown> }[] }[] }).filterChains[0]
      ?.filters[0]?.typedConfig;
    expect(hcm).toMatchObject({
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      statPrefix: 'apip',
      rds: { routeConfigName: 'apip/routes' },
      streamIdleTimeout: '300s',
    });
  });

  it('sends only the named RDS and EDS resources, and answers again when the names change', async () => {
    const envoy = await connect();
    envoy.request({ typeUrl: typeUrls.routeConfiguration, resourceNames: ['apip/routes', 'missing'] });
    const routes = await envoy.next(typeUrls.routeConfiguration);
    expect(routes.names).toEqual(['apip/routes']);
    envoy.request({ typeUrl: typeUrls.clusterLoadAssignment, resourceNames: [] });
    const none = await envoy.next(typeUrls.clusterLoadAssignment);
    expect(none.names).toEqual([]);
    envoy.ack(none, ['eds/backend']);
    const endpoints = await envoy.next(typeUrls.clusterLoadAssignment);
    expect(endpoints.names).toEqual(['eds/backend']);
    expect(endpoints.nonce).not.toBe(none.nonce);
  });

  it('records an ACK and sends nothing more until the configuration changes', async () => {
    const envoy = await connect('acking-envoy');
    envoy.request({ typeUrl: typeUrls.cluster });
    const response = await envoy.next(typeUrls.cluster);
    envoy.ack(response);
    expect(await envoy.pending()).toEqual([]);
    const status = server.status().find((stream) => stream.nodeId === 'acking-envoy');
    expect(status?.types).toEqual([
      { typeUrl: typeUrls.cluster, subscribed: '*', sentVersion: response.versionInfo, ackedVersion: response.versionInfo, lastNack: null },
    ]);
  });

  it('pushes a new snapshot to every connected data plane', async () => {
    const first = await connect();
    const second = await connect();
    for (const envoy of [first, second]) envoy.ack(await requestAndRead(envoy, typeUrls.cluster));
    const snapshot = cache.publish(sampleResources(['books', 'authors']));
    for (const envoy of [first, second]) {
      const pushed = await envoy.next(typeUrls.cluster);
      expect(pushed.versionInfo).toBe(snapshot.version);
      expect(pushed.names).toEqual(['authors', 'books', 'eds/backend']);
    }
  });

  it('keeps the last good version after a NACK, logs it, and still pushes the next snapshot', async () => {
    const envoy = await connect('nacking-envoy');
    const good = await requestAndRead(envoy, typeUrls.cluster);
    envoy.ack(good);
    cache.publish(sampleResources(['books', 'rejected']));
    const bad = await envoy.next(typeUrls.cluster);
    envoy.nack(bad, good.versionInfo, 'cluster rejected: bad TLS context');
    await envoy.pending();
    const status = server.status().find((stream) => stream.nodeId === 'nacking-envoy')?.types[0];
    expect(status).toMatchObject({ ackedVersion: good.versionInfo, lastNack: { version: bad.versionInfo, message: 'cluster rejected: bad TLS context' } });
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, nodeId: 'nacking-envoy', error: 'cluster rejected: bad TLS context', rejectedVersion: bad.versionInfo }),
    );
    // Nothing is re-sent for the rejected version...
    expect(await envoy.pending()).toEqual([]);
    // ...but the next snapshot reaches the data plane as usual.
    const next = cache.publish(sampleResources(['books', 'fixed']));
    const pushed = await envoy.next(typeUrls.cluster);
    expect(pushed.versionInfo).toBe(next.version);
    expect(pushed.names).toContain('fixed');
  });

  it('pushes CDS, EDS, LDS, RDS in that order and skips types whose resources did not change', async () => {
    const envoy = await connect();
    const subscriptions: [string, string[]][] = [
      [typeUrls.cluster, []],
      [typeUrls.clusterLoadAssignment, ['eds/backend']],
      [typeUrls.listener, []],
      [typeUrls.routeConfiguration, ['apip/routes']],
    ];
    for (const [typeUrl, names] of subscriptions) {
      envoy.request({ typeUrl, resourceNames: names });
      envoy.ack(await envoy.next(typeUrl), names);
    }
    cache.publish(sampleResources(['books', 'ordered'], { port: 8081 }));
    const pushed = [await envoy.next(), await envoy.next(), await envoy.next(), await envoy.next()];
    expect(pushed.map((response) => response.typeUrl)).toEqual([
      typeUrls.cluster,
      typeUrls.clusterLoadAssignment,
      typeUrls.listener,
      typeUrls.routeConfiguration,
    ]);
    for (const response of pushed) envoy.ack(response, subscriptions.find(([url]) => url === response.typeUrl)?.[1]);
    // Only the listener's port changes: clusters, endpoints and routes are not re-sent.
    cache.publish(sampleResources(['books', 'ordered'], { port: 8082 }));
    const listener = await envoy.next();
    expect(listener.typeUrl).toBe(typeUrls.listener);
    expect(await envoy.pending()).toEqual([]);
  });

  it('keeps and logs at most maxNackMessageLength characters of a NACK message', async () => {
    const envoy = await connect('long-nack-envoy');
    const first = await requestAndRead(envoy, typeUrls.cluster);
    envoy.nack(first, '', '<script>alert(1)</script>'.repeat(1000));
    await envoy.pending();
    const status = server.status().find((stream) => stream.nodeId === 'long-nack-envoy')?.types[0];
    expect(status?.lastNack?.message).toHaveLength(maxNackMessageLength);
    const logged = logs.find((line) => line.nodeId === 'long-nack-envoy' && line.msg === 'data plane rejected configuration');
    expect(String(logged?.error)).toHaveLength(maxNackMessageLength);
  });

  it('answers UNIMPLEMENTED to delta xDS, which is not served', async () => {
    expect(await deltaStatus(server.port, await dataPlaneCredentials(pki, 'delta'))).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('ignores a request that answers an older response than the latest one', async () => {
    const envoy = await connect();
    const first = await requestAndRead(envoy, typeUrls.cluster);
    cache.publish(sampleResources(['books', 'stale']));
    const second = await envoy.next(typeUrls.cluster);
    // A late NACK of the first response must not be taken as the data plane's view of the second.
    envoy.nack(first, '', 'late rejection');
    envoy.ack(second);
    await envoy.pending();
    const status = server.status().find((stream) => stream.nodeId === envoy.nodeId)?.types[0];
    expect(status).toMatchObject({ ackedVersion: second.versionInfo, lastNack: null });
  });
});

describe('ADS server of a running platform', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform('pglite');
  });

  afterAll(async () => {
    await test.close();
  });

  it('pushes the translated configuration of an API created after the data plane connected', async () => {
    const envoy = TestEnvoy.connect(test.platform.ports.xds ?? 0, 'platform-envoy', await dataPlaneCredentials(test.platform.pki, 'platform-envoy'));
    envoys.push(envoy);
    envoy.request({ typeUrl: typeUrls.routeConfiguration, resourceNames: ['apip/routes'] });
    const before = await envoy.next(typeUrls.routeConfiguration);
    expect(before.versionInfo).toBe(test.platform.snapshots.current()?.version);
    envoy.ack(before, ['apip/routes']);

    const { database, changes } = test.platform;
    const ctx = { db: database.db, changes, actor: systemActor, now: () => new Date(), settings: { ...defaultSettings }, keys: test.platform.keys };
    await createApi(ctx, apiInput('pushed-api'));
    const after = await envoy.next(typeUrls.routeConfiguration);
    expect(after.versionInfo).not.toBe(before.versionInfo);
    const routes = JSON.stringify(after.resources);
    expect(routes).toContain(routeName('pushed-api', 'GET', '/books'));
  });

  it('sends every translated resource so that it decodes back to the same proto3 JSON', async () => {
    const { database, changes } = test.platform;
    const ctx = { db: database.db, changes, actor: systemActor, now: () => new Date(), settings: { ...defaultSettings }, keys: test.platform.keys };
    const input = apiInput('round-trip-api');
    input.spec.policies = [
      { name: 'set-headers', version: 'v1', params: { request: { headers: [{ name: 'x-env', value: 'test' }] } } },
      { name: 'throttle', version: 'v1', params: { limits: [{ requests: 10, duration: '1m' }] } },
    ];
    input.spec.upstreamDefinitions = [{ name: 'pool', timeout: { connect: '2s' }, upstreams: [{ url: 'https://a.example:8443', weight: 3 }, { url: 'http://b.example', weight: 1 }] }];
    input.spec.operations = [{ method: 'GET', path: '/books/{id}' }];
    input.spec.upstream = { main: { ref: 'pool' } };
    await createApi(ctx, input);
    await test.platform.rebuildSnapshot();
    const snapshot = test.platform.snapshots.current();
    expect(JSON.stringify(snapshot?.resources)).toContain('round-trip-api');
    const codec = resourceCodec();
    for (const [kind, typeUrl] of Object.entries(typeUrls) as [keyof typeof typeUrls, string][]) {
      for (const resource of snapshot?.resources[kind] ?? []) {
        expect(codec.decode(typeUrl, codec.encode(typeUrl, resource))).toEqual(withoutDefaults(codec.type(typeUrl), resource));
      }
    }
  });
});

async function requestAndRead(envoy: TestEnvoy, typeUrl: string): Promise<Awaited<ReturnType<TestEnvoy['next']>>> {
  envoy.request({ typeUrl });
  return envoy.next(typeUrl);
}
