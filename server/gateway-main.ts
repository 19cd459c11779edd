// `npm run gateway`: the embedded gateway alone, against a remote control plane's ADS server. The only gateway
// file that reads process.env. Environment: XDS_ADDRESS (default 127.0.0.1:18000), GATEWAY_PORT (8080),
// GATEWAY_ADMIN_PORT (9902: Envoy's admin keeps 9901 in envoy/bootstrap.yaml; 0 = free port), HOST (0.0.0.0),
// LOG_LEVEL (info; `debug` adds the per-request access log). Ports are printed as one JSON line on stdout.
import { createAdsClient } from './gateway/ads-client.ts';
import { createGateway } from './gateway/gateway.ts';
import { createLogger } from './logger.ts';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number (0-65535), got '${raw}'`);
  return value;
}

const logger = createLogger({ level: process.env.LOG_LEVEL || 'info' });
const source = createAdsClient({ address: process.env.XDS_ADDRESS || '127.0.0.1:18000', logger });
const gateway = await createGateway({
  source,
  port: port('GATEWAY_PORT', 8080),
  adminPort: port('GATEWAY_ADMIN_PORT', 9902),
  host: process.env.HOST || '0.0.0.0',
  logger,
});
process.stdout.write(`${JSON.stringify({ gateway: gateway.port, gatewayAdmin: gateway.adminPort })}\n`);

let isStopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ signal }, 'shutting down');
    source.close();
    void gateway.close().then(() => process.exit(0));
  });
}
