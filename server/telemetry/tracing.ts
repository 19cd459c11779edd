// The OpenTelemetry SDK set up from TracingConfig: a tracer handed explicitly to whoever traces (the embedded
// gateway, the management server). Nothing is registered globally (no global tracer provider, propagator or
// context manager), so two platforms in one process, or a tracer per worker thread, never see each other's.
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, type Sampler, type SpanExporter,
  TraceIdRatioBasedSampler, TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SamplerName, TracingConfig } from './tracing-config.ts';

export interface Tracing {
  readonly tracer: Tracer;
  /** Exports every ended span now. */
  forceFlush(): Promise<void>;
  /** Flushes, then stops exporting. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** @default OTLP/HTTP (JSON) to config.tracesEndpoint */
  exporter?: SpanExporter;
  /** How long ended spans wait to be exported together. @default the SDK's (5 s, or OTEL_BSP_SCHEDULE_DELAY) */
  batchDelayMs?: number;
}

function samplerOf(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on': return new AlwaysOnSampler();
    case 'always_off': return new AlwaysOffSampler();
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on': return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** A tracer exporting over OTLP/HTTP, or null without a config: callers then create no spans at all. Usable in
 *  any thread (config is plain data). */
export function createTracing(config: TracingConfig | null, options: TracingOptions = {}): Tracing | null {
  if (config === null) return null;
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: config.tracesEndpoint });
  const provider = new TracerProvider({
    sampler: samplerOf(config.sampler, config.ratio),
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...(options.batchDelayMs === undefined ? {} : { scheduledDelayMillis: options.batchDelayMs }) })],
  });
  return {
    tracer: provider.getTracer('apip'),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
