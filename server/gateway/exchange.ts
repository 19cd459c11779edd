// One proxied request from start to `close`: the request half (route match, the request filters, the upstream
// call, its failures) on top of ResponseRelay's response half, and the facts telemetry reports when it closes.
// Per-request work is kept to what the request needs: headers are read once from node's raw array and go to the
// upstream as a flat array (a HeaderMap only when filters run); requests without filters go upstream batched at
// the end of the event-loop turn (proxy.ts), with no promise unless a filter pauses.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { streamRequestBody } from './body-streams.ts';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import type { ConfigHolder, LiveConfig } from './config-holder.ts';
import { type ChainBatches, FilterChainRun, type PhaseOutcome, type RequestHeadersListener } from './filter-chain.ts';
import type { RouteSeries } from './gateway-metrics.ts';
import { readRequestHead, setFlat, withoutNamed } from './http-headers.ts';
import { sendDirectResponse, sendLocalReply, sendText } from './local-replies.ts';
import { normalizeRequestPath } from './path-normalize.ts';
import { rewritePath } from './path-rewrite.ts';
import { HeaderMap } from './proxy-wasm/header-map.ts';
import { ReplayableBody } from './replayable-body.ts';
import { ResponseRelay } from './response-relay.ts';
import { isRetriableFailure, isRetriableStatus, nextTryTimeout } from './retry-policy.ts';
import type { RouteLookup } from './route-lookup.ts';
import { LazyRequestInfo } from './request-info.ts';
import type { RouteAction, RouteMatch } from './route-table.ts';
import type { FinishedExchange, RequestIdentity, Telemetry } from './telemetry.ts';
import type { TurnBatcher } from './turn-batcher.ts';
import { RequestTrace } from './tracing.ts';
import { failureReply, UpstreamAttempt, type UpstreamCall, type UpstreamFailure, type UpstreamHandlers } from './upstream-request.ts';
import type { UpstreamPools } from './upstream-pools.ts';
import type { WebSocketTunnel } from './websocket-tunnel.ts';
import { pickWeighted, type RandomSource } from './weighted-choice.ts';

/** What every exchange of one proxy handler shares; the handler owns it (no module state). */
export interface ExchangeContext {
  readonly holder: ConfigHolder;
  readonly pools: UpstreamPools;
  readonly logger: Logger;
  readonly random: RandomSource;
  readonly telemetry: Telemetry;
  /** null: requests are not traced (no span objects, no context work). */
  readonly tracer: Tracer | null;
  readonly routes: RouteLookup;
  readonly chainBatches: ChainBatches;
  /** Requests without filters, forwarded at the end of the turn. */
  readonly forwards: TurnBatcher<Exchange>;
  /** Responses without filters, written at the end of the turn. */
  readonly releases: TurnBatcher<ResponseRelay>;
}

const notFoundBody = JSON.stringify({ error: 'Not Found' });

type ForwardAction = Extract<RouteAction, { kind: 'forward' }>;

export class Exchange extends ResponseRelay implements UpstreamHandlers, RequestHeadersListener, FinishedExchange {
  readonly started = performance.now();
  routeSeries: RouteSeries;
  routeName = '';
  isRouted = false;
  cluster: RuntimeCluster | null = null;
  endpoint: Endpoint | null = null;
  /** Identity after the request filter chain, kept only for onRequestComplete. */
  identity: RequestIdentity | null = null;
  /** A WebSocket upgrade (proxy.ts): forwarding opens the tunnel instead of an upstream request. */
  tunnel: WebSocketTunnel | null = null;
  /** This request's spans, when the gateway traces. */
  private trace: RequestTrace | null = null;
  private requestEnded = false;
  private call: UpstreamCall | null = null;
  private isRetried = false;
  // Retries by the route's retry_policy (retry-policy.ts): the body kept for them, tries made, the route's
  // deadline, whether the current try's timeout is its per-try timeout, whether it holds a retry-budget slot.
  private replayable: ReplayableBody | null = null;
  private retriesDone = 0;
  private routeDeadline = 0;
  private isPerTryTimeout = false;
  private holdsRetrySlot = false;
  // What forwarding needs once the request filters are through (requestHeadersBatched answers later).
  private requestMap: HeaderMap | null = null;
  private forwardAction: ForwardAction | null = null;
  private routeMatch: RouteMatch | null = null;
  private routeCluster: RuntimeCluster | undefined = undefined;
  // A request without filters waiting for the end of turn (forwardNow).
  private forwardMethod = '';
  private forwardPath = '';
  private forwardAuthority = '';
  private forwardHeaders: string[] | null = null;

  constructor(
    private readonly ctx: ExchangeContext,
    readonly req: IncomingMessage,
    res: ServerResponse,
    private readonly live: LiveConfig | null,
  ) {
    super(res, ctx.releases);
    this.routeSeries = ctx.telemetry.noRoute;
  }

  run(): void {
    const { req, res } = this;
    if (this.ctx.tracer !== null) this.trace = new RequestTrace(this.ctx.tracer, req);
    const config = this.live?.config ?? null;
    const method = req.method ?? 'GET';
    this.method = method;
    const url = req.url ?? '/';
    const path = config === null ? url : normalizeRequestPath(url, config.pathNormalization);
    if (path === null) {
      sendText(res, 400, 'Bad Request', 'text/plain');
      return;
    }
    const head = readRequestHead(req.rawHeaders, config?.headersWithUnderscores);
    if (head.hasUnderscoreName && config?.headersWithUnderscores === 'REJECT_REQUEST') {
      sendText(res, 400, 'Bad Request', 'text/plain');
      return;
    }
    const authority = head.host ?? '';
    // node's TLS sockets (and h2's compat proxy of one) say `encrypted`.
    const scheme = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
    const match = config === null ? null : this.ctx.routes.match(config, req, method, path, authority, scheme);
    if (config === null || match === null) {
      sendText(res, 404, notFoundBody, 'application/json');
      return;
    }
    const { route } = match;
    this.routeName = route.name;
    this.isRouted = true;
    this.routeSeries = this.ctx.telemetry.metrics.forRoute(route.name);
    this.trace?.routed(route.name, this.routeSeries.api);
    if (route.action.kind === 'direct') {
      sendDirectResponse(res, route.action);
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
    setFlat(headers, 'x-forwarded-proto', scheme);
    if (!head.hasRequestId) headers.push('x-request-id', randomUUID());
    // h2 needs no content-length for a body: the HEADERS frame's END_STREAM says whether one follows.
    const h2Stream = (req as IncomingMessage & { stream?: { endAfterHeaders: boolean } }).stream;
    this.requestEnded = h2Stream === undefined ? head.hasNoBody : h2Stream.endAfterHeaders;

    // Only the filters this route runs (a filter disabled by default runs where the route enables it).
    const filters = config.routeFilters.of(route);
    if (filters.length === 0) {
      // No module runs here to establish an identity: whatever identity headers the client sent are its own
      // claim (the route removes them before the upstream), so analytics records none.
      // Forwarded at the end of the event-loop turn with the other requests of the turn (see proxy.ts).
      this.forwardAction = action;
      this.routeMatch = match;
      this.routeCluster = cluster;
      this.forwardMethod = method;
      this.forwardPath = path;
      this.forwardAuthority = authority;
      this.forwardHeaders = headers;
      this.ctx.forwards.add(this);
      return;
    }
    const trace = this.trace;
    trace?.chainStarted();
    const chain = new FilterChainRun(filters, new LazyRequestInfo(req, route.name, clusterName), this.ctx.chainBatches, trace);
    this.chain = chain;
    const map = new HeaderMap();
    map.add(':method', method);
    map.add(':path', path);
    map.add(':authority', authority);
    map.add(':scheme', scheme);
    // readRequestHead lowercased the names.
    map.appendLowercaseFlat(headers);
    this.requestMap = map;
    this.forwardAction = action;
    this.routeMatch = match;
    this.routeCluster = cluster;
    chain.requestHeadersBatched(map, this.requestEnded, this);
  }

  /** The end of turn (forwards): the request without filters goes upstream. */
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
    if (this.ctx.telemetry.wantsIdentity) this.identity = this.ctx.telemetry.identityOfMap(map);
    this.trace?.chainEnded(outcome);
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
    method: string, path: string, authority: string, forwarded: string[],
  ): void {
    let headers = forwarded;
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
    const removals = match.route.removeHeaders;
    if (removals !== null) headers = withoutNamed(headers, removals);
    headers.push('host', host);
    if (this.trace !== null) headers = this.trace.upstreamStarted(cluster.name, endpoint.address, endpoint.port, headers);
    this.method = method;
    if (this.tunnel !== null) {
      this.decision = 'forwarded';
      this.tunnel.open(res, cluster, endpoint, method, upstreamPath, headers);
      return;
    }
    const { req, chain } = this;
    let body: PassThrough | ReplayableBody | null = null;
    if (!this.requestEnded) {
      // A route that retries keeps a copy of the body for the next try.
      body = action.retry === null ? new PassThrough() : (this.replayable = new ReplayableBody());
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
    cluster.retryBudget.activeRequests += 1;
    if (action.timeoutMs > 0) this.routeDeadline = performance.now() + action.timeoutMs;
    this.call = {
      pool: this.ctx.pools.poolFor(cluster, endpoint), method, path: upstreamPath, headers,
      body: body instanceof ReplayableBody ? body.firstTry : body,
      timeoutMs: action.retry === null ? action.timeoutMs : this.tryTimeoutMs(action.retry.perTryTimeoutMs),
    };
    const attempt = new UpstreamAttempt(this.call, this);
    this.attempt = attempt;
    attempt.start(false);
    if (this.requestEnded) req.resume();
  }

  onUpstreamFailure(failure: UpstreamFailure, state: { isResponseStarted: boolean; isReusedSocket: boolean }): void {
    const { res } = this;
    this.trace?.upstreamFailed(failure.kind);
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
    if (this.endpoint !== null) this.cluster?.outliers?.recordLocalFailure(this.endpoint);
    if (this.retryTry(failure)) return;
    const reply = failureReply(failure);
    sendText(res, reply.status, reply.body, 'text/plain');
  }

  override onUpstreamResponse(status: number, rawHeaders: string[]): boolean {
    this.trace?.upstreamResponded(status);
    if (this.endpoint !== null) this.cluster?.outliers?.recordStatus(this.endpoint, status);
    const retry = this.forwardAction?.retry;
    if (retry != null && isRetriableStatus(retry, status) && this.retryTry(null)) return true;
    return super.onUpstreamResponse(status, rawHeaders);
  }

  /** Another try (to another endpoint when there is one) after a failed one (`failure`, or a retriable status
   *  when null), when the route's retry policy, the body and the cluster's retry budget allow it. */
  private retryTry(failure: UpstreamFailure | null): boolean {
    const policy = this.forwardAction?.retry;
    const { cluster, call, res } = this;
    if (policy == null || cluster === null || call === null || res.destroyed || res.headersSent) return false;
    if (failure !== null && !isRetriableFailure(policy, failure.kind, this.isPerTryTimeout)) return false;
    if (this.retriesDone >= policy.numRetries) return false;
    const replayable = this.replayable;
    // A body is retried only from the copy, and not when it outgrew it.
    if (replayable?.isOverflowed === true || (replayable === null && !this.requestEnded)) return false;
    this.releaseRetrySlot();
    if (!cluster.retryBudget.allows()) return false;
    const endpoint = cluster.pick(this.endpoint ?? undefined);
    if (endpoint === undefined) return false;
    cluster.retryBudget.activeRetries += 1;
    this.holdsRetrySlot = true;
    this.retriesDone += 1;
    // An answered try (a retriable status) is dropped with its connection.
    this.attempt?.abort();
    this.endpoint = endpoint;
    const headers = call.headers.slice();
    // forwardChecked put Host last.
    if (this.forwardAction?.hostRewrite?.kind === 'auto' && endpoint.hostname !== undefined) headers[headers.length - 1] = endpoint.hostname;
    const start = (body: Buffer | null): void => {
      if (res.destroyed) return;
      if (body === null && replayable !== null) {
        sendText(res, 503, 'upstream request failed; the request body was too large to retry', 'text/plain');
        return;
      }
      this.call = { ...call, pool: this.ctx.pools.poolFor(cluster, endpoint), headers, body, timeoutMs: this.tryTimeoutMs(policy.perTryTimeoutMs) };
      const attempt = new UpstreamAttempt(this.call, this);
      this.attempt = attempt;
      attempt.start(false);
    };
    if (replayable === null) start(null);
    else replayable.replay(start);
    return true;
  }

  private tryTimeoutMs(perTryMs: number): number {
    const next = nextTryTimeout(this.routeDeadline, perTryMs);
    this.isPerTryTimeout = next.isPerTry;
    return next.timeoutMs;
  }

  private releaseRetrySlot(): void {
    if (!this.holdsRetrySlot || this.cluster === null) return;
    this.holdsRetrySlot = false;
    this.cluster.retryBudget.activeRetries -= 1;
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
    if (this.cluster !== null && this.call !== null) {
      this.cluster.retryBudget.activeRequests -= 1;
      this.releaseRetrySlot();
    }
    this.chain?.done();
    if (this.live !== null) ctx.holder.release(this.live);
    ctx.telemetry.finished(this);
    // Only an identity the route's policies established: without filters it would be whatever the client sent.
    this.trace?.finished(res.headersSent ? res.statusCode : 0, this.chain === null ? null : this.identity);
  }
}
