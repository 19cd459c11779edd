// Metrics a module defines with proxy_define_metric, with Envoy's rules (Context::incrementMetric, recordMetric,
// getMetric in source/extensions/common/wasm/context.cc): a counter only goes up (an increment <= 0 is
// BadArgument) and a record adds to it; a gauge is set by a record and moves either way by an increment; a
// histogram only takes records (samples, kept here as count and sum) and cannot be read or incremented.
import { MetricType } from './abi.ts';

export interface MetricSnapshot {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  value: bigint;
  count: number;
}

interface Metric {
  name: string;
  type: number;
  value: bigint;
  count: number;
}

export class MetricsRegistry {
  private readonly byId = new Map<number, Metric>();
  private readonly idsByKey = new Map<string, number>();
  private nextId = 1;

  /** Returns the metric id, or undefined for an unknown type. The same name and type yield the same id. */
  define(type: number, name: string): number | undefined {
    if (type !== MetricType.Counter && type !== MetricType.Gauge && type !== MetricType.Histogram) return undefined;
    const key = `${type}\0${name}`;
    const existing = this.idsByKey.get(key);
    if (existing !== undefined) return existing;
    const id = this.nextId++;
    this.byId.set(id, { name, type, value: 0n, count: 0 });
    this.idsByKey.set(key, id);
    return id;
  }

  /** 'ok' | 'not_found' | 'bad_argument' (a counter increment <= 0, any histogram increment). */
  increment(id: number, delta: bigint): 'ok' | 'not_found' | 'bad_argument' {
    const metric = this.byId.get(id);
    if (!metric) return 'not_found';
    if (metric.type === MetricType.Histogram || (metric.type === MetricType.Counter && delta <= 0n)) return 'bad_argument';
    metric.value += delta;
    metric.count += 1;
    return 'ok';
  }

  /** A counter adds `value`, a gauge takes it, a histogram samples it; false for an unknown id. */
  record(id: number, value: bigint): boolean {
    const metric = this.byId.get(id);
    if (!metric) return false;
    metric.value = metric.type === MetricType.Gauge ? BigInt.asIntN(64, value) : metric.value + value;
    metric.count += 1;
    return true;
  }

  /** The value, undefined for an unknown id, 'bad_argument' for a histogram. */
  get(id: number): bigint | undefined | 'bad_argument' {
    const metric = this.byId.get(id);
    if (metric === undefined) return undefined;
    return metric.type === MetricType.Histogram ? 'bad_argument' : metric.value;
  }

  snapshot(): MetricSnapshot[] {
    const types = ['counter', 'gauge', 'histogram'] as const;
    return [...this.byId.values()].map((metric) => ({
      name: metric.name,
      type: types[metric.type] ?? 'counter',
      value: metric.value,
      count: metric.count,
    }));
  }
}
