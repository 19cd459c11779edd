import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthOutcome } from './authenticator.ts';

/** The most an unauthenticated client may make us read (and throw away) before its 401 or 429. */
export const anonymousBodyLimit = 16 * 1024;

/** The peer's address, the key for per-client login throttling (forwarded headers are not trusted). */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/**
 * Reads and discards a body of at most `anonymousBodyLimit` declared bytes, so the connection can be kept alive.
 * False when the body is larger or chunked: then it is not read at all and the connection is closed.
 */
async function discardSmallBody(req: IncomingMessage): Promise<boolean> {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return true;
  const declared = Number(length);
  if (req.headers['transfer-encoding'] !== undefined || !Number.isInteger(declared) || declared > anonymousBodyLimit) return false;
  for await (const chunk of req) void chunk;
  return true;
}

/**
 * Answers a request whose body will not be used (before authentication, or an unsupported media type): a small
 * body is drained so the connection lives on; a large or chunked one is never read, and `Connection: close` makes
 * Node drop the socket instead of draining it.
 */
export async function answerUnread(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, text: string): Promise<void> {
  const drained = await discardSmallBody(req);
  // Node reads and throws away an unread body after the answer (about 1 ms of event loop per MiB): drop the
  // connection as soon as the answer is out instead. A client still sending may then see a reset, as with any
  // server that stops reading.
  if (!drained) res.once('finish', () => req.socket.destroy());
  res.writeHead(status, drained ? headers : { ...headers, connection: 'close' }).end(text);
}

export interface RefusalBody {
  contentType: string;
  /** The transport's error body for this refusal. */
  text(message: string, code: 'UNAUTHENTICATED' | 'TOO_MANY_REQUESTS'): string;
}

/** Answers 401 (no usable credentials) or 429 (too many failed logins), never parsing the body. */
export async function refuseRequest(
  req: IncomingMessage,
  res: ServerResponse,
  outcome: Exclude<AuthOutcome, { kind: 'authenticated' }>,
  body: RefusalBody,
  headers: Record<string, string> = {},
): Promise<void> {
  if (outcome.kind === 'throttled') {
    const message = `Too many failed logins: retry in ${outcome.retryAfterSeconds} seconds`;
    const retry = { 'content-type': body.contentType, 'retry-after': String(outcome.retryAfterSeconds), ...headers };
    await answerUnread(req, res, 429, retry, body.text(message, 'TOO_MANY_REQUESTS'));
    return;
  }
  const challenge = { 'content-type': body.contentType, 'www-authenticate': 'Basic realm="apip", charset="UTF-8"', ...headers };
  await answerUnread(req, res, 401, challenge, body.text('Authentication required', 'UNAUTHENTICATED'));
}
