import { describe, expect, it } from 'vitest';
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
});
