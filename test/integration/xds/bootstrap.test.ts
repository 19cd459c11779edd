import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envoyProtoRoot } from '../../../server/envoy/protos.ts';
import { controlPlaneClusterName } from '../../../server/xds/names.ts';
import { validateMessage } from '../../../server/xds/validate.ts';
import { withJsonNames } from './proto-helpers.ts';

const bootstrapType = 'envoy.config.bootstrap.v3.Bootstrap';

function loadBootstrap(): Record<string, unknown> {
  const yaml = parse(readFileSync(new URL('../../../envoy/bootstrap.yaml', import.meta.url), 'utf8')) as unknown;
  return withJsonNames(envoyProtoRoot().lookupType(bootstrapType), yaml) as Record<string, unknown>;
}

interface StaticCluster {
  name: string;
  loadAssignment: { endpoints: { lbEndpoints: { endpoint: { address: { socketAddress: { address: string; portValue: number } } } }[] }[] };
  typedExtensionProtocolOptions?: Record<string, { explicitHttpConfig?: { http2ProtocolOptions?: unknown } }>;
}

function staticCluster(bootstrap: Record<string, unknown>, name: string): StaticCluster | undefined {
  const clusters = (bootstrap.staticResources as { clusters: StaticCluster[] }).clusters;
  return clusters.find((cluster) => cluster.name === name);
}

function socketOf(cluster: StaticCluster | undefined): string {
  const address = cluster?.loadAssignment.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress;
  return `${address?.address}:${address?.portValue}`;
}

describe('envoy/bootstrap.yaml', () => {
  it('is a valid envoy.config.bootstrap.v3.Bootstrap in strict mode', () => {
    expect(validateMessage(bootstrapType, loadBootstrap())).toEqual([]);
  });

  it('fails the strict check on an unknown field, so the check above has teeth', () => {
    const bootstrap = loadBootstrap();
    const broken = { ...bootstrap, admin: { ...(bootstrap.admin as object), accessLogPathTypo: '/dev/null' } };
    expect(validateMessage(bootstrapType, broken)).toContainEqual(expect.objectContaining({ path: 'admin.accessLogPathTypo' }));
  });

  it('gets listeners and clusters over ADS from the xDS port, over HTTP/2, with admin on 9901', () => {
    const bootstrap = loadBootstrap();
    expect(bootstrap.dynamicResources).toMatchObject({
      adsConfig: { apiType: 'GRPC', transportApiVersion: 'V3', grpcServices: [{ envoyGrpc: { clusterName: 'apip-xds' } }] },
      ldsConfig: { ads: {}, resourceApiVersion: 'V3' },
      cdsConfig: { ads: {}, resourceApiVersion: 'V3' },
    });
    const xds = staticCluster(bootstrap, 'apip-xds');
    expect(socketOf(xds)).toBe('127.0.0.1:18000');
    expect(xds?.typedExtensionProtocolOptions?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicitHttpConfig).toHaveProperty(
      'http2ProtocolOptions',
    );
    expect(bootstrap.admin).toMatchObject({ address: { socketAddress: { portValue: 9901 } } });
  });

  it('connects to the xDS port with mutual TLS: its certificate and key, and the platform CA', () => {
    const xds = staticCluster(loadBootstrap(), 'apip-xds') as StaticCluster & { transportSocket?: Record<string, unknown> };
    expect(xds.transportSocket).toMatchObject({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        commonTlsContext: {
          tlsCertificates: [{ certificateChain: { filename: '/etc/apip/xds/tls.crt' }, privateKey: { filename: '/etc/apip/xds/tls.key' } }],
          validationContext: { trustedCa: { filename: '/etc/apip/xds/ca.crt' } },
        },
      },
    });
  });

  it('reaches the management server for policy modules under the translator’s cluster name', () => {
    expect(socketOf(staticCluster(loadBootstrap(), controlPlaneClusterName))).toBe('127.0.0.1:9090');
  });
});
