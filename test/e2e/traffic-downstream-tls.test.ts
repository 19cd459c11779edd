// docs/gateway.md "TLS, HTTP/2 and WebSocket", end to end: GATEWAY_TLS_* (here the config fields) go through the
// snapshot pipeline into the generated listener's DownstreamTlsContext, and the embedded gateway serves exactly
// that listener: h2 and HTTP/1.1 over TLS with a required client certificate, the API's plan running on h2.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlatformPki } from '../../server/pki/platform-pki.ts';
import { validateResources } from '../../server/xds/validate.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createApi, createPlan } from '../helpers/plans-traffic.ts';
import { eventually, type Recorder, startRecorder } from '../helpers/traffic.ts';

describe('traffic: downstream TLS from the operator settings (pglite)', () => {
  let t: TestPlatform;
  let upstream: Recorder;
  let dir: string;
  let tls: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    const pki = await openPlatformPki({ kind: 'memory' }, []);
    const client = await pki.issue('client-e2e', 1);
    tls = { ca: pki.caCertificate, cert: client.certificate, key: client.privateKey };
    dir = mkdtempSync(join(tmpdir(), 'apip-e2e-tls-'));
    const files = { certFile: join(dir, 'gateway.crt'), keyFile: join(dir, 'gateway.key'), clientCaFile: join(dir, 'clients.crt') };
    writeFileSync(files.certFile, pki.server.certificate);
    writeFileSync(files.keyFile, pki.server.privateKey);
    writeFileSync(files.clientCaFile, pki.caCertificate);
    upstream = await startRecorder('tls-upstream');
    t = await startTestPlatform('pglite', { gatewayTls: { ...files, clientCert: 'required' } });
    const apiId = await createApi(t, 'tls-api', { context: '/tls/$version', upstreamUrl: upstream.url, operations: [{ method: 'GET', path: '/items' }] });
    await createPlan(t, apiId, 'Open', { type: 'KEYLESS' });
  });

  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a listener with the DownstreamTlsContext naming the files, which passes the strict Envoy check', () => {
    const snapshot = t.platform.snapshots.current();
    const chain = (snapshot?.resources.listener[0] as { filterChains: { transportSocket: { typedConfig: Record<string, unknown> } }[] }).filterChains[0]!;
    expect(chain.transportSocket.typedConfig).toMatchObject({
      requireClientCertificate: true,
      commonTlsContext: { alpnProtocols: ['h2', 'http/1.1'], validationContext: { trustedCa: { filename: join(dir, 'clients.crt') } } },
    });
    expect(validateResources(snapshot!.resources)).toEqual([]);
  });

  it('serves the API over h2 with a client certificate, and over HTTP/1.1 on the same port', async () => {
    const port = t.platform.ports.gateway ?? 0;
    const session = connect(`https://127.0.0.1:${port}`, tls);
    try {
      const status = await eventually(async () => {
        const stream = session.request({ ':path': '/tls/v1/items' });
        const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
        stream.resume();
        return Number(headers[':status']);
      }, (s) => s === 200, { timeoutMs: 5000, what: 'the API served over h2' });
      expect(status).toBe(200);
      expect(session.alpnProtocol).toBe('h2');
    } finally {
      session.close();
    }
    const dispatcher = new Agent({ connect: tls });
    try {
      const response = await request(`https://127.0.0.1:${port}/tls/v1/items`, { dispatcher });
      await response.body.dump();
      expect(response.statusCode).toBe(200);
      expect(upstream.last().headers['x-forwarded-proto']).toBe('https');
    } finally {
      await dispatcher.close();
    }
  });
});
