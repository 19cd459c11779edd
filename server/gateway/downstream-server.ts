// The embedded gateway's traffic port, served as the configured listener says (downstream-listener.ts): node:http
// without TLS; with TLS, http2.createSecureServer offering h2 and HTTP/1.1 by ALPN (Envoy's codec_type AUTO), with
// client certificates when the listener has a validation context. One TCP server owns the port and hands each
// connection to the server built for the configuration current when it arrived: a configuration with other
// downstream settings (certificate, CA, HTTP/2 limits) builds a new server for new connections, and the old one
// drains (idle HTTP/1.1 connections closed, busy ones closed after their response, h2 sessions sent GOAWAY), as
// Envoy drains a listener replaced by LDS. Before the first configuration, connections get plain HTTP (its 404s).
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createSecureServer, Http2ServerResponse, type Http2SecureServer, type Http2Session } from 'node:http2';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { DownstreamSettings } from './downstream-listener.ts';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface DownstreamServerOptions {
  /** The downstream settings of the configuration being served; null before the first one. */
  current: () => DownstreamSettings | null;
  onRequest: RequestHandler;
  /** HTTP/1.1 requests with an Upgrade header (the handler decides whether the route may upgrade). */
  onUpgrade: UpgradeHandler;
  /** HTTP/1.1 keep-alive idle timeout. */
  keepAliveTimeoutMs: number;
}

/**
 * The compat response of h2 streams with the two members the proxy reads on node:http's ServerResponse, which
 * node's typings declare but its compat API lacks (undefined at run time): `destroyed` and `writableNeedDrain` are
 * the stream's.
 */
class GatewayHttp2Response extends Http2ServerResponse {}
Object.defineProperties(GatewayHttp2Response.prototype, {
  destroyed: { get(this: Http2ServerResponse) { return this.stream.destroyed; } },
  writableNeedDrain: { get(this: Http2ServerResponse) { return this.stream.writableNeedDrain; } },
});

interface Served {
  identity: string;
  server: HttpServer | Http2SecureServer;
  sessions: Set<Http2Session>;
  /** Its open connections: a draining server is forgotten once they have all ended. */
  sockets: Set<Socket>;
  isDraining: boolean;
}

function drain(served: Served): void {
  served.isDraining = true;
  // close(): the idle HTTP/1.1 connections now (no listening handle of its own to close).
  served.server.close();
  for (const session of served.sessions) session.close();
}

export class DownstreamServer {
  private readonly tcp: TcpServer;
  private served: Served | null = null;
  private readonly retired = new Set<Served>();
  /** Upgraded connections (WebSocket tunnels): no request ends them, so closing the gateway does. */
  private readonly upgraded = new Set<Duplex>();

  constructor(private readonly options: DownstreamServerOptions) {
    // noDelay and TCP keep-alive as node:http's own server sets them.
    this.tcp = createTcpServer({ noDelay: true, keepAlive: true }, (socket) => this.accept(socket));
  }

  /** Listens on `port` of `host`, or on a descriptor of a socket bound elsewhere (a gateway worker thread's copy
   *  of the shared traffic socket, workers/listen-socket.ts). Resolves with the port. */
  async listen(at: { port: number; host: string } | { fd: number }): Promise<number> {
    const { tcp } = this;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen('fd' in at ? { fd: at.fd } : { port: at.port, host: at.host }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    return (tcp.address() as AddressInfo).port;
  }

  /** Stops accepting; resolves when every connection has ended (in-flight requests finish, tunnels are cut). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const served of [...this.retired, ...(this.served === null ? [] : [this.served])]) drain(served);
    for (const socket of this.upgraded) socket.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    const settings = this.options.current();
    const identity = settings?.identity ?? 'none';
    let served = this.served;
    if (served === null || served.identity !== identity) {
      if (served !== null) {
        this.retired.add(served);
        drain(served);
      }
      served = this.build(settings, identity);
      this.served = served;
    }
    const owner = served;
    owner.sockets.add(socket);
    socket.once('close', () => {
      owner.sockets.delete(socket);
      if (owner.isDraining && owner.sockets.size === 0) this.retired.delete(owner);
    });
    owner.server.emit('connection', socket);
  }

  private build(settings: DownstreamSettings | null, identity: string): Served {
    const { onRequest, onUpgrade, keepAliveTimeoutMs } = this.options;
    const tls = settings?.tls ?? null;
    const sessions = new Set<Http2Session>();
    let served: Served;
    // A draining server's HTTP/1.1 connections close after the response in progress.
    const handle: RequestHandler = (req, res) => {
      if (served.isDraining) res.shouldKeepAlive = false;
      onRequest(req, res);
    };
    let server: HttpServer | Http2SecureServer;
    if (tls === null) {
      server = createHttpServer({ keepAlive: true }, handle);
    } else {
      const http2 = settings?.http2;
      const asksForCert = tls.ca !== null;
      server = createSecureServer({
        allowHTTP1: true,
        ALPNProtocols: tls.alpnProtocols,
        cert: tls.cert,
        key: tls.key,
        ...(asksForCert ? { ca: tls.ca as string, requestCert: true } : {}),
        // Required: the handshake fails without a verified certificate. Optional: a certificate, when presented,
        // must verify (checked below, as Envoy fails the handshake then); none presented is allowed.
        rejectUnauthorized: tls.isClientCertRequired,
        settings: http2 === undefined ? {} : { maxConcurrentStreams: http2.maxConcurrentStreams, initialWindowSize: http2.initialWindowSize },
        Http2ServerResponse: GatewayHttp2Response as unknown as typeof Http2ServerResponse,
      }, handle as unknown as Parameters<typeof createSecureServer>[1]);
      if (asksForCert && !tls.isClientCertRequired) {
        server.prependListener('secureConnection', (socket: TLSSocket) => {
          if (!socket.authorized && socket.getPeerCertificate().raw !== undefined) socket.destroy();
        });
      }
      server.on('session', (session: Http2Session) => {
        sessions.add(session);
        session.once('close', () => sessions.delete(session));
      });
    }
    // HTTP/1.1 keep-alive as the gateway always had it (node's default of 5 s is shorter than most clients' pools).
    (server as HttpServer).keepAliveTimeout = keepAliveTimeoutMs;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      onUpgrade(req, socket, head);
    });
    // A handshake or h2 protocol error concerns that one connection: never an unhandled 'error'.
    server.on('tlsClientError', () => undefined);
    server.on('sessionError', () => undefined);
    // node:http tracks connections (header and request timeouts, closing idle ones) from 'listening': this server
    // never listens itself, the TCP server hands it connections.
    server.emit('listening');
    served = { identity, server, sessions, sockets: new Set(), isDraining: false };
    return served;
  }
}
