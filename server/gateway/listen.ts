// Listening and closing a gateway's servers (traffic in-thread, admin).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from './admin-server.ts';
import type { GatewayOptions } from './gateway-types.ts';

export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** The admin server of a gateway, or null when none is wanted. */
export async function listenAdmin(options: GatewayOptions, render: () => Promise<string> | string, isReady: () => boolean): Promise<{ server: Server; port: number } | null> {
  if (options.adminPort === undefined || options.adminPort === null) return null;
  const server = createAdminServer(render, isReady);
  return { server, port: await listen(server, options.adminPort, options.adminHost ?? '127.0.0.1') };
}
