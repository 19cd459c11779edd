import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../../server/config.ts';
import { sampledShare, tracingConfigFromEnv } from '../../../server/telemetry/tracing-config.ts';

describe('tracing configuration from OTEL_* variables', () => {
  it('is off without an endpoint, or when the SDK is disabled', () => {
    expect(tracingConfigFromEnv({})).toBeNull();
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(configFromEnv({}).tracing).toBeNull();
  });

  it('appends v1/traces to the base endpoint; takes the traces endpoint as given; defaults sampler and service', () => {
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      tracesEndpoint: 'http://collector:4318/v1/traces', sampler: 'parentbased_always_on', ratio: 1, serviceName: 'apip',
    });
    expect(tracingConfigFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example.com/otlp/traces',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_SERVICE_NAME: 'edge',
    })).toEqual({ tracesEndpoint: 'https://collector.example.com/otlp/traces', sampler: 'parentbased_traceidratio', ratio: 0.1, serviceName: 'edge' });
  });

  it('refuses bad values at start-up, naming the variable', () => {
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/);
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/);
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toThrow(/OTEL_TRACES_SAMPLER must be one of/);
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => tracingConfigFromEnv({ OTEL_SDK_DISABLED: 'maybe' })).toThrow(/OTEL_SDK_DISABLED/);
    expect(() => configFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'nope' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('gives Envoy the share of new traces the sampler keeps', () => {
    expect(sampledShare({ sampler: 'parentbased_always_on', ratio: 1 })).toBe(1);
    expect(sampledShare({ sampler: 'always_off', ratio: 1 })).toBe(0);
    expect(sampledShare({ sampler: 'parentbased_always_off', ratio: 1 })).toBe(0);
    expect(sampledShare({ sampler: 'traceidratio', ratio: 0.3 })).toBe(0.3);
  });
});
