// Downstream TLS, HTTP/2, mTLS and WebSocket through the embedded gateway, with real clients (undici, node:http2,
// ws) against a listener shaped as the translator generates it (DownstreamTlsContext by file, HTTP/2 options,
// websocket upgrade config). Certificates come from the platform PKI (server/pki), written to files.
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createGateway, type Gateway } from '../../../server/gateway/gateway.ts';
import type { EnvoyResource, Snapshot } from '../../../server/envoy/resources.ts';
import { openPlatformPki } from '../../../server/pki/platform-pki.ts';
import { keyDigestHex, testDigestKeyHex } from '../../helpers/policies.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';
import { propertyProbe } from '../../fixtures/gateway/property-probe.ts';
import { ManualSource, moduleSha256, silentLogger, startModuleServer, startUpstream, type TestServer } from '../../fixtures/gateway/servers.ts';

const BOOKS = 'books/GET/books';
const WS = 'books/GET/ws';
const KEY = `apip_${'2'.repeat(64)}`;

interface Files { cert: string; key: string; ca: string }
type ClientCert = 'none' | 'optional' | 'required';

/** The listener as envoy-listener.ts generates it with GATEWAY_TLS_* set (null: plaintext). */
function tlsListener(filters: EnvoyResource[], files: Files | null, clientCert: ClientCert): EnvoyResource {
  const base = listener(filters) as { filterChains: Record<string, unknown>[] } & EnvoyResource;
  const chain = base.filterChains[0]!;
  const hcm = (chain.filters as { typedConfig: Record<string, unknown> }[])[0]!.typedConfig;
  hcm.http2ProtocolOptions = { maxConcurrentStreams: 100, initialStreamWindowSize: 65536, initialConnectionWindowSize: 1048576 };
  hcm.upgradeConfigs = [{ upgradeType: 'websocket' }];
  if (files !== null) {
    chain.transportSocket = {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        commonTlsContext: {
          tlsCertificates: [{ certificateChain: { filename: files.cert }, privateKey: { filename: files.key } }],
          alpnProtocols: ['h2', 'http/1.1'],
          ...(clientCert === 'none' ? {} : { validationContext: { trustedCa: { filename: files.ca } } }),
        },
        ...(clientCert === 'required' ? { requireClientCertificate: true } : {}),
      },
    };
  }
  return base;
}

function inlineWasmFilter(name: string, wasm: Uint8Array): EnvoyResource {
  return {
    name: `envoy.filters.http.wasm/${name}`,
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
      config: { name, rootId: name, vmConfig: { vmId: name, runtime: 'envoy.wasm.runtime.v8', code: { local: { inlineBytes: Buffer.from(wasm).toString('base64') } } } },
    },
  };
}

/** h2 request on `session`: status, headers and body text. */
async function h2Get(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const stream = session.request({ ':path': path, ...headers });
  const [response] = await once(stream, 'response') as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(response[':status']), headers: response, text: Buffer.concat(chunks).toString('utf8') };
}

async function h2Session(port: number, tls: Record<string, string>): Promise<ClientHttp2Session> {
  const session = connect(`https://127.0.0.1:${port}`, tls);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** Opens a TLS connection with `tls` and sends one request; resolves with its status, rejects when refused. */
async function h2Status(port: number, tls: Record<string, string>, path: string): Promise<number> {
  const session = await h2Session(port, tls);
  try {
    const stream = session.request({ ':path': path, 'x-api-key': KEY });
    const failed = once(session, 'error').then(([error]) => { throw error; });
    const closed = once(stream, 'close').then(() => { throw new Error('stream closed without a response'); });
    const [headers] = await Promise.race([once(stream, 'response'), failed, closed]) as [IncomingHttpHeaders];
    stream.resume();
    return Number(headers[':status']);
  } finally {
    session.destroy();
  }
}

function sha256Of(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
}

describe('embedded gateway downstream TLS, HTTP/2, mTLS and WebSocket', () => {
  let dir: string;
  let files: Files;
  let ca: string;
  let client: { certificate: string; privateKey: string };
  let stranger: { certificate: string; privateKey: string };
  let upstream: TestServer;
  let modules: TestServer;
  let wsServer: Server;
  let wsUpstream: WebSocketServer;
  const upstreamCloses: number[] = [];
  let optional: { source: ManualSource; gateway: Gateway };
  let required: Gateway;

  const build = (version: string, tls: Files | null, clientCert: ClientCert): Snapshot => {
    const apiKey = wasmFilter({
      module: 'api-key', baseUrl: modules.url, sha256: moduleSha256('api-key'),
      configuration: {
        stripIdentityHeaders: true,
        digestKey: testDigestKeyHex,
        keySets: { books: [{ sha256: keyDigestHex(KEY), status: 'active', applicationId: 'app-1', subscriptionId: 'sub-1', plan: 'Gold' }] },
        routes: Object.fromEntries([BOOKS, WS].map((name) => [name, { keySets: ['books'], key: 'x-api-key', in: 'header' }])),
      },
    });
    const probe = inlineWasmFilter('peer-probe', propertyProbe([
      ['x-peer-uri', ['connection', 'uri_san_peer_certificate']],
      ['x-peer-sha256', ['connection', 'sha256_peer_certificate_digest']],
      ['x-peer-subject', ['connection', 'subject_peer_certificate']],
      ['x-protocol', ['request', 'protocol']],
    ]));
    const wsPort = (wsServer.address() as AddressInfo).port;
    return snapshot(version, {
      listeners: [tlsListener([apiKey, probe], tls, clientCert)],
      routes: [routeConfiguration([{
        name: 'default', domains: ['*'],
        routes: [
          route({ name: BOOKS, match: { path: '/books' }, cluster: 'books' }),
          route({ name: WS, match: { path: '/ws' }, cluster: 'ws' }),
        ],
      }])],
      clusters: [
        staticCluster('books', [{ address: '127.0.0.1', port: upstream.port }]),
        staticCluster('ws', [{ address: '127.0.0.1', port: wsPort }]),
      ],
    });
  };

  beforeAll(async () => {
    const pki = await openPlatformPki({ kind: 'memory' }, []);
    const otherPki = await openPlatformPki({ kind: 'memory' }, []);
    ca = pki.caCertificate;
    client = await pki.issue('client-1', 1);
    stranger = await otherPki.issue('stranger', 1);
    dir = mkdtempSync(join(tmpdir(), 'apip-tls-'));
    files = { cert: join(dir, 'gateway.crt'), key: join(dir, 'gateway.key'), ca: join(dir, 'clients-ca.crt') };
    writeFileSync(files.cert, pki.server.certificate);
    writeFileSync(files.key, pki.server.privateKey);
    writeFileSync(files.ca, pki.caCertificate);
    upstream = await startUpstream('books');
    modules = await startModuleServer();
    // A WebSocket echo upstream that records the close codes it sees.
    wsServer = createServer();
    wsUpstream = new WebSocketServer({ server: wsServer });
    wsUpstream.on('connection', (socket, req) => {
      socket.on('message', (data, isBinary) => {
        const text = data.toString();
        if (text === 'bye') socket.close(4001, 'upstream says bye');
        else socket.send(isBinary ? data : `echo ${text} ${String(req.headers['x-apip-application-id'] ?? '')}`);
      });
      socket.on('close', (code) => upstreamCloses.push(code));
    });
    await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
    const source = new ManualSource(build('1', files, 'optional'));
    optional = { source, gateway: await createGateway({ source, port: 0, logger: silentLogger() }) };
    // On worker threads: each worker serves TLS and h2 on its own descriptor of the shared socket.
    required = await createGateway({ source: new ManualSource(build('1', files, 'required')), port: 0, logger: silentLogger(), workers: 2 });
  });

  afterAll(async () => {
    await optional.gateway.close();
    await required.close();
    for (const socket of wsUpstream.clients) socket.terminate();
    wsUpstream.close();
    await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    await upstream.close();
    await modules.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 over TLS to undici trusting the CA, with x-forwarded-proto https', async () => {
    const dispatcher = new Agent({ connect: { ca } });
    try {
      const response = await request(`https://127.0.0.1:${optional.gateway.port}/books`, { dispatcher, headers: { 'x-api-key': KEY } });
      const body = await response.body.json() as { headers: Record<string, string> };
      expect(response.statusCode).toBe(200);
      expect(body.headers['x-forwarded-proto']).toBe('https');
      expect(body.headers['x-protocol']).toBe('HTTP/1.1');
      // No client certificate: the connection is not mTLS, the peer's properties are absent.
      expect(body.headers['x-peer-uri']).toBe('');
    } finally {
      await dispatcher.close();
    }
  });

  it('negotiates h2 by ALPN and runs the policy chain on h2 requests (401 without the key, 200 with it)', async () => {
    const session = await h2Session(optional.gateway.port, { ca });
    try {
      expect(session.alpnProtocol).toBe('h2');
      const refused = await h2Get(session, '/books');
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.text)).toEqual({ status: 'error', message: 'Missing API key.' });
      const served = await h2Get(session, '/books?q=1', { 'x-api-key': KEY });
      expect(served.status).toBe(200);
      expect(served.headers['x-upstream']).toBe('books');
      const echoed = JSON.parse(served.text) as { url: string; headers: Record<string, string> };
      expect(echoed.url).toBe('/books?q=1');
      // :authority became Host; no pseudo-header reached the upstream as a header.
      expect(echoed.headers.host).toBe(`127.0.0.1:${optional.gateway.port}`);
      expect(Object.keys(echoed.headers).filter((name) => name.startsWith(':'))).toEqual([]);
      expect(echoed.headers['x-forwarded-proto']).toBe('https');
      expect(echoed.headers['x-protocol']).toBe('HTTP/2');
      expect(echoed.headers['x-apip-application-id']).toBe('app-1');
    } finally {
      session.close();
    }
  });

  it('streams an h2 request body sent without content-length to the upstream', async () => {
    const session = await h2Session(optional.gateway.port, { ca });
    try {
      const stream = session.request({ ':path': '/books', ':method': 'POST', 'x-api-key': KEY });
      stream.write('first ');
      stream.end('second');
      const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(headers[':status']).toBe(200);
      expect((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { body: string }).body).toBe('first second');
    } finally {
      session.close();
    }
  });

  it('shows a verified client certificate to modules as connection.* properties (optional client certificates)', async () => {
    const session = await h2Session(optional.gateway.port, { ca, cert: client.certificate, key: client.privateKey });
    try {
      const served = await h2Get(session, '/books', { 'x-api-key': KEY });
      expect(served.status).toBe(200);
      const { headers } = JSON.parse(served.text) as { headers: Record<string, string> };
      expect(headers['x-peer-uri']).toBe('spiffe://apip/data-plane/client-1');
      expect(headers['x-peer-sha256']).toBe(sha256Of(client.certificate));
      expect(headers['x-peer-subject']).toBe('CN=client-1');
    } finally {
      session.close();
    }
  });

  it('refuses a client certificate from another CA even when certificates are optional', async () => {
    expect(await h2Status(optional.gateway.port, { ca }, '/books')).toBe(200);
    await expect(h2Status(optional.gateway.port, { ca, cert: stranger.certificate, key: stranger.privateKey }, '/books')).rejects.toThrow();
  });

  it('refuses the TLS handshake without a client certificate when one is required, and serves a good one (worker threads)', async () => {
    await expect(h2Status(required.port, { ca }, '/books')).rejects.toThrow();
    await expect(h2Status(required.port, { ca, cert: stranger.certificate, key: stranger.privateKey }, '/books')).rejects.toThrow();
    expect(await h2Status(required.port, { ca, cert: client.certificate, key: client.privateKey }, '/books')).toBe(200);
    // HTTP/1.1 clients too.
    const dispatcher = new Agent({ connect: { ca, cert: client.certificate, key: client.privateKey } });
    try {
      const response = await request(`https://127.0.0.1:${required.port}/books`, { dispatcher, headers: { 'x-api-key': KEY } });
      await response.body.dump();
      expect(response.statusCode).toBe(200);
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses a WebSocket upgrade without the api key before upgrading, with the policy\'s 401', async () => {
    const before = wsUpstream.clients.size;
    const socket = new WebSocket(`wss://127.0.0.1:${optional.gateway.port}/ws`, { ca });
    const [, response] = await once(socket, 'unexpected-response') as [unknown, { statusCode: number; resume(): void }];
    response.resume();
    expect(response.statusCode).toBe(401);
    expect(wsUpstream.clients.size).toBe(before);
  });

  it('proxies a WebSocket after the request filters: frames both ways, and a close from either side reaches the other', async () => {
    const socket = new WebSocket(`wss://127.0.0.1:${optional.gateway.port}/ws`, { ca, headers: { 'x-api-key': KEY } });
    await once(socket, 'open');
    socket.send('hello');
    const [message] = await once(socket, 'message') as [Buffer];
    // The upstream saw the identity the api-key policy set on the upgrade request.
    expect(message.toString()).toBe('echo hello app-1');
    socket.send(Buffer.from([1, 2, 3]), { binary: true });
    const [binary] = await once(socket, 'message') as [Buffer];
    expect([...binary]).toEqual([1, 2, 3]);
    // Client closes: the upstream sees the close frame's code.
    const closesBefore = upstreamCloses.length;
    socket.close(4000, 'client done');
    await once(socket, 'close');
    await expect.poll(() => upstreamCloses.slice(closesBefore)).toEqual([4000]);

    // Upstream closes: the client sees its code.
    const second = new WebSocket(`wss://127.0.0.1:${optional.gateway.port}/ws`, { ca, headers: { 'x-api-key': KEY } });
    await once(second, 'open');
    second.send('bye');
    const [code] = await once(second, 'close') as [number];
    expect(code).toBe(4001);
  });

  it('answers 403 to an upgrade when the listener has no websocket upgrade config, as Envoy does', async () => {
    const { source, gateway } = optional;
    const snap = build('6', files, 'optional');
    const hcm = ((snap.resources.listener[0] as { filterChains: { filters: { typedConfig: Record<string, unknown> }[] }[] }).filterChains[0]!.filters[0]!.typedConfig);
    delete hcm.upgradeConfigs;
    await source.push(snap);
    try {
      const socket = new WebSocket(`wss://127.0.0.1:${gateway.port}/ws`, { ca, headers: { 'x-api-key': KEY } });
      const [, response] = await once(socket, 'unexpected-response') as [unknown, { statusCode: number; resume(): void }];
      response.resume();
      expect(response.statusCode).toBe(403);
    } finally {
      await source.push(build('7', files, 'optional'));
    }
  });

  it('relays a non-101 upstream answer to an upgrade request as a normal response', async () => {
    // The books upstream is plain HTTP: it answers the upgrade request with its JSON echo (200).
    const { source, gateway } = optional;
    const snap = build('2', files, 'optional');
    const routes = snap.resources.routeConfiguration;
    const config = JSON.parse(JSON.stringify(routes[0])) as { virtualHosts: { routes: { route: { cluster: string } }[] }[] };
    config.virtualHosts[0]!.routes[1]!.route.cluster = 'books';
    await source.push({ ...snap, resources: { ...snap.resources, routeConfiguration: [config as unknown as EnvoyResource] } });
    try {
      const socket = new WebSocket(`wss://127.0.0.1:${gateway.port}/ws`, { ca, headers: { 'x-api-key': KEY } });
      const [, response] = await once(socket, 'unexpected-response') as [unknown, { statusCode: number; headers: Record<string, string>; resume(): void }];
      response.resume();
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-upstream']).toBe('books');
    } finally {
      await source.push(build('3', files, 'optional'));
    }
  });

  it('serves new connections as a new snapshot\'s listener says and sends an open h2 session GOAWAY (drain)', async () => {
    const { source, gateway } = optional;
    const session = await h2Session(gateway.port, { ca });
    try {
      expect((await h2Get(session, '/books', { 'x-api-key': KEY })).status).toBe(200);
      await source.push(build('4', null, 'none'));
      const goaway = once(session, 'goaway');
      // New connections: plaintext HTTP/1.1.
      const plain = await request(`http://127.0.0.1:${gateway.port}/books`, { headers: { 'x-api-key': KEY } });
      const body = await plain.body.json() as { headers: Record<string, string> };
      expect(plain.statusCode).toBe(200);
      expect(body.headers['x-forwarded-proto']).toBe('http');
      await goaway;
    } finally {
      session.close();
      await source.push(build('5', files, 'optional'));
    }
  });
});
