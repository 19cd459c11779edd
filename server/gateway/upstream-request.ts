// One request to an upstream endpoint, with Envoy's connect timeout (the pool's connector) and the route timeout,
// and Envoy's answers when it fails: 503 when the connection fails or is reset before response headers, 504 on
// the route timeout. https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts
// An attempt is undici's dispatch handler itself (one object per attempt, no closures): response headers arrive as
// raw buffers and become the flat string array node:http's writeHead takes.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EndpointPool, PooledConnection } from './upstream-pools.ts';

export type UpstreamFailure =
  | { kind: 'connect'; message: string }
  | { kind: 'reset'; message: string }
  | { kind: 'timeout' }
  /** The request could not be sent as built (an invalid header or path): the gateway's own 500. */
  | { kind: 'invalid'; error: Error };

export interface UpstreamCall {
  pool: EndpointPool;
  method: string;
  path: string;
  /** Flat raw headers, Host included. */
  headers: string[];
  /** null: no body; a Buffer: a retry's copy of it. */
  body: Readable | Buffer | null;
  /** 0 = none. Covers the whole exchange until the response ends. */
  timeoutMs: number;
}

export interface UpstreamHandlers {
  /** Final response headers (`headers` flat, names as the upstream sent them); false pauses the body until
   *  `resume()`. */
  onUpstreamResponse(status: number, headers: string[]): boolean;
  /** A body chunk; false asks for a pause until `resume()`. */
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamEnd(): void;
  /** Called at most once, before or after the response started. `isReusedSocket`: the request went out on a
   *  pooled keep-alive connection (which the upstream may have closed just then). */
  onUpstreamFailure(failure: UpstreamFailure, state: { isResponseStarted: boolean; isReusedSocket: boolean }): void;
}

const connectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

function classify(error: Error & { code?: unknown }): UpstreamFailure {
  const code = typeof error.code === 'string' ? error.code : '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'connect', message: 'connection timeout' };
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') return { kind: 'invalid', error };
  return connectCodes.has(code) || error.message.includes('certificate')
    ? { kind: 'connect', message: code || error.message }
    : { kind: 'reset', message: code || error.message };
}

function onRouteTimeout(attempt: UpstreamAttempt): void {
  attempt.fail({ kind: 'timeout' });
}

/** One attempt; start() dispatches it. `abort()` when the client went away. */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  private connection: PooledConnection | null = null;
  private isReusedSocket = false;
  private isResponseStarted = false;
  private isDone = false;
  private abortRequest: ((error?: Error) => void) | null = null;
  private resumeResponse: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly call: UpstreamCall, private readonly handlers: UpstreamHandlers) {}

  start(fresh: boolean): void {
    const { call } = this;
    const { connection, isReused } = call.pool.acquire(fresh);
    this.connection = connection;
    this.isReusedSocket = isReused;
    if (call.timeoutMs > 0) this.timer = setTimeout(onRouteTimeout, call.timeoutMs, this);
    // `servername` is read by undici's Request but not in its DispatchOptions type: a constant one keeps undici
    // from deriving one from each request's Host (and, over TLS, from reconnecting when it changes).
    const options: Dispatcher.DispatchOptions & { servername: string } = {
      path: call.path, method: call.method, headers: call.headers, body: call.body, servername: call.pool.servername,
    };
    connection.client.dispatch(options, this);
  }

  /** Resumes a response paused by onUpstreamData returning false. */
  resume(): void {
    this.resumeResponse?.();
  }

  /** The client went away: stop the exchange without answering. */
  abort(): void {
    if (this.isDone) return;
    this.finish();
    this.abortRequest?.();
  }

  /** Ends the attempt with a failure (once). */
  fail(failure: UpstreamFailure): void {
    if (this.isDone) return;
    this.finish();
    this.abortRequest?.();
    this.handlers.onUpstreamFailure(failure, { isResponseStarted: this.isResponseStarted, isReusedSocket: this.isReusedSocket });
  }

  private finish(): void {
    this.isDone = true;
    clearTimeout(this.timer);
  }

  /** undici is done with the request (its last callback): the connection goes back to the pool. */
  private release(completed: boolean): void {
    const connection = this.connection;
    this.connection = null;
    if (connection !== null) this.call.pool.release(connection, completed);
  }

  // undici's dispatch handler (its core interface: no adapter in between).

  onConnect(abort: (error?: Error) => void): void {
    this.abortRequest = abort;
    // Timed out or abandoned while waiting for a connection.
    if (this.isDone) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational responses are not forwarded (as node:http's client did).
    if (statusCode < 200 || this.isDone) return true;
    this.isResponseStarted = true;
    this.resumeResponse = resume;
    const headers = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i++) headers[i] = (rawHeaders[i] as Buffer).toString('latin1');
    return this.handlers.onUpstreamResponse(statusCode, headers);
  }

  onData(chunk: Buffer): boolean {
    if (this.isDone) return true;
    return this.handlers.onUpstreamData(chunk);
  }

  onComplete(): void {
    this.release(true);
    if (this.isDone) return;
    this.finish();
    this.handlers.onUpstreamEnd();
  }

  onError(error: Error): void {
    this.release(false);
    if (this.isDone) return;
    this.fail(this.isResponseStarted ? { kind: 'reset', message: 'response aborted' } : classify(error));
  }
}

/** Envoy's local reply bodies for upstream failures (response code details in the access log). */
export function failureReply(failure: Exclude<UpstreamFailure, { kind: 'invalid' }>): { status: number; body: string; details: string } {
  switch (failure.kind) {
    case 'timeout': return { status: 504, body: 'upstream request timeout', details: 'upstream_response_timeout' };
    case 'connect': return {
      status: 503,
      body: `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${failure.message}`,
      details: 'upstream_reset_before_response_started{connection_failure}',
    };
    case 'reset': return {
      status: 503,
      body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
      details: 'upstream_reset_before_response_started{connection_termination}',
    };
  }
}
