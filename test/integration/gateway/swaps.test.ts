import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { Snapshot } from '../../../server/envoy/resources.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import {
  ManualSource, moduleSha256, recordingLogger, send, startModuleServer, startUpstream, type TestServer,
} from '../../fixtures/gateway/servers.ts';

const ROUTE = 'slow/GET/slow';

describe('embedded gateway configuration swaps', () => {
  let held: TestServer;
  let fresh: TestServer;
  let modules: Awaited<ReturnType<typeof startModuleServer>>;
  let source: ManualSource;
  let gateway: Gateway;
  const log = recordingLogger('info');
  const waiting: ServerResponse[] = [];
  let arrived: () => void = () => undefined;

  const build = (version: string, cluster: string, environment: string, regex = '/slow'): Snapshot => snapshot(version, {
    listeners: [listener([wasmFilter({
      module: 'set-headers', baseUrl: modules.url, sha256: moduleSha256('set-headers'),
      configuration: { routes: { [ROUTE]: { response: { headers: [{ name: 'x-environment', value: environment }] } } } },
    })])],
    routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: ROUTE, match: { safeRegex: { regex } }, cluster })] }])],
    clusters: [
      staticCluster('held', [{ address: '127.0.0.1', port: held.port }]),
      staticCluster('fresh', [{ address: '127.0.0.1', port: fresh.port }]),
    ],
  });

  beforeAll(async () => {
    held = await startUpstream('held', (_req, res) => {
      waiting.push(res);
      arrived();
    });
    fresh = await startUpstream('fresh');
    modules = await startModuleServer();
    source = new ManualSource(build('1', 'held', 'one'));
    gateway = await createGateway({ source, port: 0, logger: log.logger });
  });

  afterAll(async () => {
    await gateway.close();
    await held.close();
    await fresh.close();
    await modules.close();
  });

  it('finishes an in-flight request on the old configuration while new requests get the new one', async () => {
    const upstreamHasIt = new Promise<void>((resolve) => { arrived = resolve; });
    const inFlight = send(gateway.port, '/slow');
    await upstreamHasIt;
    await source.push(build('2', 'fresh', 'two'));
    expect(gateway.version).toBe('2');

    const after = await send(gateway.port, '/slow');
    expect(after.status).toBe(200);
    expect(after.headers['x-upstream']).toBe('fresh');
    expect(after.headers['x-environment']).toBe('two');

    waiting.shift()?.writeHead(200, { 'x-upstream': 'held' }).end('old');
    const before = await inFlight;
    expect(before.status).toBe(200);
    expect(before.text).toBe('old');
    expect(before.headers['x-environment']).toBe('one');
  });

  it('keeps serving the last good configuration and logs when a snapshot cannot be built', async () => {
    await expect(source.push(build('3', 'held', 'three', '/slow(?=x)'))).rejects.toThrow(/RE2/);
    expect(gateway.version).toBe('2');
    const response = await send(gateway.port, '/slow');
    expect(response.headers['x-upstream']).toBe('fresh');
    expect(response.headers['x-environment']).toBe('two');
    expect(log.records.some((record) => record.msg === 'snapshot rejected, keeping the last good configuration' && record.version === '3')).toBe(true);
  });

  it('keeps serving when the source stops producing', async () => {
    // The source publishes nothing more; the configuration in use stays.
    const responses = await Promise.all([1, 2, 3].map(() => send(gateway.port, '/slow')));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
  });
});

describe('embedded gateway with a source that ignores apply results', () => {
  it('does not leave an unhandled rejection when a published snapshot cannot be built', async () => {
    const { SnapshotCache } = await import('../../../server/xds/snapshot-cache.ts');
    const cache = new SnapshotCache();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
    process.on('unhandledRejection', onUnhandled);
    const log = recordingLogger('error');
    const gateway = await createGateway({ source: cache, port: 0, logger: log.logger });
    try {
      cache.publish(snapshot('x', { routes: [], clusters: [] }).resources);
      while (!log.records.some((record) => record.msg === 'snapshot rejected, keeping the last good configuration')) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Unhandled rejections are reported after the microtask queue drains: give it one macrotask turn.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(gateway.version).toBeNull();
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await gateway.close();
    }
  });
});
