import type * as grpc from '@grpc/grpc-js';
import { adsClientCredentials } from '../../server/gateway/ads-client.ts';
import type { DataPlaneCertificateIssuer } from '../../server/domain/certificate-issuer.ts';

/** gRPC channel credentials of a data plane whose certificate `issuer` signs for `nodeId` (mutual TLS). */
export async function dataPlaneCredentials(issuer: DataPlaneCertificateIssuer, nodeId: string): Promise<grpc.ChannelCredentials> {
  const issued = await issuer.issue(nodeId, 1);
  return adsClientCredentials({ caCertificate: issued.caCertificate, certificate: issued.certificate, privateKey: issued.privateKey });
}
