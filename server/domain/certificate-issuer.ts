/**
 * What the domain needs of the platform CA (server/pki/platform-pki.ts implements it). A leaf module: the domain
 * context holds an issuer, so it cannot live in data-planes.ts, which imports the context.
 */

/** A data plane's client certificate for the xDS port, as issued once. */
export interface IssuedCertificate {
  /** PEM. */
  certificate: string;
  /** PKCS#8 PEM; exists only in this answer, never stored or logged. */
  privateKey: string;
  /** The platform CA certificate (PEM) that validates the control plane's server certificate. */
  caCertificate: string;
  /** Hexadecimal, for revocation lists and the audit log. */
  serialNumber: string;
  expiresAt: Date;
}

/** Signs data-plane certificates under the platform CA (server/pki/platform-pki.ts). */
export interface DataPlaneCertificateIssuer {
  issue(nodeId: string, validityDays: number): Promise<IssuedCertificate>;
}
