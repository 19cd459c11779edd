// Weighted choices: a random draw for weighted_clusters (Envoy draws a random number modulo the total weight,
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-weightedcluster)
// and smooth weighted round robin for endpoints (Envoy's ROUND_ROBIN honours load_balancing_weight,
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-round-robin).

/** A number in [0, 1); injectable so tests can drive the draw. */
export type RandomSource = () => number;

/** Picks an item with probability weight / total; items with weight 0 are never picked. */
export function pickWeighted<T extends { weight: number }>(items: readonly T[], totalWeight: number, random: RandomSource): T | undefined {
  if (items.length === 1) return items[0];
  let point = Math.floor(random() * totalWeight);
  for (const item of items) {
    if (point < item.weight) return item;
    point -= item.weight;
  }
  return undefined;
}

/** Smooth weighted round robin (each pick adds every weight to its current score and takes the highest): with
 *  weights 5,1,1 the order is a a b a c a a, spread rather than bursty; equal weights give plain round robin. */
export class RoundRobin<T extends { weight: number }> {
  private readonly current: number[];
  private readonly total: number;

  constructor(private readonly items: readonly T[]) {
    this.current = items.map(() => 0);
    this.total = items.reduce((sum, item) => sum + item.weight, 0);
  }

  get size(): number {
    return this.items.length;
  }

  next(): T | undefined {
    if (this.items.length <= 1) return this.items[0];
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < this.items.length; i++) {
      const score = (this.current[i] ?? 0) + (this.items[i]?.weight ?? 0);
      this.current[i] = score;
      if (score > bestScore) { best = i; bestScore = score; }
    }
    if (best < 0) return undefined;
    this.current[best] = bestScore - this.total;
    return this.items[best];
  }
}
