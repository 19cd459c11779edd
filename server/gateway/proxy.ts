// The request path of the embedded gateway: route match, filter chain (request), upstream, filter chain
// (response), back to the client. One configuration per request, taken at its start (ConfigHolder).
// Per-request work is kept to what the request needs: one Exchange object carries the request's state and is the
// upstream attempt's handler (no closures per phase); headers are read once from node's raw array and go to the
// upstream as a flat array (a HeaderMap only when filters run); the filter chain runs synchronously unless a
// filter pauses; metrics series are found per route; the access log record is built only when debug is on.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import type { ConfigHolder, LiveConfig } from './config-holder.ts';
import { streamRequestBody } from './body-streams.ts';
import { type BodyPhaseOutcome, FilterChainRun, type PhaseOutcome } from './filter-chain.ts';
import type { Decision, GatewayMetrics, RouteSeries } from './gateway-metrics.ts';
import { endToEndRaw, readRequestHead, setFlat, toRawHeaders } from './http-headers.ts';
import type { HeaderLookup } from './matchers.ts';
import { normalizeRequestPath } from './path-normalize.ts';
import { rewritePath } from './path-rewrite.ts';
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HeaderList, LocalReply, RequestInfo } from './proxy-wasm/types.ts';
import type { RouteAction, RouteMatch, RouteRequest } from './route-table.ts';
import type { RuntimeConfig } from './runtime-config.ts';
import { failureReply, UpstreamAttempt, type UpstreamCall, type UpstreamFailure, type UpstreamHandlers } from './upstream-request.ts';
import type { UpstreamPools } from './upstream-pools.ts';
import { pickWeighted, type RandomSource } from './weighted-choice.ts';

export interface ProxyDependencies {
  holder: ConfigHolder;
  pools: UpstreamPools;
  metrics: GatewayMetrics;
  logger: Logger;
  random: RandomSource;
}

const notFoundBody = JSON.stringify({ error: 'Not Found' });
const EMPTY = new Uint8Array(0);

type ForwardAction = Extract<RouteAction, { kind: 'forward' }>;

function sendText(res: ServerResponse, status: number, body: string, contentType: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendLocalReply(res: ServerResponse, reply: LocalReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = toRawHeaders(reply.headers.filter(([name]) => name !== 'content-length'));
  headers.push('content-length', String(reply.body.length));
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

function firstValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

function responseHasNoBody(method: string, status: number, headers: readonly string[]): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || firstValue(headers, 'content-length') === '0';
}

/** What the filters read beyond headers; computed only when a module asks (most never read the addresses). */
class LazyRequestInfo implements RequestInfo {
  private time: bigint | undefined;

  constructor(private readonly req: IncomingMessage, readonly routeName: string, readonly clusterName: string) {}

  get sourceAddress(): string {
    return `${this.req.socket.remoteAddress ?? ''}:${this.req.socket.remotePort ?? 0}`;
  }

  get destinationAddress(): string {
    return `${this.req.socket.localAddress ?? ''}:${this.req.socket.localPort ?? 0}`;
  }

  get protocol(): string {
    return `HTTP/${this.req.httpVersion}`;
  }

  /** request.time: one value for every filter of the request (Envoy's stream start time). */
  get timeNanos(): bigint {
    return (this.time ??= BigInt(Date.now()) * 1_000_000n);
  }
}

/** Route matching reads headers through one reused request object (matching is synchronous): no closure or
 *  object per request. Header matchers on ordinary headers read node's `req.headers` (repeated values joined). */
const matching: { req: IncomingMessage | null; method: string; path: string; authority: string } = { req: null, method: '', path: '', authority: '' };
const matchHeader: HeaderLookup = (name) => {
  if (name === ':method') return matching.method;
  if (name === ':path') return matching.path;
  if (name === ':authority') return matching.authority;
  if (name === ':scheme') return 'http';
  const value = matching.req?.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};
const routeRequest: RouteRequest = { authority: '', path: '', header: matchHeader };

function matchRoute(config: RuntimeConfig, req: IncomingMessage, method: string, path: string, authority: string): RouteMatch | null {
  matching.req = req;
  matching.method = method;
  matching.path = path;
  matching.authority = authority;
  routeRequest.authority = authority;
  routeRequest.path = path;
  try {
    return config.routes.match(routeRequest);
  } finally {
    matching.req = null;
  }
}

interface ProxyContext extends ProxyDependencies {
  readonly noRoute: RouteSeries;
}

/** One request from start to `close`: its facts for metrics and the access log, and the upstream handler. */
class Exchange implements UpstreamHandlers {
  private readonly started = performance.now();
  private routeSeries: RouteSeries;
  private routeName = '';
  private decision: Decision = 'gateway';
  private cluster: RuntimeCluster | null = null;
  private endpoint: Endpoint | null = null;
  private chain: FilterChainRun | null = null;
  private method = 'GET';
  private requestEnded = false;
  private call: UpstreamCall | null = null;
  private attempt: UpstreamAttempt | null = null;
  private isRetried = false;
  /** Response body callbacks run (false when the response headers ended the stream). */
  private hasResponseBodyPhase = true;
  /** The last upstream chunk, held until the next one or the end (so that a body that arrives with its end goes
   *  through the body phase once, with end_of_stream, as Envoy's HTTP/1 codec delivers it) or the next microtask. */
  private pendingChunk: Buffer | null = null;
  /** Body bytes still to come by the response's content-length; -1 when it has none (chunked). */
  private bodyRemaining = -1;
  private isFlushScheduled = false;
  private isWaitingForDrain = false;
  /** A local reply or reset replaced the upstream response. */
  private isResponseReplaced = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly live: LiveConfig | null,
  ) {
    this.routeSeries = ctx.noRoute;
  }

  run(): void {
    const { req, res } = this;
    const config = this.live?.config ?? null;
    const method = req.method ?? 'GET';
    this.method = method;
    const url = req.url ?? '/';
    const path = config === null ? url : normalizeRequestPath(url, config.pathNormalization);
    if (path === null) {
      sendText(res, 400, 'Bad Request', 'text/plain');
      return;
    }
    const head = readRequestHead(req.rawHeaders);
    const authority = head.host ?? '';
    const match = config === null ? null : matchRoute(config, req, method, path, authority);
    if (config === null || match === null) {
      sendText(res, 404, notFoundBody, 'application/json');
      return;
    }
    const { route } = match;
    this.routeName = route.name;
    this.routeSeries = this.ctx.metrics.forRoute(route.name);
    if (route.action.kind === 'direct') {
      sendText(res, route.action.status, route.action.body, 'text/plain');
      return;
    }
    const action = route.action;
    const clusterName = pickWeighted(action.clusters, action.totalWeight, this.ctx.random)?.name ?? '';
    const cluster = config.clusters.get(clusterName);

    // What Envoy's connection manager adds before any filter runs (use_remote_address: this is the edge).
    // https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers
    const headers = head.headers;
    const remote = req.socket.remoteAddress ?? '';
    setFlat(headers, 'x-forwarded-for', head.forwardedFor === undefined ? remote : `${head.forwardedFor}, ${remote}`);
    setFlat(headers, 'x-forwarded-proto', 'http');
    if (!head.hasRequestId) headers.push('x-request-id', randomUUID());
    this.requestEnded = head.hasNoBody;

    if (config.filters.length === 0) {
      this.forwardChecked(action, match, cluster, method, path, authority, headers);
      return;
    }
    const chain = new FilterChainRun(config.filters, new LazyRequestInfo(req, route.name, clusterName));
    this.chain = chain;
    const map = new HeaderMap();
    map.add(':method', method);
    map.add(':path', path);
    map.add(':authority', authority);
    map.add(':scheme', 'http');
    for (let i = 0; i < headers.length; i += 2) map.add(headers[i] ?? '', headers[i + 1] ?? '');
    const outcome = chain.requestHeaders(map, this.requestEnded);
    if (outcome instanceof Promise) {
      outcome.then((settled) => this.afterRequestFilters(settled, map, action, match, cluster))
        .catch((error: unknown) => this.internalError(error, 'gateway request failed'));
    } else {
      this.afterRequestFilters(outcome, map, action, match, cluster);
    }
  }

  private afterRequestFilters(outcome: PhaseOutcome, map: HeaderMap, action: ForwardAction, match: RouteMatch, cluster: RuntimeCluster | undefined): void {
    if (outcome.action === 'localReply') {
      this.decision = 'local_reply';
      this.req.resume();
      sendLocalReply(this.res, outcome);
      return;
    }
    const list: HeaderList = map.toList();
    let method = this.method;
    let path = '/';
    let authority = '';
    const headers: string[] = [];
    for (const [name, value] of list) {
      if (name.charCodeAt(0) === 58 /* ':' */) {
        if (name === ':path') path = value;
        else if (name === ':method') method = value;
        else if (name === ':authority') authority = value;
        continue;
      }
      headers.push(name, value);
    }
    this.forwardChecked(action, match, cluster, method, path, authority, headers);
  }

  private forwardChecked(
    action: ForwardAction, match: RouteMatch, cluster: RuntimeCluster | undefined,
    method: string, path: string, authority: string, headers: string[],
  ): void {
    const { res } = this;
    if (res.destroyed) return;
    if (cluster === undefined) {
      // cluster_not_found_response_code defaults to 503.
      sendText(res, 503, '', 'text/plain');
      return;
    }
    const endpoint = cluster.pick();
    if (endpoint === undefined) {
      sendText(res, 503, 'no healthy upstream', 'text/plain');
      return;
    }
    this.cluster = cluster;
    this.endpoint = endpoint;
    let upstreamPath = path;
    let host = authority;
    if (action.rewrite !== null) upstreamPath = rewritePath(path, action.rewrite, match.matchedPrefixLength);
    if (action.hostRewrite?.kind === 'literal') host = action.hostRewrite.value;
    // Envoy puts the endpoint's hostname in Host verbatim (the translator writes `name:port` when the port is
    // not the scheme's default).
    else if (action.hostRewrite?.kind === 'auto' && endpoint.hostname !== undefined) host = endpoint.hostname;
    headers.push('host', host);
    this.method = method;
    const { req, chain } = this;
    let body: PassThrough | null = null;
    if (!this.requestEnded) {
      body = new PassThrough();
      if (chain === null) {
        req.pipe(body);
      } else {
        streamRequestBody(req, chain, body, (reply) => {
          this.decision = 'local_reply';
          this.attempt?.abort();
          sendLocalReply(res, reply);
        });
      }
    }
    this.call = {
      pool: this.ctx.pools.poolFor(cluster, endpoint), method, path: upstreamPath, headers, body, timeoutMs: action.timeoutMs,
    };
    const attempt = new UpstreamAttempt(this.call, this);
    this.attempt = attempt;
    attempt.start(false);
    if (this.requestEnded) req.resume();
  }

  // The upstream attempt's callbacks.

  onUpstreamResponse(status: number, rawHeaders: string[]): boolean {
    try {
      return this.startResponse(status, rawHeaders);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
      return true;
    }
  }

  private startResponse(status: number, rawHeaders: string[]): boolean {
    const headers = endToEndRaw(rawHeaders);
    const contentLength = firstValue(headers, 'content-length');
    this.bodyRemaining = contentLength === undefined ? -1 : Number(contentLength);
    const { chain, res } = this;
    if (chain === null) {
      this.decision = 'forwarded';
      res.writeHead(status, headers);
      return true;
    }
    const map = new HeaderMap();
    map.add(':status', String(status));
    for (let i = 0; i < headers.length; i += 2) map.add(headers[i] ?? '', headers[i + 1] ?? '');
    const endOfStream = responseHasNoBody(this.method, status, headers);
    this.hasResponseBodyPhase = !endOfStream;
    const outcome = chain.responseHeaders(map, endOfStream);
    if (outcome instanceof Promise) {
      // The body waits (undici pauses this response) until the filters have answered.
      outcome.then((settled) => {
        this.afterResponseFilters(settled, map, status);
        this.attempt?.resume();
      }).catch((error: unknown) => this.internalError(error, 'response filters failed'));
      return false;
    }
    this.afterResponseFilters(outcome, map, status);
    return true;
  }

  private afterResponseFilters(outcome: PhaseOutcome, map: HeaderMap, status: number): void {
    if (outcome.action === 'localReply') {
      this.decision = 'local_reply';
      this.replaceResponse();
      sendLocalReply(this.res, outcome);
      return;
    }
    this.decision = 'forwarded';
    this.res.writeHead(Number(map.get(':status') ?? status), toRawHeaders(map.toList()));
  }

  /** Stops the upstream response: what the client gets instead is decided by the caller. */
  private replaceResponse(): void {
    this.isResponseReplaced = true;
    this.pendingChunk = null;
    this.attempt?.abort();
  }

  onUpstreamData(chunk: Buffer): boolean {
    try {
      return this.takeChunk(chunk);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
      return true;
    }
  }

  private takeChunk(chunk: Buffer): boolean {
    if (this.isResponseReplaced) return true;
    const previous = this.pendingChunk;
    if (previous !== null) {
      this.pendingChunk = null;
      this.passChunk(previous, false);
    }
    if (this.bodyRemaining >= 0) {
      this.bodyRemaining -= chunk.length;
      // The last bytes by content-length: undici reports the end in the same parse, right after this chunk.
      if (this.bodyRemaining <= 0) this.pendingChunk = chunk;
      else this.passChunk(chunk, false);
    } else {
      this.pendingChunk = chunk;
      if (!this.isFlushScheduled) {
        this.isFlushScheduled = true;
        queueMicrotask(() => this.flushPending());
      }
    }
    const { res } = this;
    if (!res.writableNeedDrain || this.isResponseReplaced) return true;
    if (!this.isWaitingForDrain) {
      this.isWaitingForDrain = true;
      res.once('drain', () => {
        this.isWaitingForDrain = false;
        this.attempt?.resume();
      });
    }
    return false;
  }

  private flushPending(): void {
    this.isFlushScheduled = false;
    const pending = this.pendingChunk;
    if (pending === null || this.isResponseReplaced) return;
    this.pendingChunk = null;
    try {
      this.passChunk(pending, false);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }

  /** One chunk through the response body phase (reverse chain order) to the client. */
  private passChunk(chunk: Uint8Array, end: boolean): void {
    const { res, chain } = this;
    if (chain === null || !this.hasResponseBodyPhase) {
      if (end) res.end(chunk);
      else res.write(chunk);
      return;
    }
    const outcome: BodyPhaseOutcome = chain.responseBody(chunk, end);
    if (outcome.action === 'localReply') {
      // Headers are already out: a local reply this late can only reset the stream, as in Envoy.
      this.replaceResponse();
      res.destroy();
      return;
    }
    const data = outcome.data !== null && outcome.data.length > 0 ? outcome.data : null;
    if (end) res.end(data ?? undefined);
    else if (data !== null) res.write(data);
  }

  onUpstreamEnd(): void {
    if (this.isResponseReplaced) return;
    const pending = this.pendingChunk;
    this.pendingChunk = null;
    try {
      if (pending !== null) this.passChunk(pending, true);
      else if (this.chain === null || !this.hasResponseBodyPhase) this.res.end();
      else this.passChunk(EMPTY, true);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }

  onUpstreamFailure(failure: UpstreamFailure, state: { isResponseStarted: boolean; isReusedSocket: boolean }): void {
    const { res } = this;
    if (failure.kind === 'invalid') {
      this.internalError(failure.error, 'gateway request failed');
      return;
    }
    if (state.isResponseStarted || res.headersSent) {
      res.destroy();
      return;
    }
    // A pooled connection the upstream closed just as we reused it: one retry, on a fresh connection, for a
    // request without a body (nothing consumed), as Node's documentation advises (http.ClientRequest
    // `reusedSocket`).
    const call = this.call;
    if (failure.kind === 'reset' && state.isReusedSocket && this.requestEnded && !this.isRetried && !res.destroyed && call !== null) {
      this.isRetried = true;
      const attempt = new UpstreamAttempt(call, this);
      this.attempt = attempt;
      attempt.start(true);
      return;
    }
    const reply = failureReply(failure);
    sendText(res, reply.status, reply.body, 'text/plain');
  }

  internalError(error: unknown, message: string): void {
    this.ctx.logger.error({ err: error, route: this.routeName }, message);
    this.replaceResponse();
    sendText(this.res, 500, 'internal error', 'text/plain');
  }

  /** The response is over (sent, or the connection went away). */
  onClose(): void {
    const { res, ctx } = this;
    if (!res.writableFinished) this.attempt?.abort();
    this.chain?.done();
    if (this.live !== null) ctx.holder.release(this.live);
    const seconds = (performance.now() - this.started) / 1000;
    const status = res.headersSent ? res.statusCode : 0;
    ctx.metrics.observe(this.routeSeries, status, this.decision, seconds);
    if (ctx.logger.isLevelEnabled('debug')) {
      const url = this.req.url ?? '/';
      const queryAt = url.indexOf('?');
      const { cluster, endpoint } = this;
      // The query is left out: it may carry an API key.
      ctx.logger.debug({
        method: this.req.method, path: queryAt < 0 ? url : url.slice(0, queryAt), route: this.routeName,
        status, durationMs: seconds * 1000,
        upstream: cluster === null || endpoint === null ? '' : `${cluster.name}/${endpoint.address}:${endpoint.port}`,
        decision: this.decision,
      }, 'request');
    }
  }
}

export function createProxyHandler(deps: ProxyDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  const ctx: ProxyContext = { ...deps, noRoute: deps.metrics.forRoute('') };
  return (req, res) => {
    const exchange = new Exchange(ctx, req, res, ctx.holder.acquire());
    res.on('close', () => exchange.onClose());
    try {
      exchange.run();
    } catch (error: unknown) {
      exchange.internalError(error, 'gateway request failed');
    }
  };
}
