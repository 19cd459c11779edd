import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDownstream } from '../../../server/gateway/downstream-listener.ts';

const dir = mkdtempSync(join(tmpdir(), 'apip-downstream-'));
const cert = join(dir, 'gateway.crt');
const key = join(dir, 'gateway.key');
writeFileSync(cert, 'CERT PEM');
writeFileSync(key, 'KEY PEM');

function tlsSocket(typed: Record<string, unknown>, name = 'envoy.transport_sockets.tls'): Record<string, unknown> {
  return { name, typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', ...typed } };
}

const certificates = (certFile: string) => ({ tlsCertificates: [{ certificateChain: { filename: certFile }, privateKey: { filename: key } }] });

describe('readDownstream', () => {
  it('reads plaintext with node-sized HTTP/2 defaults and no WebSocket when the HCM sets nothing', async () => {
    const settings = await readDownstream({}, {}, 'listener');
    expect(settings).toMatchObject({ tls: null, http2: { maxConcurrentStreams: 100, initialWindowSize: 65_535 }, isWebSocketEnabled: false });
  });

  it('reads the certificate files, ALPN, client CA requirement, HTTP/2 limits and the websocket upgrade', async () => {
    const chain = { transportSocket: tlsSocket({ commonTlsContext: { ...certificates(cert), alpnProtocols: ['h2', 'http/1.1'], validationContext: { trustedCa: { inlineString: 'CA PEM' } } }, requireClientCertificate: true }) };
    const hcm = { http2ProtocolOptions: { maxConcurrentStreams: 7, initialStreamWindowSize: 1024 }, upgradeConfigs: [{ upgradeType: 'WebSocket' }] };
    const settings = await readDownstream(chain, hcm, 'listener');
    expect(settings).toMatchObject({
      tls: { cert: 'CERT PEM', key: 'KEY PEM', ca: 'CA PEM', isClientCertRequired: true, alpnProtocols: ['h2', 'http/1.1'] },
      http2: { maxConcurrentStreams: 7, initialWindowSize: 1024 },
      isWebSocketEnabled: true,
    });
    expect((await readDownstream(chain, { upgradeConfigs: [{ upgradeType: 'websocket', enabled: false }] }, 'listener')).isWebSocketEnabled).toBe(false);
  });

  it('refuses a missing file, another transport socket, a required client certificate without a CA and a bad limit, naming the field', async () => {
    await expect(readDownstream({ transportSocket: tlsSocket({ commonTlsContext: certificates(join(dir, 'missing.crt')) }) }, {}, 'listener'))
      .rejects.toThrow(/listener\.transportSocket\.typedConfig\.commonTlsContext\.tlsCertificates\[0\]\.certificateChain\.filename: cannot read .*ENOENT/);
    await expect(readDownstream({ transportSocket: tlsSocket({}, 'envoy.transport_sockets.alts') }, {}, 'listener')).rejects.toThrow(/transport socket envoy\.transport_sockets\.alts is not supported/);
    await expect(readDownstream({ transportSocket: tlsSocket({ commonTlsContext: certificates(cert), requireClientCertificate: true }) }, {}, 'listener'))
      .rejects.toThrow(/requireClientCertificate needs commonTlsContext\.validationContext\.trustedCa/);
    await expect(readDownstream({}, { http2ProtocolOptions: { maxConcurrentStreams: 0 } }, 'listener')).rejects.toThrow(/http2ProtocolOptions\.maxConcurrentStreams must be a positive integer/);
  });
});
