import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromEnv } from '../../server/config.ts';

describe('configFromEnv', () => {
  it('listens on loopback for management, xDS and gateway admin, and on every interface for gateway traffic, by default', () => {
    const config = configFromEnv({});
    expect(config).toMatchObject({ managementHost: '127.0.0.1', xdsHost: '127.0.0.1', gatewayAdminHost: '127.0.0.1', gatewayHost: '0.0.0.0' });
  });

  it('takes each interface from its own variable and ignores the removed HOST', () => {
    const config = configFromEnv({ HOST: '0.0.0.0', MANAGEMENT_HOST: '10.0.0.5', XDS_HOST: '10.0.0.6', GATEWAY_HOST: '10.0.0.7', GATEWAY_ADMIN_HOST: '10.0.0.8' });
    expect(config).toMatchObject({ managementHost: '10.0.0.5', xdsHost: '10.0.0.6', gatewayHost: '10.0.0.7', gatewayAdminHost: '10.0.0.8' });
    expect(configFromEnv({ HOST: '0.0.0.0' }).managementHost).toBe('127.0.0.1');
  });

  it('requires client certificates on xDS unless plaintext is chosen, and bounds streams, rows and retention by default', () => {
    expect(configFromEnv({})).toMatchObject({
      xds: { isPlaintext: false, serverNames: [], maxAdsStreamsPerNode: 4, maxAccessLogStreamsPerNode: 64 },
      analyticsMaxKeysPerMinute: 10_000,
      requestStatsRetentionDays: 30,
    });
    expect(configFromEnv({ XDS_SERVER_NAMES: 'xds.example.com, 10.1.2.3', XDS_MAX_ADS_STREAMS_PER_NODE: '2', REQUEST_STATS_RETENTION_DAYS: '7' })).toMatchObject({
      xds: { serverNames: ['xds.example.com', '10.1.2.3'], maxAdsStreamsPerNode: 2 },
      requestStatsRetentionDays: 7,
    });
  });

  it('leaves the basic-auth PBKDF2 budget to the module unless BASIC_AUTH_ITERATIONS_PER_SECOND sets it', () => {
    expect(configFromEnv({}).basicAuthIterationsPerSecond).toBeUndefined();
    expect(configFromEnv({ BASIC_AUTH_ITERATIONS_PER_SECOND: '600000' }).basicAuthIterationsPerSecond).toBe(600_000);
    expect(() => configFromEnv({ BASIC_AUTH_ITERATIONS_PER_SECOND: '0' })).toThrow(/BASIC_AUTH_ITERATIONS_PER_SECOND must be at least 1/);
  });

  it('allows plaintext xDS on a loopback address only', () => {
    expect(configFromEnv({ XDS_PLAINTEXT: 'true' }).xds?.isPlaintext).toBe(true);
    expect(configFromEnv({ XDS_PLAINTEXT: 'true', XDS_HOST: '::1' }).xds?.isPlaintext).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.6', 'xds.example.com']) {
      expect(() => configFromEnv({ XDS_PLAINTEXT: 'true', XDS_HOST: host })).toThrow(/XDS_PLAINTEXT=true is allowed only when XDS_HOST is a loopback address/);
    }
  });

  it('refuses a half-given CA, an unreadable flag and a zero stream maximum with the variable named', () => {
    expect(() => configFromEnv({ XDS_CA_CERT_FILE: '/x/ca.crt' })).toThrow(/XDS_CA_CERT_FILE and XDS_CA_KEY_FILE must be set together/);
    expect(() => configFromEnv({ XDS_PLAINTEXT: 'maybe' })).toThrow(/XDS_PLAINTEXT must be true or false/);
    expect(() => configFromEnv({ XDS_MAX_ADS_STREAMS_PER_NODE: '0' })).toThrow(/XDS_MAX_ADS_STREAMS_PER_NODE must be at least 1/);
  });

  describe('GATEWAY_TLS_*', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apip-config-tls-'));
    const cert = join(dir, 'gateway.crt');
    const key = join(dir, 'gateway.key');
    const ca = join(dir, 'clients.crt');
    for (const file of [cert, key, ca]) writeFileSync(file, 'PEM');
    const files = { GATEWAY_TLS_CERT_FILE: cert, GATEWAY_TLS_KEY_FILE: key };

    it('serves plaintext without certificate files, and TLS without client certificates with both files', () => {
      expect(configFromEnv({}).gatewayTls).toBeUndefined();
      expect(configFromEnv(files).gatewayTls).toEqual({ certFile: cert, keyFile: key, clientCert: 'none' });
    });

    it('requires client certificates when a client CA is given alone, and takes optional when asked', () => {
      expect(configFromEnv({ ...files, GATEWAY_TLS_CLIENT_CA_FILE: ca }).gatewayTls).toEqual({ certFile: cert, keyFile: key, clientCaFile: ca, clientCert: 'required' });
      expect(configFromEnv({ ...files, GATEWAY_TLS_CLIENT_CA_FILE: ca, GATEWAY_TLS_CLIENT_CERT: 'optional' }).gatewayTls?.clientCert).toBe('optional');
    });

    it('refuses half-given files, client settings without TLS, a mode without a CA, an unknown mode and an unreadable file, naming the variable', () => {
      expect(() => configFromEnv({ GATEWAY_TLS_CERT_FILE: cert })).toThrow(/GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together/);
      expect(() => configFromEnv({ GATEWAY_TLS_CLIENT_CA_FILE: ca })).toThrow(/need GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE/);
      expect(() => configFromEnv({ ...files, GATEWAY_TLS_CLIENT_CERT: 'required' })).toThrow(/GATEWAY_TLS_CLIENT_CERT=required needs GATEWAY_TLS_CLIENT_CA_FILE/);
      expect(() => configFromEnv({ ...files, GATEWAY_TLS_CLIENT_CERT: 'sometimes', GATEWAY_TLS_CLIENT_CA_FILE: ca })).toThrow(/GATEWAY_TLS_CLIENT_CERT must be none, optional or required/);
      expect(() => configFromEnv({ ...files, GATEWAY_TLS_KEY_FILE: join(dir, 'missing.key') })).toThrow(/GATEWAY_TLS_KEY_FILE: cannot read/);
      // Envoy reads the files on its own machine: without the embedded gateway they are not checked here.
      expect(configFromEnv({ ...files, GATEWAY_TLS_KEY_FILE: join(dir, 'missing.key'), EMBEDDED_GATEWAY: 'false' }).gatewayTls?.keyFile).toBe(join(dir, 'missing.key'));
    });
  });
});

describe('GATEWAY_WORKERS', () => {
  it('defaults to one worker thread per core; 0 serves on the main thread', () => {
    expect(configFromEnv({}).gatewayWorkers).toBe(availableParallelism());
    expect(configFromEnv({ GATEWAY_WORKERS: '0' }).gatewayWorkers).toBe(0);
    expect(configFromEnv({ GATEWAY_WORKERS: '3' }).gatewayWorkers).toBe(3);
  });

  it('refuses what is not a count of threads, naming the variable', () => {
    for (const raw of ['two', '-1', '1.5']) {
      expect(() => configFromEnv({ GATEWAY_WORKERS: raw })).toThrow(`GATEWAY_WORKERS must be a non-negative integer, got '${raw}'`);
    }
  });
});
