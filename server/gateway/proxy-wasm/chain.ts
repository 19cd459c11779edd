// Runs several plugins in order for one request, as Envoy's HTTP connection manager runs its filter chain:
// request callbacks in chain order, response callbacks in reverse order (encoder filters run last-to-first,
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#filter-ordering).
// The first local reply stops the chain; the upstream must then not be called.
import { HeaderMap } from './header-map.ts';
import type { HttpStream } from './http-stream.ts';
import type { Plugin } from './plugin.ts';
import type { HeaderList, HeadersOutcome, LocalReply, RequestInfo } from './types.ts';

export type ChainOutcome = { action: 'continue' } | LocalReply;

async function settle(outcome: HeadersOutcome): Promise<ChainOutcome> {
  return outcome.action === 'pause' ? outcome.resume : outcome;
}

export class ChainStream {
  readonly requestHeaders: HeaderMap;
  readonly responseHeaders = new HeaderMap();

  constructor(private readonly streams: HttpStream[], requestHeaders: HeaderList | HeaderMap) {
    this.requestHeaders = requestHeaders instanceof HeaderMap ? requestHeaders : new HeaderMap(requestHeaders);
  }

  /** Request headers through every plugin in order; stops at the first local reply. */
  async onRequestHeaders(endOfStream: boolean): Promise<ChainOutcome> {
    for (const stream of this.streams) {
      const outcome = await settle(stream.onRequestHeaders(this.requestHeaders, endOfStream));
      if (outcome.action === 'localReply') return outcome;
    }
    return { action: 'continue' };
  }

  /** Response headers through every plugin in reverse order; mutates `headers` in place. */
  async onResponseHeaders(headers: HeaderList | HeaderMap, endOfStream: boolean): Promise<ChainOutcome> {
    const map = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
    this.responseHeaders.setAll(map.toList());
    for (let i = this.streams.length - 1; i >= 0; i--) {
      const stream = this.streams[i];
      if (stream === undefined) continue;
      const outcome = await settle(stream.onResponseHeaders(this.responseHeaders, endOfStream));
      if (outcome.action === 'localReply') return outcome;
    }
    return { action: 'continue' };
  }

  /** Ends every plugin's stream (proxy_on_done / on_log / on_delete). */
  onDone(): void {
    for (const stream of this.streams) stream.onDone();
  }
}

/** Plugins in chain order (index 0 runs first on the request; its configuration should strip identity headers). */
export class PolicyChain {
  constructor(readonly plugins: readonly Plugin[]) {}

  start(requestHeaders: HeaderList | HeaderMap, info: RequestInfo = {}): ChainStream {
    return new ChainStream(this.plugins.map((plugin) => plugin.createHttpContext(info)), requestHeaders);
  }
}

export function createPolicyChain(plugins: readonly Plugin[]): PolicyChain {
  return new PolicyChain(plugins);
}
