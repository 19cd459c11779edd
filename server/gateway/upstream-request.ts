// One request to an upstream endpoint, with Envoy's connect timeout and the route timeout, and Envoy's answers
// when it fails: 503 when the connection fails or is reset before response headers, 504 on the route timeout.
// https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts
import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import type { UpstreamPools } from './upstream-pools.ts';

export type UpstreamFailure =
  | { kind: 'connect'; message: string }
  | { kind: 'reset'; message: string }
  | { kind: 'timeout' };

export interface UpstreamCall {
  cluster: RuntimeCluster;
  endpoint: Endpoint;
  method: string;
  path: string;
  /** Flat raw headers, Host included. */
  headers: string[];
  /** 0 = none. Covers the whole exchange until the response ends. */
  timeoutMs: number;
}

export interface UpstreamHandlers {
  onResponse(response: IncomingMessage): void;
  /** Called at most once, before or after the response started. `isReusedSocket`: the request went out on a
   *  pooled keep-alive connection (which the upstream may have closed just then). */
  onFailure(failure: UpstreamFailure, state: { isResponseStarted: boolean; isReusedSocket: boolean }): void;
}

/** Starts the request; the caller writes the body and ends it. `finish()` must be called when the response ended. */
export function startUpstreamRequest(call: UpstreamCall, pools: UpstreamPools, handlers: UpstreamHandlers): { request: ClientRequest; finish(): void } {
  const { cluster, endpoint } = call;
  const options = {
    agent: pools.agentFor(cluster),
    host: endpoint.address,
    port: endpoint.port,
    method: call.method,
    path: call.path,
    headers: call.headers,
    setHost: false,
    ...(cluster.tls?.sni === undefined ? {} : { servername: cluster.tls.sni }),
  };
  const request = cluster.tls === null ? httpRequest(options) : httpsRequest(options);
  let isResponseStarted = false;
  let isDone = false;
  let connectTimer: NodeJS.Timeout | undefined;
  let routeTimer: NodeJS.Timeout | undefined;
  const fail = (failure: UpstreamFailure): void => {
    if (isDone) return;
    isDone = true;
    clearTimeout(connectTimer);
    clearTimeout(routeTimer);
    request.destroy();
    handlers.onFailure(failure, { isResponseStarted, isReusedSocket: request.reusedSocket });
  };
  request.on('socket', (socket: Socket) => {
    // A pooled socket is connected already; a new one gets connect_timeout to connect.
    if (!socket.connecting) return;
    connectTimer = setTimeout(() => fail({ kind: 'connect', message: 'connection timeout' }), cluster.connectTimeoutMs);
    socket.once('connect', () => clearTimeout(connectTimer));
  });
  if (call.timeoutMs > 0) routeTimer = setTimeout(() => fail({ kind: 'timeout' }), call.timeoutMs);
  request.on('error', (error: NodeJS.ErrnoException) => {
    const connectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
    const code = error.code ?? '';
    fail(connectCodes.has(code) || error.message.includes('certificate')
      ? { kind: 'connect', message: code || error.message }
      : { kind: 'reset', message: code || error.message });
  });
  request.on('response', (response) => {
    isResponseStarted = true;
    clearTimeout(connectTimer);
    response.on('error', () => fail({ kind: 'reset', message: 'response aborted' }));
    response.on('aborted', () => fail({ kind: 'reset', message: 'response aborted' }));
    handlers.onResponse(response);
  });
  return {
    request,
    finish: () => {
      isDone = true;
      clearTimeout(connectTimer);
      clearTimeout(routeTimer);
    },
  };
}

/** Envoy's local reply bodies for upstream failures (response code details in the access log). */
export function failureReply(failure: UpstreamFailure): { status: number; body: string; details: string } {
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
