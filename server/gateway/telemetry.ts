// What a finished request reports: its metrics series, a debug log line and, when the embedding wants it
// (GatewayOptions.onRequestComplete, analytics), a GatewayRequestRecord with the identity the policies set.
// The identity headers' names belong to server/xds/names.ts (the policies set them, analytics read them).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { identityHeaders } from '../xds/names.ts';
import type { Endpoint, RuntimeCluster } from './clusters.ts';
import type { Decision, GatewayMetrics, RouteSeries } from './gateway-metrics.ts';
import type { HeaderMap } from './proxy-wasm/header-map.ts';

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
  /** From the identity headers as they are after the request filter chain (null when absent, or when the
   *  request never reached the chain: no route, a direct response, a malformed path). */
  applicationId: string | null;
  subscriptionId: string | null;
  plan: string | null;
  /** Response code details of a policy's local reply (`apip_jwt_invalid`, ...); null when the request was not refused by one. */
  details: string | null;
}

/** The identity headers of a request after its filters (null when absent). */
export interface RequestIdentity {
  readonly applicationId: string | null;
  readonly subscriptionId: string | null;
  readonly plan: string | null;
}

/** What telemetry reads of a request when its response is over (the proxy's Exchange). */
export interface FinishedExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() at arrival. */
  readonly started: number;
  readonly routeSeries: RouteSeries;
  readonly routeName: string;
  /** A route matched (a route may be unnamed). */
  readonly isRouted: boolean;
  readonly decision: Decision;
  readonly cluster: RuntimeCluster | null;
  readonly endpoint: Endpoint | null;
  readonly identity: RequestIdentity | null;
  readonly details: string | null;
}

export class Telemetry {
  /** The series of requests that matched no route. */
  readonly noRoute: RouteSeries;
  /** Identity headers are read only for onRequestComplete and traces. */
  readonly wantsIdentity: boolean;

  constructor(
    readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly onRequestComplete: ((record: GatewayRequestRecord) => void) | undefined,
    isTraced = false,
  ) {
    this.noRoute = metrics.forRoute('');
    this.wantsIdentity = onRequestComplete !== undefined || isTraced;
  }

  /** The identity of a request as its filters left it. */
  identityOfMap(map: HeaderMap): RequestIdentity {
    return {
      applicationId: map.get(identityHeaders.applicationId) ?? null,
      subscriptionId: map.get(identityHeaders.subscriptionId) ?? null,
      plan: map.get(identityHeaders.plan) ?? null,
    };
  }

  /** The response is over (sent, or the connection went away). */
  finished(exchange: FinishedExchange): void {
    const { req, res } = exchange;
    const seconds = (performance.now() - exchange.started) / 1000;
    const status = res.headersSent ? res.statusCode : 0;
    this.metrics.observe(exchange.routeSeries, status, exchange.decision, seconds);
    if (this.logger.isLevelEnabled('debug')) {
      const url = req.url ?? '/';
      const queryAt = url.indexOf('?');
      const { cluster, endpoint } = exchange;
      // The query is left out: it may carry an API key.
      this.logger.debug({
        method: req.method, path: queryAt < 0 ? url : url.slice(0, queryAt), route: exchange.routeName,
        status, durationMs: seconds * 1000,
        upstream: cluster === null || endpoint === null ? '' : `${cluster.name}/${endpoint.address}:${endpoint.port}`,
        decision: exchange.decision,
      }, 'request');
    }
    const onRequestComplete = this.onRequestComplete;
    if (onRequestComplete !== undefined) this.report(onRequestComplete, exchange, status, seconds * 1000);
  }

  private report(onRequestComplete: (record: GatewayRequestRecord) => void, exchange: FinishedExchange, status: number, durationMs: number): void {
    const identity = exchange.identity;
    const record: GatewayRequestRecord = {
      startedAt: performance.timeOrigin + exchange.started,
      api: exchange.isRouted ? exchange.routeSeries.api : null,
      route: exchange.isRouted ? exchange.routeName : null,
      method: exchange.req.method ?? 'GET',
      status,
      durationMs,
      applicationId: identity?.applicationId ?? null,
      subscriptionId: identity?.subscriptionId ?? null,
      plan: identity?.plan ?? null,
      details: exchange.details,
    };
    try {
      onRequestComplete(record);
    } catch (error: unknown) {
      // An analytics consumer must never break traffic.
      this.logger.error({ err: error, route: exchange.routeName }, 'onRequestComplete failed');
    }
  }
}
