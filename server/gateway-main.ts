// `npm run gateway`: the embedded gateway alone, against a remote control plane's ADS server. The only gateway
// file that reads process.env. Environment: XDS_ADDRESS (default 127.0.0.1:18000); XDS_CLIENT_CERT_FILE,
// XDS_CLIENT_KEY_FILE, XDS_CA_CERT_FILE (the data-plane certificate from `npm run dataplane:cert`, required unless
// XDS_PLAINTEXT=true for a loopback development control plane); GATEWAY_PORT (8080), GATEWAY_HOST (0.0.0.0);
// GATEWAY_ADMIN_PORT (9902: Envoy's admin keeps 9901 in envoy/bootstrap.yaml; 0 = free port), GATEWAY_ADMIN_HOST
// (127.0.0.1); GATEWAY_WORKERS (traffic threads, default one per core; 0 = this thread); LOG_LEVEL (info; `debug`
// adds the per-request access log). Ports are printed as one JSON line on stdout, the listen addresses on stderr.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { gatewayWorkersFromEnv, isLoopbackHost } from './config.ts';
import { adsClientCredentials, type AdsClientTls, createAdsClient } from './gateway/ads-client.ts';
import { createGateway } from './gateway/gateway.ts';
import { createLogger } from './logger.ts';
import { nodeIdOfCertificatePem } from './pki/platform-pki.ts';
import { installProcessFaultPolicy } from './process-faults.ts';
import { createTracing } from './telemetry/tracing.ts';
import { tracingConfigFromEnv } from './telemetry/tracing-config.ts';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number (0-65535), got '${raw}'`);
  return value;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const address = process.env.XDS_ADDRESS || '127.0.0.1:18000';
const isPlaintext = ['true', '1', 'yes'].includes((process.env.XDS_PLAINTEXT ?? '').toLowerCase());
const files = { certificate: process.env.XDS_CLIENT_CERT_FILE, privateKey: process.env.XDS_CLIENT_KEY_FILE, caCertificate: process.env.XDS_CA_CERT_FILE };
let tls: AdsClientTls | null = null;
let nodeId = `embedded-gateway-${hostname()}-${process.pid}`;
if (isPlaintext) {
  const host = address.slice(0, address.lastIndexOf(':'));
  if (!isLoopbackHost(host)) fail(`XDS_PLAINTEXT=true is allowed only for a loopback XDS_ADDRESS, not '${address}'`);
} else {
  if (!files.certificate || !files.privateKey || !files.caCertificate) {
    fail('XDS_CLIENT_CERT_FILE, XDS_CLIENT_KEY_FILE and XDS_CA_CERT_FILE are required (issue them with `npm run dataplane:cert -- --node-id <id> --out <dir>`); XDS_PLAINTEXT=true only for a loopback control plane');
  }
  tls = {
    certificate: readFileSync(files.certificate, 'utf8'),
    privateKey: readFileSync(files.privateKey, 'utf8'),
    caCertificate: readFileSync(files.caCertificate, 'utf8'),
  };
  // The control plane refuses any other node id than the certificate's.
  nodeId = nodeIdOfCertificatePem(tls.certificate) ?? fail(`${files.certificate} is not a data-plane certificate (no spiffe://apip/data-plane/ URI)`);
}

const logger = createLogger({ level: process.env.LOG_LEVEL || 'info' });
const source = createAdsClient({ address, logger, credentials: adsClientCredentials(tls), node: { id: nodeId, cluster: 'apip-gateway' } });
const host = process.env.GATEWAY_HOST || '0.0.0.0';
const adminHost = process.env.GATEWAY_ADMIN_HOST || '127.0.0.1';
// Traces as the platform's (OTEL_* variables); each worker thread builds its tracer from the same config.
const tracingConfig = tracingConfigFromEnv(process.env);
const tracing = createTracing(tracingConfig);
const gateway = await createGateway({
  source,
  port: port('GATEWAY_PORT', 8080),
  host,
  adminPort: port('GATEWAY_ADMIN_PORT', 9902),
  adminHost,
  logger,
  workers: gatewayWorkersFromEnv(process.env),
  ...(tracing === null ? {} : { tracer: tracing.tracer, tracing: tracingConfig }),
});
// From here on no single fault ends the process (docs/operations.md); a failed start above still exits.
installProcessFaultPolicy(logger);
process.stdout.write(`${JSON.stringify({ gateway: gateway.port, gatewayAdmin: gateway.adminPort })}\n`);
process.stderr.write(`listening: gateway ${host}:${gateway.port}, gateway admin ${adminHost}:${gateway.adminPort}; xds ${address} as node '${nodeId}' (${tls ? 'mutual TLS' : 'PLAINTEXT'})\n`);

let isStopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ signal }, 'shutting down');
    source.close();
    void gateway.close().then(() => tracing?.shutdown()).then(() => process.exit(0));
  });
}
