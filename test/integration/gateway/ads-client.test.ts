import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdsClient, adsClientCredentials, createAdsClient } from '../../../server/gateway/ads-client.ts';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { Snapshot } from '../../../server/envoy/resources.ts';
import { startAdsServer, type TestAdsServer } from '../../fixtures/gateway/ads-server.ts';
import { edsCluster, loadAssignment, route, routeConfiguration, snapshot } from '../../fixtures/gateway/envoy-resources.ts';
import { send, silentLogger, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('ADS client', () => {
  let ads: TestAdsServer;
  let upstream: TestServer;
  let client: AdsClient;
  let gateway: Gateway;

  const build = (version: string, regex = '/books'): Snapshot => snapshot(version, {
    routes: [routeConfiguration([{ name: 'default', domains: ['*'], routes: [route({ name: 'books/GET/books', match: { safeRegex: { regex } }, cluster: 'books' })] }])],
    clusters: [edsCluster('books')],
    assignments: [loadAssignment('books', [{ address: '127.0.0.1', port: upstream.port }])],
  });
  const answersTo = (nonce: string | undefined) => ads.requests.filter((request) => request.responseNonce === nonce);

  beforeAll(async () => {
    upstream = await startUpstream('books');
    ads = await startAdsServer();
    // The fixture server speaks plaintext: this suite is about the protocol (mTLS: test/integration/xds/mtls.test.ts).
    client = createAdsClient({ address: `127.0.0.1:${ads.port}`, logger: silentLogger(), credentials: adsClientCredentials(null), backoff: { initialMs: 20, maxMs: 100 } });
    gateway = await createGateway({ source: client, port: 0, logger: silentLogger() });
    await until(() => ads.streams === 1, 'the ADS stream');
  });

  afterAll(async () => {
    client.close();
    await gateway.close();
    await ads.close();
    await upstream.close();
  });

  it('subscribes to every type with its node and ACKs each response after the gateway applied the snapshot', async () => {
    const nonces = ads.push(build('1'));
    await until(() => [...nonces.values()].every((nonce) => answersTo(nonce).length === 1), 'four ACKs');
    for (const nonce of nonces.values()) {
      const [ack] = answersTo(nonce);
      expect(ack?.versionInfo).toBe('1');
      expect(ack?.errorDetail).toBeUndefined();
    }
    expect(ads.requests[0]?.node?.id).toMatch(/^embedded-gateway-/);
    expect(gateway.version).toBe('1');
    const response = await send(gateway.port, '/books');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toMatchObject({ url: '/books' });
  });

  it('NACKs a route configuration the gateway cannot build, with the last accepted version, and keeps serving', async () => {
    const nonces = ads.push(build('2', '/books(?!x)'));
    const rdsNonce = nonces.get('routeConfiguration');
    await until(() => answersTo(rdsNonce).length === 1, 'the RDS answer');
    const [nack] = answersTo(rdsNonce);
    expect(nack?.versionInfo).toBe('1');
    expect(nack?.errorDetail?.message).toMatch(/RE2/);
    expect(answersTo(nonces.get('cluster'))[0]?.errorDetail).toBeUndefined();
    expect((await send(gateway.port, '/books')).status).toBe(200);
  });

  it('keeps serving while the control plane is down and picks up the next snapshot after it returns', async () => {
    const port = ads.port;
    await ads.close();
    await until(() => !client.isConnected, 'the stream to drop');
    expect((await send(gateway.port, '/books')).status).toBe(200);

    ads = await startAdsServer(port);
    await until(() => ads.streams === 1, 'the reconnect');
    const nonces = ads.push(build('3'));
    await until(() => answersTo(nonces.get('routeConfiguration')).length === 1, 'the ACK after reconnect');
    expect(gateway.version).toBe('3');
    expect((await send(gateway.port, '/books')).status).toBe(200);
  });
});
