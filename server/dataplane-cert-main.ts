// `npm run dataplane:cert -- --node-id <id> [--days N] --out <dir>`: issues a data plane's client certificate for
// the xDS port under the platform CA (the one `npm start` uses: DATA_DIR/pki, or XDS_CA_CERT_FILE/XDS_CA_KEY_FILE).
// Writes <dir>/tls.crt, <dir>/tls.key (0600) and <dir>/ca.crt, the paths envoy/bootstrap.yaml and `npm run gateway`
// read. The key is written only there. Like main.ts, an entry point that reads process.env.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { xdsConfigFromEnv } from './config.ts';
import { dataPlaneCertificateIssues } from './domain/data-planes.ts';
import { openCertificateIssuer, pkiSourceOf } from './pki/platform-pki.ts';

function fail(message: string): never {
  process.stderr.write(`${message}\nusage: npm run dataplane:cert -- --node-id <id> [--days N] --out <dir>\n`);
  process.exit(2);
}

let values: { 'node-id'?: string; days?: string; out?: string };
try {
  ({ values } = parseArgs({ options: { 'node-id': { type: 'string' }, days: { type: 'string' }, out: { type: 'string' } } }));
} catch (error: unknown) {
  fail(error instanceof Error ? error.message : String(error));
}
const nodeId = values['node-id'] ?? fail('--node-id is required');
const out = values.out ?? fail('--out is required');
const validityDays = values.days === undefined ? 365 : Number(values.days);
const issues = dataPlaneCertificateIssues({ nodeId, validityDays });
if (issues.length > 0) fail(issues.map((issue) => `${issue.path === 'nodeId' ? '--node-id' : '--days'}: ${issue.message}`).join('\n'));

const dataDir = process.env.DATA_DIR || './data';
if (dataDir.startsWith('memory://')) fail('DATA_DIR is memory://: there is no platform CA to issue from');
const xds = xdsConfigFromEnv(process.env);
const issuer = await openCertificateIssuer(pkiSourceOf(dataDir, xds.caFiles));
const issued = await issuer.issue(nodeId, validityDays);

mkdirSync(out, { recursive: true, mode: 0o700 });
writeFileSync(join(out, 'tls.key'), issued.privateKey, { mode: 0o600 });
chmodSync(join(out, 'tls.key'), 0o600);
writeFileSync(join(out, 'tls.crt'), issued.certificate);
writeFileSync(join(out, 'ca.crt'), issued.caCertificate);
process.stdout.write(
  `${JSON.stringify({ nodeId, serialNumber: issued.serialNumber, expiresAt: issued.expiresAt.toISOString(), certificate: join(out, 'tls.crt'), privateKey: join(out, 'tls.key'), caCertificate: join(out, 'ca.crt') })}\n`,
);
