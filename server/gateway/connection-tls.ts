// The downstream connection's TLS facts as Envoy exposes them to filters (attributes `connection.*`): whether a
// client certificate was presented and verified (mTLS), the negotiated version and SNI, and the peer certificate's
// subject, first URI and DNS SANs and SHA-256 digest (what proof-of-possession tokens bind to).
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes#connection-attributes
import { createHash, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface PeerCertificate {
  /** RFC 2253 form, most specific first (`CN=client,O=Example`), as Envoy prints it. */
  subject: string;
  uriSan: string | undefined;
  dnsSan: string | undefined;
  /** Lowercase hex SHA-256 of the DER certificate. */
  sha256: string;
}

export interface ConnectionTls {
  version: string | undefined;
  requestedServerName: string | undefined;
  /** A client certificate that verified against the listener's CA; null when none was presented or asked for. */
  peer: PeerCertificate | null;
}

/** The first `<type>:<value>` entry of node's subjectaltname list. */
function firstSan(altNames: string | undefined, type: 'URI' | 'DNS'): string | undefined {
  for (const entry of (altNames ?? '').split(', ')) {
    if (entry.startsWith(`${type}:`)) return entry.slice(type.length + 1);
  }
  return undefined;
}

/** null without TLS. Only a verified certificate counts: an unverified one never reaches a request (the
 *  listener refuses the connection). */
export function connectionTlsOf(socket: Socket): ConnectionTls | null {
  const tls = socket as TLSSocket;
  if (tls.encrypted !== true) return null;
  const servername = (tls as TLSSocket & { servername?: string | false }).servername;
  const raw = tls.authorized ? tls.getPeerCertificate().raw : undefined;
  let peer: PeerCertificate | null = null;
  if (raw !== undefined) {
    const certificate = new X509Certificate(raw);
    peer = {
      subject: certificate.subject.split('\n').reverse().join(','),
      uriSan: firstSan(certificate.subjectAltName, 'URI'),
      dnsSan: firstSan(certificate.subjectAltName, 'DNS'),
      sha256: createHash('sha256').update(raw).digest('hex'),
    };
  }
  return { version: tls.getProtocol() ?? undefined, requestedServerName: typeof servername === 'string' ? servername : undefined, peer };
}
