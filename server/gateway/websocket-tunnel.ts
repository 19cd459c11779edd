// The upstream half of a WebSocket upgrade (HCM `upgrade_configs: websocket`): once the route's request filters let
// the upgrade request through (exchange.ts), it goes to the chosen endpoint with its Upgrade and Connection
// headers restored (the request head drops them as hop-by-hop; Envoy forwards them for a configured upgrade). On
// 101 the upstream's head is relayed and bytes flow both ways until either side closes, as Envoy's upgraded
// streams do; any other answer is relayed as a normal response and the connection closed. A connection failure is
// Envoy's 503. A response is written with a ServerResponse bound to the upgraded socket (proxy.ts), so local
// replies and telemetry are those of every other request.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import { endToEndRaw } from './http-headers.ts';
import { sendText } from './local-replies.ts';
import { failureReply } from './upstream-request.ts';

/** Ends both sockets when either ends, errs or closes. */
function join(client: Duplex, upstream: Duplex): void {
  const closeBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', closeBoth);
  upstream.on('error', closeBoth);
  client.on('close', closeBoth);
  upstream.on('close', closeBoth);
  // A half-close (FIN) is passed on: pipe ends the other side when one ends.
  client.pipe(upstream);
  upstream.pipe(client);
}

export class WebSocketTunnel {
  /** Set once the upstream answered 101 (the exchange is then a tunnel until a socket closes). */
  isOpen = false;

  /** `client`: the upgraded downstream socket; `head`: bytes the client sent after the request head. */
  constructor(private readonly client: Duplex, private readonly head: Buffer, private readonly upgrade: string) {}

  /** Sends the upgrade request upstream; the outcome is written to `res` (bound to the client socket). */
  open(res: ServerResponse, cluster: RuntimeCluster, endpoint: Endpoint, method: string, path: string, headers: string[]): void {
    const { client } = this;
    const tls = cluster.tls;
    const request = tls === null ? httpRequest : httpsRequest;
    const outgoing = request({
      host: endpoint.address,
      port: endpoint.port,
      method,
      path,
      // A flat array keeps repeated headers as they are; the hop-by-hop pair of the upgrade goes back on.
      headers: [...headers, 'connection', 'Upgrade', 'upgrade', this.upgrade],
      agent: false,
      timeout: cluster.connectTimeoutMs,
      ...(tls === null ? {} : { rejectUnauthorized: tls.verify, ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(tls.sni === undefined ? {} : { servername: tls.sni }) }),
    });
    // Node's `timeout` is socket inactivity: the cluster's connect timeout bounds connecting and the wait for the
    // upstream's answer; once upgraded or answered there is none (Envoy's upgraded streams have no route timeout
    // either by default).
    outgoing.once('timeout', () => outgoing.destroy(Object.assign(new Error('connection timeout'), { code: 'ETIMEDOUT' })));
    outgoing.on('error', (error: Error & { code?: string }) => {
      if (this.isOpen || res.headersSent) {
        client.destroy();
        return;
      }
      const code = error.code ?? error.message;
      const reply = failureReply(code === 'ECONNRESET' ? { kind: 'reset', message: code } : { kind: 'connect', message: code });
      sendText(res, reply.status, reply.body, 'text/plain');
    });
    outgoing.on('upgrade', (response: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.isOpen = true;
      upstream.setTimeout(0);
      // The 101 with the upstream's own headers (Upgrade, Connection, Sec-WebSocket-Accept…): the head goes out
      // through the response, so telemetry sees a 101, then the bytes flow raw.
      res.writeHead(101, response.rawHeaders);
      res.flushHeaders();
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (this.head.length > 0) upstream.write(this.head);
      join(client, upstream);
    });
    // Not switching protocols: a normal response, after which the connection closes.
    outgoing.on('response', (response: IncomingMessage) => {
      outgoing.setTimeout(0);
      res.writeHead(response.statusCode ?? 502, endToEndRaw(response.rawHeaders));
      response.pipe(res);
    });
    outgoing.end();
  }
}
