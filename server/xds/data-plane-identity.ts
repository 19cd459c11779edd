import * as grpc from '@grpc/grpc-js';
import { nodeIdOfPeerCertificate } from '../pki/platform-pki.ts';

/** The xDS server's TLS material (PEM). Client certificates signed by `caCertificate` are required. */
export interface XdsTls {
  caCertificate: string;
  certificate: string;
  privateKey: string;
}

/** Mutual TLS with `tls`; plaintext only when it is null (loopback development, refused elsewhere by config). */
export function xdsServerCredentials(tls: XdsTls | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tls.caCertificate),
    [{ cert_chain: Buffer.from(tls.certificate), private_key: Buffer.from(tls.privateKey) }],
    // checkClientCertificate: the handshake fails without a client certificate that chains to the platform CA.
    true,
  );
}

/**
 * The data plane a call comes from, by its verified client certificate; null when the certificate names no data
 * plane (e.g. the control plane's own server certificate). grpc-js exposes the peer only once TLS verified it.
 */
export function certificateNodeId(call: Pick<grpc.ServerDuplexStream<unknown, unknown>, 'getAuthContext'>): string | null {
  const peer = call.getAuthContext()?.sslPeerCertificate;
  return nodeIdOfPeerCertificate(peer?.subjectaltname);
}

/** Ends a call with a gRPC status (grpc-js sends an emitted status object as the call's trailers). */
export function refuseCall(call: NodeJS.EventEmitter, code: grpc.status, details: string): void {
  call.emit('error', { code, details });
}
