// The platform CA that authenticates the xDS port (ADS and the access-log service) both ways: it signs the control
// plane's server certificate and every data plane's client certificate. A data plane's identity is its certificate:
// the node id is carried as the URI SAN `spiffe://apip/data-plane/<node-id>` (and as the CN, for people reading it).
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { DataPlaneCertificateIssuer, IssuedCertificate } from '../domain/certificate-issuer.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const dayMs = 24 * 60 * 60 * 1000;
/** Prefix of the URI SAN that names a data plane; a certificate without one is not a data plane's. */
export const dataPlaneUriPrefix = 'spiffe://apip/data-plane/';

/** Where the CA comes from: files shared by replicas, a directory created on first start, or memory (tests). */
export type PkiSource =
  | { kind: 'files'; caCertFile: string; caKeyFile: string }
  | { kind: 'directory'; dir: string }
  | { kind: 'memory' };

/** The CA files when given (replicas sharing one CA), else DATA_DIR/pki; a `memory://` DATA_DIR keeps it in memory. */
export function pkiSourceOf(dataDir: string, caFiles?: { certFile: string; keyFile: string }): PkiSource {
  if (caFiles) return { kind: 'files', caCertFile: caFiles.certFile, caKeyFile: caFiles.keyFile };
  if (dataDir.startsWith('memory://')) return { kind: 'memory' };
  return { kind: 'directory', dir: join(dataDir, 'pki') };
}

export interface PlatformPki extends DataPlaneCertificateIssuer {
  caCertificate: string;
  /** The xDS server's certificate and key (PEM), re-issued at every start so its names follow the configuration. */
  server: { certificate: string; privateKey: string };
}

async function pemOfKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function keyOfPem(pem: string): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (!der) throw new Error('no PEM private key found');
  return webcrypto.subtle.importKey('pkcs8', der, keyAlgorithm, false, ['sign']) as Promise<CryptoKey>;
}

function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** 16 random bytes, high bit clear: a positive serial unique enough that no two certificates share one. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function createCa(): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'CN=apip platform CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 10 * 365 * dayMs),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

interface Leaf {
  commonName: string;
  names: x509.JsonGeneralName[];
  usage: x509.ExtendedKeyUsage;
  days: number;
}

async function signLeaf(ca: { cert: x509.X509Certificate; key: CryptoKey }, leaf: Leaf): Promise<Omit<IssuedCertificate, 'caCertificate'>> {
  const keys = await generateKeys();
  // A minute of clock skew between control plane and data plane must not make a fresh certificate "not yet valid".
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + leaf.days * dayMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${leaf.commonName}`,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // Server and client certificates are not interchangeable: TLS checks the purpose on both sides.
      new x509.ExtendedKeyUsageExtension([leaf.usage]),
      new x509.SubjectAlternativeNameExtension(leaf.names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate: cert.toString('pem'), privateKey: await pemOfKey(keys.privateKey), serialNumber: cert.serialNumber, expiresAt: notAfter };
}

/** SANs of the xDS server certificate: loopback always, plus the configured names (wildcard addresses skipped). */
function serverNames(names: readonly string[]): x509.JsonGeneralName[] {
  const all = new Set(['localhost', '127.0.0.1', '::1', ...names.map((n) => n.trim()).filter((n) => n !== '' && n !== '0.0.0.0' && n !== '::')]);
  return [...all].map((name) => ({ type: isIP(name) ? 'ip' : 'dns', value: name }));
}

function writeOwnerOnly(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  // The mode of writeFileSync applies to new files only.
  chmodSync(path, 0o600);
}

async function loadCa(source: PkiSource): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  if (source.kind === 'memory') return createCa();
  if (source.kind === 'files') {
    const cert = new x509.X509Certificate(readFileSync(source.caCertFile, 'utf8'));
    return { cert, key: await keyOfPem(readFileSync(source.caKeyFile, 'utf8')) };
  }
  mkdirSync(source.dir, { recursive: true, mode: 0o700 });
  chmodSync(source.dir, 0o700);
  const certPath = join(source.dir, 'ca.crt');
  const keyPath = join(source.dir, 'ca.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: new x509.X509Certificate(readFileSync(certPath, 'utf8')), key: await keyOfPem(readFileSync(keyPath, 'utf8')) };
  }
  const ca = await createCa();
  writeOwnerOnly(keyPath, await pemOfKey(ca.key));
  writeOwnerOnly(certPath, ca.cert.toString('pem'));
  return ca;
}

function issuerOf(ca: { cert: x509.X509Certificate; key: CryptoKey }): DataPlaneCertificateIssuer & { caCertificate: string } {
  const caCertificate = ca.cert.toString('pem');
  return {
    caCertificate,
    issue: async (nodeId, validityDays) => ({
      ...(await signLeaf(ca, {
        commonName: nodeId,
        names: [{ type: 'url', value: `${dataPlaneUriPrefix}${nodeId}` }],
        usage: x509.ExtendedKeyUsage.clientAuth,
        days: validityDays,
      })),
      caCertificate,
    }),
  };
}

/** The CA alone, for issuing (the CLI); `openPlatformPki` adds the server certificate. */
export async function openCertificateIssuer(source: PkiSource): Promise<DataPlaneCertificateIssuer & { caCertificate: string }> {
  return issuerOf(await loadCa(source));
}

/**
 * Opens (or creates on first start) the platform CA and issues the xDS server certificate for `serverNames`.
 * In a directory: ca.crt, ca.key, server.crt, server.key, the directory 0700 and every file 0600.
 */
export async function openPlatformPki(source: PkiSource, names: readonly string[]): Promise<PlatformPki> {
  const ca = await loadCa(source);
  const server = await signLeaf(ca, { commonName: 'apip xds', names: serverNames(names), usage: x509.ExtendedKeyUsage.serverAuth, days: 365 });
  if (source.kind === 'directory') {
    writeOwnerOnly(join(source.dir, 'server.key'), server.privateKey);
    writeOwnerOnly(join(source.dir, 'server.crt'), server.certificate);
  }
  return { ...issuerOf(ca), server: { certificate: server.certificate, privateKey: server.privateKey } };
}

/**
 * The node id a verified peer certificate names: its `spiffe://apip/data-plane/<id>` URI SAN (node's
 * `subjectaltname` text, e.g. `URI:spiffe://apip/data-plane/edge-1`). null when there is none, or several.
 */
export function nodeIdOfPeerCertificate(subjectAltName: string | undefined): string | null {
  if (!subjectAltName) return null;
  const ids = subjectAltName
    .split(', ')
    .filter((entry) => entry.startsWith(`URI:${dataPlaneUriPrefix}`))
    .map((entry) => entry.slice(`URI:${dataPlaneUriPrefix}`.length));
  return ids.length === 1 && ids[0] ? ids[0] : null;
}

/** The node id a data-plane certificate (PEM) was issued for; what a gateway presents as its node. */
export function nodeIdOfCertificatePem(pem: string): string | null {
  return nodeIdOfPeerCertificate(new X509Certificate(pem).subjectAltName);
}
