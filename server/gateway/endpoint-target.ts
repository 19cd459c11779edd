// The origin and connector of one endpoint of a cluster: what upstream pools and health checks connect with.
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import type { ConnectionSettings, Endpoint } from './endpoint.ts';

/** Where and how to connect to one endpoint of a cluster (requests and health checks alike). */
export function endpointTarget(cluster: ConnectionSettings, endpoint: Endpoint): { origin: string; servername: string; connect: buildConnector.connector } {
  const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
  const tls = cluster.tls;
  const origin = `${tls === null ? 'http' : 'https'}://${host}:${endpoint.port}`;
  // Node's rule (what the node:http client did): SNI is the configured `sni`, else the address unless it is an IP.
  const sni = tls?.sni ?? (isIP(endpoint.address) === 0 ? endpoint.address : undefined);
  const base = buildConnector({
    timeout: cluster.connectTimeoutMs,
    ...(tls === null ? {} : {
      rejectUnauthorized: tls.verify,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(sni === undefined ? {} : { servername: sni }),
    }),
  });
  // The request's servername is a constant placeholder; the connection uses the configured one (or none).
  const connect: buildConnector.connector = tls === null ? base : (options, callback) => base({ ...options, servername: sni ?? '' }, callback);
  return { origin, servername: sni ?? 'upstream', connect };
}
