// Answers the gateway writes itself: its own (404, 503, 500...) and the policies' local replies. Once the head
// is out, nothing else can be said: the connection is reset instead.
import type { ServerResponse } from 'node:http';
import { toRawHeaders } from './http-headers.ts';
import type { LocalReply } from './proxy-wasm/types.ts';
import type { DirectResponse } from './direct-response.ts';

export function sendText(res: ServerResponse, status: number, body: string, contentType: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendLocalReply(res: ServerResponse, reply: LocalReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = toRawHeaders(reply.headers.filter(([name]) => name !== 'content-length'));
  headers.push('content-length', String(reply.body.length));
  // Envoy's Utility::sendLocalReply: a body without a content type is text/plain.
  if (reply.body.length > 0 && !reply.headers.some(([name]) => name.toLowerCase() === 'content-type')) headers.push('content-type', 'text/plain');
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

/** A route's direct response (direct-response.ts): its status, headers and body. */
export function sendDirectResponse(res: ServerResponse, reply: DirectResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: string[] = [];
  for (const [name, value] of reply.headers) headers.push(name, value);
  headers.push('content-length', String(Buffer.byteLength(reply.body)));
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}
