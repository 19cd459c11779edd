// The xDS port of a running platform as an attacker on the network sees it: ADS over gRPC with mutual TLS under the
// platform CA; only a certificate the CA issued gets configuration, and only for the node id it names.
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultXdsConfig } from '../../../server/config.ts';
import { adsClientCredentials } from '../../../server/gateway/ads-client.ts';
import { openPlatformPki } from '../../../server/pki/platform-pki.ts';
import { typeUrls } from '../../../server/envoy/resources.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { dataPlaneCredentials } from '../../helpers/xds-tls.ts';
import { TestEnvoy } from './ads-client.ts';

describe('xDS port with mutual TLS', () => {
  let t: TestPlatform;
  const envoys: TestEnvoy[] = [];

  function connect(nodeId: string, credentials: grpc.ChannelCredentials): TestEnvoy {
    const envoy = TestEnvoy.connect(t.platform.ports.xds ?? 0, nodeId, credentials);
    envoys.push(envoy);
    return envoy;
  }

  /** Asks for every cluster and returns how the stream ended, checking that no configuration came back. */
  async function refusedWith(envoy: TestEnvoy): Promise<number | null> {
    envoy.request({ typeUrl: typeUrls.cluster });
    const code = await envoy.closedWith();
    expect(envoy.responseCount).toBe(0);
    return code;
  }

  beforeAll(async () => {
    t = await startTestPlatform('pglite', { xds: { ...defaultXdsConfig, maxAdsStreamsPerNode: 2 } });
  });
  afterEach(() => {
    for (const envoy of envoys.splice(0)) envoy.close();
  });
  afterAll(async () => {
    await t.close();
  });

  it('gives no configuration to a plaintext client', async () => {
    expect(await refusedWith(connect('edge-1', grpc.credentials.createInsecure()))).toBe(grpc.status.UNAVAILABLE);
  });

  it('gives no configuration to a TLS client without a certificate', async () => {
    const anonymous = grpc.credentials.createSsl(Buffer.from(t.platform.pki.caCertificate));
    expect(await refusedWith(connect('edge-1', anonymous))).toBe(grpc.status.UNAVAILABLE);
  });

  it('gives no configuration to a certificate another CA issued for a valid node id', async () => {
    const stranger = await (await openPlatformPki({ kind: 'memory' }, [])).issue('edge-1', 1);
    const credentials = adsClientCredentials({ ...stranger, caCertificate: t.platform.pki.caCertificate });
    expect(await refusedWith(connect('edge-1', credentials))).toBe(grpc.status.UNAVAILABLE);
  });

  it('gives no configuration to the CA\'s own server certificate, which names no data plane', async () => {
    const credentials = adsClientCredentials({ caCertificate: t.platform.pki.caCertificate, ...t.platform.pki.server });
    expect(await refusedWith(connect('edge-1', credentials))).not.toBe(grpc.status.OK);
  });

  it('refuses with PERMISSION_DENIED a valid certificate whose request claims another node id', async () => {
    const envoy = connect('edge-victim', await dataPlaneCredentials(t.platform.pki, 'edge-attacker'));
    expect(await refusedWith(envoy)).toBe(grpc.status.PERMISSION_DENIED);
    expect(t.platform.snapshots.current()).not.toBeNull();
  });

  it('serves a valid certificate and shows its node id in deploymentStatus', async () => {
    const envoy = connect('edge-valid', await dataPlaneCredentials(t.platform.pki, 'edge-valid'));
    envoy.request({ typeUrl: typeUrls.cluster });
    const response = await envoy.next(typeUrls.cluster);
    expect(response.versionInfo).toBe(t.platform.snapshots.current()?.version);
    const status = await t.graphql<{ deploymentStatus: { dataPlanes: { nodeId: string }[] } }>('{ deploymentStatus { dataPlanes { nodeId } } }');
    expect(status.data?.deploymentStatus.dataPlanes.map((d) => d.nodeId)).toContain('edge-valid');
  });

  it('takes the node id from the certificate when the request names none', async () => {
    const envoy = connect('', await dataPlaneCredentials(t.platform.pki, 'edge-silent'));
    envoy.request({ typeUrl: typeUrls.cluster });
    await envoy.next(typeUrls.cluster);
    const status = await t.graphql<{ deploymentStatus: { dataPlanes: { nodeId: string }[] } }>('{ deploymentStatus { dataPlanes { nodeId } } }');
    expect(status.data?.deploymentStatus.dataPlanes.map((d) => d.nodeId)).toContain('edge-silent');
  });

  it('refuses a node\'s ADS stream beyond its maximum with RESOURCE_EXHAUSTED, and admits one again after a close', async () => {
    const credentials = await dataPlaneCredentials(t.platform.pki, 'edge-busy');
    const open = [connect('edge-busy', credentials), connect('edge-busy', credentials)];
    for (const envoy of open) {
      envoy.request({ typeUrl: typeUrls.cluster });
      await envoy.next(typeUrls.cluster);
    }
    expect(await refusedWith(connect('edge-busy', credentials))).toBe(grpc.status.RESOURCE_EXHAUSTED);
    open[0]?.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = connect('edge-busy', credentials);
    again.request({ typeUrl: typeUrls.cluster });
    expect((await again.next(typeUrls.cluster)).typeUrl).toBe(typeUrls.cluster);
  });
});

describe('xDS port in plaintext development mode (XDS_PLAINTEXT on loopback)', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { xds: { ...defaultXdsConfig, isPlaintext: true } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves a plaintext client on loopback, taking the node id as stated', async () => {
    const envoy = TestEnvoy.connect(t.platform.ports.xds ?? 0, 'dev-envoy', grpc.credentials.createInsecure());
    try {
      envoy.request({ typeUrl: typeUrls.cluster });
      expect((await envoy.next(typeUrls.cluster)).versionInfo).toBe(t.platform.snapshots.current()?.version);
      expect(t.platform.isXdsMutualTls).toBe(false);
    } finally {
      envoy.close();
    }
  });

  it('refuses to start plaintext on a non-loopback interface', async () => {
    await expect(startTestPlatform('pglite', { xdsHost: '0.0.0.0', xds: { ...defaultXdsConfig, isPlaintext: true } })).rejects.toThrow(/XDS_PLAINTEXT=true is allowed only/);
  });
});
