// The request path of the embedded gateway: route match, filter chain (request), upstream, filter chain
// (response), back to the client. One configuration per request, taken at its start (ConfigHolder).
// Per-request work is kept to what the request needs: one Exchange object carries the request's state and is the
// upstream attempt's handler (no closures per phase); headers are read once from node's raw array and go to the
// upstream as a flat array (a HeaderMap only when filters run); requests go upstream and responses go out in
// batches at the end of the event-loop turn, through the filter chain filter by filter when there is one
// (filter-chain.ts; a response's body and end are held meanwhile), with no promise unless a filter pauses; metrics series are found per route; the
// access log record and the onRequestComplete record are built only when wanted.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import type { ConfigHolder, LiveConfig } from './config-holder.ts';
import { streamRequestBody } from './body-streams.ts';
import { FilterChainRun, type PhaseOutcome, type RequestHeadersListener, type ResponseHeadersListener } from './filter-chain.ts';
import type { Decision, GatewayMetrics, RouteSeries } from './gateway-metrics.ts';
import { endToEndRaw, readRequestHead, setFlat, toRawHeaders } from './http-headers.ts';
import type { HeaderLookup } from './matchers.ts';
import { normalizeRequestPath } from './path-normalize.ts';
import { rewritePath } from './path-rewrite.ts';
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { LocalReply, RequestInfo } from './proxy-wasm/types.ts';
import type { RouteAction, RouteMatch, RouteRequest } from './route-table.ts';
import type { RuntimeConfig } from './runtime-config.ts';
import { failureReply, UpstreamAttempt, type UpstreamCall, type UpstreamFailure, type UpstreamHandlers } from './upstream-request.ts';
import type { UpstreamPools } from './upstream-pools.ts';
import { pickWeighted, type RandomSource } from './weighted-choice.ts';

/** One finished request, for analytics (GatewayOptions.onRequestComplete). */
export interface GatewayRequestRecord {
  /** When the request arrived, epoch milliseconds. */
  startedAt: number;
  /** The API handle: the route name before its first '/'; null without a route. */
  api: string | null;
  route: string | null;
  method: string;
  /** The status sent to the client (0 when the connection closed before any response). */
  status: number;
  durationMs: number;
  /** From the x-apip-* request headers as they are after the request filter chain (null when absent, or when
   *  the request never reached the chain: no route, a direct response, a malformed path). */
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
  /** Response code details of a policy's local reply (`apip_jwt_invalid`, ...); null when the request was not refused by one. */
  details: string | null;
}

export interface ProxyDependencies {
  holder: ConfigHolder;
  pools: UpstreamPools;
  metrics: GatewayMetrics;
  logger: Logger;
  random: RandomSource;
  onRequestComplete?: ((record: GatewayRequestRecord) => void) | undefined;
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

/** Every value of `name` in a flat array, joined with "," as HeaderMap#get does; null when absent. */
function joinedValue(flat: readonly string[], name: string): string | null {
  let found: string | null = null;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === name) found = found === null ? flat[i + 1] ?? '' : `${found},${flat[i + 1] ?? ''}`;
  }
  return found;
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

/** Response bytes held while the response headers phase is pending before undici is asked to pause. */
const HOLD_LIMIT = 64 * 1024;

/** One request from start to `close`: its facts for metrics and the access log, and the upstream handler. */
class Exchange implements UpstreamHandlers, RequestHeadersListener, ResponseHeadersListener {
  private readonly started = performance.now();
  private routeSeries: RouteSeries;
  private routeName = '';
  /** A route matched (a route may be unnamed). */
  private isRouted = false;
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
  /** Identity after the request filter chain, kept only for onRequestComplete. */
  private applicationId: string | null = null;
  private subscriptionId: string | null = null;
  private plan: string | null = null;
  /** The details of a request-phase local reply, kept only for onRequestComplete. */
  private details: string | null = null;
  // What forwarding needs once the request filters are through (requestHeadersBatched answers later).
  private requestMap: HeaderMap | null = null;
  private forwardAction: ForwardAction | null = null;
  private routeMatch: RouteMatch | null = null;
  private routeCluster: RuntimeCluster | undefined = undefined;
  // A request without filters waiting for forwardLater's end of turn.
  private forwardMethod = '';
  private forwardPath = '';
  private forwardAuthority = '';
  private forwardHeaders: string[] | null = null;
  /** A response without filters waiting for releaseLater's end of turn: its head. */
  private plainHeaders: string[] | null = null;
  // The response while its headers phase is pending (responseHeadersBatched): body chunks and the end that undici
  // delivered meanwhile are held, then replayed in order.
  private responseMap: HeaderMap | null = null;
  private responseStatus = 0;
  private heldChunks: Buffer[] | null = null;
  private heldBytes = 0;
  private isEndHeld = false;
  private isHeldPaused = false;

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
    this.isRouted = true;
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
      if (this.ctx.onRequestComplete !== undefined) {
        this.applicationId = joinedValue(headers, 'x-apip-application-id');
        this.subscriptionId = joinedValue(headers, 'x-apip-subscription-id');
        this.plan = joinedValue(headers, 'x-apip-plan');
      }
      // Forwarded at the end of the event-loop turn with the other requests of the turn (see forwardLater).
      this.forwardAction = action;
      this.routeMatch = match;
      this.routeCluster = cluster;
      this.forwardMethod = method;
      this.forwardPath = path;
      this.forwardAuthority = authority;
      this.forwardHeaders = headers;
      forwardLater(this);
      return;
    }
    const chain = new FilterChainRun(config.filters, new LazyRequestInfo(req, route.name, clusterName));
    this.chain = chain;
    const map = new HeaderMap();
    map.add(':method', method);
    map.add(':path', path);
    map.add(':authority', authority);
    map.add(':scheme', 'http');
    // readRequestHead lowercased the names.
    map.appendLowercaseFlat(headers);
    this.requestMap = map;
    this.forwardAction = action;
    this.routeMatch = match;
    this.routeCluster = cluster;
    chain.requestHeadersBatched(map, this.requestEnded, this);
  }

  /** forwardLater's end of turn: the request without filters goes upstream. */
  forwardNow(): void {
    const headers = this.forwardHeaders;
    this.forwardHeaders = null;
    if (headers === null || this.res.destroyed) return;
    try {
      this.forwardChecked(this.forwardAction as ForwardAction, this.routeMatch as RouteMatch, this.routeCluster, this.forwardMethod, this.forwardPath, this.forwardAuthority, headers);
    } catch (error: unknown) {
      this.internalError(error, 'gateway request failed');
    }
  }

  /** releaseLater's end of turn: the response without filters goes out, head and what was held. */
  releasePlain(): void {
    const held = this.heldChunks ?? [];
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.res.writeHead(this.responseStatus, this.plainHeaders ?? []);
    this.plainHeaders = null;
    for (const chunk of held) this.takeChunk(chunk);
    if (this.isEndHeld) this.onUpstreamEnd();
    else if (this.isHeldPaused && !this.isWaitingForDrain) this.attempt?.resume();
  }

  /** The request filters' outcome (RequestHeadersListener). */
  afterRequestHeaders(outcome: PhaseOutcome | Promise<PhaseOutcome>): void {
    const map = this.requestMap as HeaderMap;
    const action = this.forwardAction as ForwardAction;
    const match = this.routeMatch as RouteMatch;
    const cluster = this.routeCluster;
    this.requestMap = null;
    if (outcome instanceof Promise) {
      outcome.then((settled) => this.afterRequestFilters(settled, map, action, match, cluster))
        .catch((error: unknown) => this.internalError(error, 'gateway request failed'));
      return;
    }
    try {
      this.afterRequestFilters(outcome, map, action, match, cluster);
    } catch (error: unknown) {
      this.internalError(error, 'gateway request failed');
    }
  }

  private afterRequestFilters(outcome: PhaseOutcome, map: HeaderMap, action: ForwardAction, match: RouteMatch, cluster: RuntimeCluster | undefined): void {
    if (this.ctx.onRequestComplete !== undefined) {
      const applicationId = map.get('x-apip-application-id');
      const subscriptionId = map.get('x-apip-subscription-id');
      const plan = map.get('x-apip-plan');
      this.applicationId = applicationId ?? null;
      this.subscriptionId = subscriptionId ?? null;
      this.plan = plan ?? null;
    }
    if (outcome.action === 'localReply') {
      this.decision = 'local_reply';
      this.details = outcome.details;
      this.req.resume();
      sendLocalReply(this.res, outcome);
      return;
    }
    let method = this.method;
    let path = '/';
    let authority = '';
    const headers: string[] = [];
    const size = map.size;
    for (let i = 0; i < size; i++) {
      const name = map.nameAt(i);
      const value = map.valueAt(i);
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
          if (reply instanceof Promise) {
            reply.then((encoded) => sendLocalReply(res, encoded)).catch((error: unknown) => this.internalError(error, 'request filters failed'));
          } else {
            sendLocalReply(res, reply);
          }
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
    const { chain } = this;
    if (chain === null) {
      // Written at the end of the event-loop turn with the other responses of the turn (see releaseLater).
      this.decision = 'forwarded';
      this.plainHeaders = headers;
      this.responseStatus = status;
      this.heldChunks = [];
      releaseLater(this);
      return true;
    }
    const map = new HeaderMap();
    map.add(':status', String(status));
    // endToEndRaw lowercased the names.
    map.appendLowercaseFlat(headers);
    const endOfStream = responseHasNoBody(this.method, status, headers);
    this.hasResponseBodyPhase = !endOfStream;
    this.responseMap = map;
    this.responseStatus = status;
    this.heldChunks = [];
    chain.responseHeadersBatched(map, endOfStream, this);
    return true;
  }

  /** ResponseHeadersListener: the body when one chunk and the end arrived with the headers (a body phase then
   *  runs in the batch, once, with end_of_stream, as when it is passed on below). */
  completeBody(): Uint8Array | null {
    const held = this.heldChunks;
    if (held === null || !this.isEndHeld || held.length !== 1 || !this.hasResponseBodyPhase || this.isResponseReplaced) return null;
    return held[0] ?? null;
  }

  /** The response filters' outcome (ResponseHeadersListener): the head goes out, then the body the batch ran
   *  through the filters, or what was held. */
  afterResponseHeaders(outcome: PhaseOutcome | Promise<PhaseOutcome>, body: Uint8Array | false | null): void {
    const map = this.responseMap as HeaderMap;
    const status = this.responseStatus;
    this.responseMap = null;
    if (outcome instanceof Promise) {
      outcome.then((settled) => this.releaseHeld(settled, map, status))
        .catch((error: unknown) => this.internalError(error, 'response filters failed'));
      return;
    }
    try {
      if (body === null) this.releaseHeld(outcome, map, status);
      else this.sendFiltered(outcome, map, status, body);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }

  /** The head, then the whole body as the batch's body callbacks left it (a local reply there resets). */
  private sendFiltered(outcome: PhaseOutcome, map: HeaderMap, status: number, body: Uint8Array | false): void {
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.afterResponseFilters(outcome, map, status);
    if (this.isResponseReplaced) return;
    if (body === false) {
      this.replaceResponse();
      this.res.destroy();
      return;
    }
    this.res.end(body.length > 0 ? body : undefined);
  }

  private releaseHeld(outcome: PhaseOutcome, map: HeaderMap, status: number): void {
    const held = this.heldChunks ?? [];
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.afterResponseFilters(outcome, map, status);
    if (this.isResponseReplaced) return;
    for (const chunk of held) this.takeChunk(chunk);
    if (this.isEndHeld) this.onUpstreamEnd();
    else if (this.isHeldPaused && !this.isWaitingForDrain) this.attempt?.resume();
  }

  private afterResponseFilters(outcome: PhaseOutcome, map: HeaderMap, status: number): void {
    if (outcome.action === 'localReply') {
      this.decision = 'local_reply';
      this.details = outcome.details;
      this.replaceResponse();
      sendLocalReply(this.res, outcome);
      return;
    }
    this.decision = 'forwarded';
    this.res.writeHead(Number(map.get(':status') ?? status), map.toFlatWithoutPseudo());
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
    const held = this.heldChunks;
    if (held !== null) {
      held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < HOLD_LIMIT) return true;
      // Enough held: undici pauses this response until releaseHeld resumes it.
      this.isHeldPaused = true;
      return false;
    }
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
    const outcome = chain.responseBody(chunk, end);
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
    if (this.heldChunks !== null) {
      this.isEndHeld = true;
      return;
    }
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
    const onRequestComplete = ctx.onRequestComplete;
    if (onRequestComplete !== undefined) this.report(onRequestComplete, status, seconds * 1000);
  }

  private report(onRequestComplete: (record: GatewayRequestRecord) => void, status: number, durationMs: number): void {
    const series = this.routeSeries;
    const record: GatewayRequestRecord = {
      startedAt: performance.timeOrigin + this.started,
      api: this.isRouted ? series.api : null,
      route: this.isRouted ? this.routeName : null,
      method: this.req.method ?? 'GET',
      status,
      durationMs,
      applicationId: this.applicationId,
      subscriptionId: this.subscriptionId,
      plan: this.plan,
      details: this.details,
    };
    try {
      onRequestComplete(record);
    } catch (error: unknown) {
      // An analytics consumer must never break traffic.
      this.ctx.logger.error({ err: error, route: this.routeName }, 'onRequestComplete failed');
    }
  }
}

// Requests and responses without filters are also handled per event-loop turn: all requests that arrived in a
// turn go upstream together at its end, and all responses that arrived are written together at its end, as the
// filter chain's batches do. Measured at the benchmark's load (fixed-rate and saturated A/B runs): about a quarter
// less CPU per request than handling each as it arrives (the peers are woken once per batch rather than per
// request, and the gateway's own code runs hot); either half alone measured no gain.
let forwardBatch: Exchange[] = [];
let isForwardScheduled = false;

function forwardLater(exchange: Exchange): void {
  forwardBatch.push(exchange);
  if (!isForwardScheduled) {
    isForwardScheduled = true;
    setImmediate(forwardBatchNow);
  }
}

function forwardBatchNow(): void {
  isForwardScheduled = false;
  const batch = forwardBatch;
  forwardBatch = [];
  for (const exchange of batch) exchange.forwardNow();
}

let releaseBatch: Exchange[] = [];
let isReleaseScheduled = false;

function releaseLater(exchange: Exchange): void {
  releaseBatch.push(exchange);
  if (!isReleaseScheduled) {
    isReleaseScheduled = true;
    setImmediate(releaseBatchNow);
  }
}

function releaseBatchNow(): void {
  isReleaseScheduled = false;
  const batch = releaseBatch;
  releaseBatch = [];
  for (const exchange of batch) exchange.releasePlain();
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
