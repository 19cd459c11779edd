// The request path of the embedded gateway: route match, filter chain (request), upstream, filter chain
// (response), back to the client. One configuration per request, taken at its start (ConfigHolder).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RuntimeCluster } from './clusters.ts';
import type { ConfigHolder, LiveConfig } from './config-holder.ts';
import { streamRequestBody, streamResponseBody } from './body-streams.ts';
import { FilterChainRun } from './filter-chain.ts';
import type { Decision, GatewayMetrics } from './gateway-metrics.ts';
import { endToEndHeaders, toRawHeaders } from './http-headers.ts';
import { normalizeRequestPath } from './path-normalize.ts';
import { rewritePath } from './path-rewrite.ts';
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { HeaderList, LocalReply } from './proxy-wasm/types.ts';
import type { RouteAction, RouteMatch } from './route-table.ts';
import { failureReply, startUpstreamRequest, type UpstreamHandlers } from './upstream-request.ts';
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

type ForwardAction = Extract<RouteAction, { kind: 'forward' }>;

/** Per-request facts for metrics and the access log, filled in as the request proceeds. */
interface Exchange {
  route: string;
  decision: Decision;
  upstream: string;
  chain: FilterChainRun | null;
}

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

function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

function responseHasNoBody(method: string, status: number, headers: IncomingMessage['headers']): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || headers['content-length'] === '0';
}

export function createProxyHandler(deps: ProxyDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  const { holder, metrics, logger } = deps;
  const isLogging = (): boolean => logger.isLevelEnabled('debug');

  return (req, res) => {
    const started = process.hrtime.bigint();
    const live = holder.acquire();
    const exchange: Exchange = { route: '', decision: 'gateway', upstream: '', chain: null };
    res.once('close', () => {
      exchange.chain?.done();
      if (live !== null) holder.release(live);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.headersSent ? res.statusCode : 0;
      metrics.observe(exchange.route, status, exchange.decision, seconds);
      if (isLogging()) {
        const url = req.url ?? '/';
        const queryAt = url.indexOf('?');
        // The query is left out: it may carry an API key.
        logger.debug({
          method: req.method, path: queryAt < 0 ? url : url.slice(0, queryAt), route: exchange.route,
          status, durationMs: seconds * 1000, upstream: exchange.upstream, decision: exchange.decision,
        }, 'request');
      }
    });
    handle(req, res, live, exchange).catch((error: unknown) => {
      logger.error({ err: error, route: exchange.route }, 'gateway request failed');
      sendText(res, 500, 'internal error', 'text/plain');
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, live: LiveConfig | null, exchange: Exchange): Promise<void> {
    const config = live?.config ?? null;
    const method = req.method ?? 'GET';
    const path = config === null ? req.url ?? '/' : normalizeRequestPath(req.url ?? '/', config.pathNormalization);
    if (path === null) {
      sendText(res, 400, 'Bad Request', 'text/plain');
      return;
    }
    const authority = req.headers.host ?? '';
    const match: RouteMatch | null = config === null ? null : config.routes.match({
      authority,
      path,
      header: (name) => {
        if (name === ':method') return method;
        if (name === ':path') return path;
        if (name === ':authority') return authority;
        if (name === ':scheme') return 'http';
        const value = req.headers[name];
        return Array.isArray(value) ? value.join(',') : value;
      },
    });
    if (config === null || match === null) {
      sendText(res, 404, notFoundBody, 'application/json');
      return;
    }
    const { route } = match;
    exchange.route = route.name;
    if (route.action.kind === 'direct') {
      sendText(res, route.action.status, route.action.body, 'text/plain');
      return;
    }
    const action = route.action;
    const clusterName = pickWeighted(action.clusters, action.totalWeight, deps.random)?.name ?? '';
    const cluster = config.clusters.get(clusterName);

    // What Envoy's connection manager adds before any filter runs (use_remote_address: this is the edge).
    // https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers
    const pairs: HeaderList = [[':method', method], [':path', path], [':authority', authority], [':scheme', 'http']];
    for (const pair of endToEndHeaders(req.rawHeaders, 'host')) pairs.push(pair);
    const remote = req.socket.remoteAddress ?? '';
    const forwardedFor = req.headers['x-forwarded-for'];
    setPair(pairs, 'x-forwarded-for', forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`);
    setPair(pairs, 'x-forwarded-proto', 'http');
    if (req.headers['x-request-id'] === undefined) pairs.push(['x-request-id', randomUUID()]);

    const requestEnded = hasNoBody(req);
    let headers: HeaderList = pairs;
    if (config.filters.length > 0) {
      const chain = new FilterChainRun(config.filters, {
        routeName: route.name,
        clusterName,
        sourceAddress: `${remote}:${req.socket.remotePort ?? 0}`,
        destinationAddress: `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? 0}`,
        protocol: `HTTP/${req.httpVersion}`,
      });
      exchange.chain = chain;
      const map = new HeaderMap(pairs);
      const outcome = await chain.requestHeaders(map, requestEnded);
      if (outcome.action === 'localReply') {
        exchange.decision = 'local_reply';
        req.resume();
        sendLocalReply(res, outcome);
        return;
      }
      headers = map.toList();
    }
    if (res.destroyed) return;
    if (cluster === undefined) {
      // cluster_not_found_response_code defaults to 503.
      sendText(res, 503, '', 'text/plain');
      return;
    }
    forward(req, res, exchange, { action, match, cluster, headers, requestEnded });
  }

  function forward(
    req: IncomingMessage, res: ServerResponse, exchange: Exchange,
    context: { action: ForwardAction; match: RouteMatch; cluster: RuntimeCluster; headers: HeaderList; requestEnded: boolean },
  ): void {
    const { action, match, cluster, headers, requestEnded } = context;
    const endpoint = cluster.pick();
    if (endpoint === undefined) {
      sendText(res, 503, 'no healthy upstream', 'text/plain');
      return;
    }
    exchange.upstream = `${cluster.name}/${endpoint.address}:${endpoint.port}`;
    let method = req.method ?? 'GET';
    let path = '/';
    let authority = '';
    for (const [name, value] of headers) {
      if (name === ':path') path = value;
      else if (name === ':method') method = value;
      else if (name === ':authority') authority = value;
    }
    if (action.rewrite !== null) path = rewritePath(path, action.rewrite, match.matchedPrefixLength);
    if (action.hostRewrite?.kind === 'literal') authority = action.hostRewrite.value;
    // Envoy puts the endpoint's hostname in Host verbatim (the translator writes `name:port` when the port is
    // not the scheme's default).
    else if (action.hostRewrite?.kind === 'auto' && endpoint.hostname !== undefined) authority = endpoint.hostname;
    const raw = toRawHeaders(headers);
    raw.push('host', authority);
    const chain = exchange.chain;
    const call = { cluster, endpoint, method, path, headers: raw, timeoutMs: action.timeoutMs };
    let isRetried = false;
    const handlers: UpstreamHandlers = {
      onFailure: (failure, state) => {
        if (state.isResponseStarted || res.headersSent) {
          res.destroy();
          return;
        }
        // A pooled connection the upstream closed just as we reused it: one retry, for a request without a body
        // (nothing consumed), as Node's documentation advises (http.ClientRequest `reusedSocket`).
        if (failure.kind === 'reset' && state.isReusedSocket && requestEnded && !isRetried && !res.destroyed) {
          isRetried = true;
          upstream = startUpstreamRequest(call, deps.pools, handlers);
          upstream.request.end();
          return;
        }
        const reply = failureReply(failure);
        sendText(res, reply.status, reply.body, 'text/plain');
      },
      onResponse: (response) => {
        const finish = upstream.finish;
        const status = response.statusCode ?? 502;
        const responsePairs = endToEndHeaders(response.rawHeaders);
        if (chain === null) {
          exchange.decision = 'forwarded';
          res.writeHead(status, toRawHeaders(responsePairs));
          response.pipe(res);
          response.once('end', finish);
          return;
        }
        const map = new HeaderMap([[':status', String(status)], ...responsePairs]);
        chain.responseHeaders(map, responseHasNoBody(method, status, response.headers)).then((outcome) => {
          if (outcome.action === 'localReply') {
            exchange.decision = 'local_reply';
            finish();
            response.destroy();
            sendLocalReply(res, outcome);
            return;
          }
          exchange.decision = 'forwarded';
          res.writeHead(Number(map.get(':status') ?? status), toRawHeaders(map.toList()));
          streamResponseBody(response, res, chain, finish);
        }, (error: unknown) => {
          logger.error({ err: error, route: exchange.route }, 'response filters failed');
          finish();
          response.destroy();
          sendText(res, 500, 'internal error', 'text/plain');
        });
      },
    };
    let upstream = startUpstreamRequest(call, deps.pools, handlers);
    res.once('close', () => {
      if (!res.writableFinished) upstream.request.destroy();
    });
    if (requestEnded) {
      req.resume();
      upstream.request.end();
    } else if (chain === null) {
      req.pipe(upstream.request);
    } else {
      streamRequestBody(req, chain, upstream.request, (reply) => {
        exchange.decision = 'local_reply';
        sendLocalReply(res, reply);
      });
    }
  }
}

function setPair(pairs: HeaderList, name: string, value: string): void {
  const index = pairs.findIndex(([key]) => key === name);
  if (index < 0) pairs.push([name, value]);
  else pairs[index] = [name, value];
}
