// What a neighbour on the network can reach with the defaults: only the gateway's traffic port.
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../../server/config.ts';
import { createPlatform, type Platform } from '../../server/platform.ts';

/** This machine's first non-loopback IPv4 address: what another host would dial. */
function externalAddress(): string {
  const address = Object.values(networkInterfaces()).flat().find((info) => info && info.family === 'IPv4' && !info.internal)?.address;
  if (!address) throw new Error('this test needs a non-loopback IPv4 interface');
  return address;
}

function isReachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('listen addresses with the default configuration', () => {
  let platform: Platform;
  const external = externalAddress();

  beforeAll(async () => {
    const config = configFromEnv({ MANAGEMENT_PORT: '0', GATEWAY_PORT: '0', XDS_PORT: '0', GATEWAY_ADMIN_PORT: '0', DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
    platform = await createPlatform(config, { logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await platform?.close();
  });

  it('reports management, xDS and gateway admin on 127.0.0.1 and the gateway on 0.0.0.0', () => {
    const { ports, addresses } = platform;
    expect(addresses).toEqual({
      management: `127.0.0.1:${ports.management}`,
      xds: `127.0.0.1:${ports.xds}`,
      gatewayAdmin: `127.0.0.1:${ports.gatewayAdmin}`,
      gateway: `0.0.0.0:${ports.gateway}`,
    });
  });

  it('accepts connections on loopback to every port', async () => {
    const { ports } = platform;
    for (const port of [ports.management, ports.xds, ports.gatewayAdmin, ports.gateway]) expect(await isReachable('127.0.0.1', port ?? 0)).toBe(true);
  });

  it('refuses connections from the network to management, xDS and gateway admin, and accepts them on the gateway', async () => {
    const { ports } = platform;
    expect(await isReachable(external, ports.management)).toBe(false);
    expect(await isReachable(external, ports.xds ?? 0)).toBe(false);
    expect(await isReachable(external, ports.gatewayAdmin ?? 0)).toBe(false);
    expect(await isReachable(external, ports.gateway ?? 0)).toBe(true);
  });
});
