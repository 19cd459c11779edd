// OpenTelemetry's standard environment variables for traces, read once at start-up into plain data (a worker
// thread builds its own tracer from the same object). https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
// Unknown or malformed values stop the start with the variable named, rather than silently tracing nothing.

/** The samplers OTEL_TRACES_SAMPLER may name (the SDK's built-in ones). */
export const samplerNames = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
] as const;

export type SamplerName = (typeof samplerNames)[number];

/** Traces of the platform (management and embedded gateway) and of the Envoys it configures. */
export interface TracingConfig {
  /** The collector's OTLP/HTTP traces URL (`…/v1/traces`). */
  tracesEndpoint: string;
  /** @default 'parentbased_always_on' */
  sampler: SamplerName;
  /** Share of new traces sampled by the traceidratio samplers, 0–1; 1 for the others. */
  ratio: number;
  /** The `service.name` resource attribute. @default 'apip' */
  serviceName: string;
}

type Env = Record<string, string | undefined>;

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http(s) URL, got '${raw}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got '${raw}'`);
  return url;
}

/** The traces URL: the signal-specific variable as given, else the base endpoint + `v1/traces` (the spec's rule). */
function tracesEndpoint(env: Env): string | null {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific).href;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return null;
  const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.href;
}

function isDisabled(env: Env): boolean {
  const raw = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new Error(`OTEL_SDK_DISABLED must be true or false, got '${env.OTEL_SDK_DISABLED}'`);
}

function samplerRatio(env: Env, sampler: SamplerName): number {
  if (sampler !== 'traceidratio' && sampler !== 'parentbased_traceidratio') return 1;
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (!raw) return 1;
  const ratio = Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1 for ${sampler}, got '${raw}'`);
  return ratio;
}

/** null: no tracing (no endpoint, or OTEL_SDK_DISABLED=true); then nothing on any request path creates spans. */
export function tracingConfigFromEnv(env: Env): TracingConfig | null {
  if (isDisabled(env)) return null;
  const endpoint = tracesEndpoint(env);
  const rawSampler = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase() || 'parentbased_always_on';
  if (!(samplerNames as readonly string[]).includes(rawSampler)) {
    throw new Error(`OTEL_TRACES_SAMPLER must be one of ${samplerNames.join(', ')}, got '${env.OTEL_TRACES_SAMPLER}'`);
  }
  const sampler = rawSampler as SamplerName;
  const ratio = samplerRatio(env, sampler);
  if (endpoint === null) return null;
  return { tracesEndpoint: endpoint, sampler, ratio, serviceName: env.OTEL_SERVICE_NAME?.trim() || 'apip' };
}

/** The share of new traces a sampler keeps, 0–1 (what Envoy's HCM `random_sampling` gets, as a percentage). */
export function sampledShare(config: Pick<TracingConfig, 'sampler' | 'ratio'>): number {
  switch (config.sampler) {
    case 'always_off':
    case 'parentbased_always_off': return 0;
    case 'traceidratio':
    case 'parentbased_traceidratio': return config.ratio;
    default: return 1;
  }
}
