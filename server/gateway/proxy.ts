// The request path of the embedded gateway: route match, filter chain (request), upstream, filter chain
// (response), back to the client. One configuration per request, taken at its start (ConfigHolder). One
// Exchange object carries a request's state and is the upstream attempt's handler (exchange.ts: the request half;
// response-relay.ts: the response half); telemetry.ts reports it when it closes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ConfigHolder } from './config-holder.ts';
import { Exchange, type ExchangeContext } from './exchange.ts';
import { ChainBatches } from './filter-chain.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { ResponseRelay } from './response-relay.ts';
import { RouteLookup } from './route-lookup.ts';
import { type GatewayRequestRecord, Telemetry } from './telemetry.ts';
import { TurnBatcher } from './turn-batcher.ts';
import type { UpstreamPools } from './upstream-pools.ts';
import type { RandomSource } from './weighted-choice.ts';

export interface ProxyDependencies {
  holder: ConfigHolder;
  pools: UpstreamPools;
  metrics: GatewayMetrics;
  logger: Logger;
  random: RandomSource;
  onRequestComplete?: ((record: GatewayRequestRecord) => void) | undefined;
  /** Traces every request (tracing.ts); none when unset. */
  tracer?: Tracer | undefined;
}

function forwardAll(batch: readonly Exchange[]): void {
  for (const exchange of batch) exchange.forwardNow();
}

function releaseAll(batch: readonly ResponseRelay[]): void {
  for (const relay of batch) relay.releasePlain();
}

/**
 * The handler owns its per-turn batches. Requests and responses without filters are handled per event-loop turn
 * too: all requests that arrived in a turn go upstream together at its end, and all responses that arrived are
 * written together at its end, as the filter chain's batches do. Measured at the benchmark's load (fixed-rate and
 * saturated A/B runs): about a quarter less CPU per request than handling each as it arrives (the peers are woken
 * once per batch rather than per request, and the gateway's own code runs hot); either half alone measured no gain.
 */
export function createProxyHandler(deps: ProxyDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  const ctx: ExchangeContext = {
    holder: deps.holder,
    pools: deps.pools,
    logger: deps.logger,
    random: deps.random,
    telemetry: new Telemetry(deps.metrics, deps.logger, deps.onRequestComplete, deps.tracer !== undefined),
    tracer: deps.tracer ?? null,
    routes: new RouteLookup(),
    chainBatches: new ChainBatches(),
    forwards: new TurnBatcher(forwardAll),
    releases: new TurnBatcher(releaseAll),
  };
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
