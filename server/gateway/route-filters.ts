// Which of the listener's wasm filters run on a route: every filter in the connection manager's order, but a
// filter disabled there (HttpFilter.disabled) only where the route's filter states enable it, and any filter the
// route's states disable is left out, as Envoy builds a stream's filter chain once the route is known.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#route-based-filter-chain
// Worked out on a route's first request and kept; routes with the same filters share one array.
import type { ChainFilter } from './filter-chain.ts';
import type { CompiledRoute } from './route-table.ts';

/** A filter of the connection manager and whether it is disabled by default. */
export interface ListenerFilter {
  readonly filter: ChainFilter;
  readonly isDisabled: boolean;
}

const NONE: readonly ChainFilter[] = [];

export class RouteFilters {
  private readonly byRoute = new Map<CompiledRoute, readonly ChainFilter[]>();
  private readonly shared = new Map<string, readonly ChainFilter[]>();
  /** The chain of a route no per-filter entry touches: the filters enabled by default. */
  private readonly defaults: readonly ChainFilter[];

  constructor(private readonly filters: readonly ListenerFilter[]) {
    const defaults = filters.filter((entry) => !entry.isDisabled).map((entry) => entry.filter);
    this.defaults = defaults.length === 0 ? NONE : defaults;
  }

  /** The filters that run on `route`, in chain order. */
  of(route: CompiledRoute): readonly ChainFilter[] {
    const states = route.filterStates;
    if (states === null) return this.defaults;
    let chain = this.byRoute.get(route);
    if (chain === undefined) {
      const positions: number[] = [];
      this.filters.forEach((entry, i) => {
        if (states.get(entry.filter.name) ?? !entry.isDisabled) positions.push(i);
      });
      const key = positions.join(',');
      chain = this.shared.get(key);
      if (chain === undefined) this.shared.set(key, (chain = positions.length === 0 ? NONE : positions.map((i) => this.filters[i]!.filter)));
      this.byRoute.set(route, chain);
    }
    return chain;
  }
}
