import type { IrCluster, IrDestination } from '../ir.ts';
import type { DeployedApi, ModelUpstream } from '../../domain/deployment-model.ts';
import { definitionClusterName, upstreamClusterName, type UpstreamEnvironment } from '../names.ts';
import type { FieldIssue } from '../../domain/errors.ts';
import { durationWholeMs } from './durations.ts';
import { parseUpstreamUrl } from '../upstream-url.ts';
import { normaliseBasePath } from './paths.ts';
import { clusterResilience } from './upstream-resilience.ts';

/** Envoy's own default, written out. https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/cluster.proto#envoy-v3-api-field-config-cluster-v3-cluster-connect-timeout */
export const defaultConnectTimeoutMs = 5000;
/** v0.9: a target without weight weighs 100. */
const defaultWeight = 100;

export interface UpstreamTarget {
  destination: IrDestination;
  basePath: string;
  clusters: IrCluster[];
  warnings: FieldIssue[];
}

/** Where an API environment's traffic goes: its URL's cluster, or the clusters of the upstreamDefinition it names. */
export function resolveUpstream(api: DeployedApi, environment: UpstreamEnvironment, upstream: ModelUpstream, path: string): UpstreamTarget | { error: string; path: string } {
  if (upstream.url) {
    const parsed = parseUpstreamUrl(upstream.url);
    if (typeof parsed === 'string') return { error: parsed, path: `${path}.url` };
    const name = upstreamClusterName(api.handle, environment);
    return {
      destination: { kind: 'cluster', cluster: name },
      basePath: parsed.basePath,
      clusters: [{ name, endpoint: parsed.endpoint, tls: parsed.tls, connectTimeoutMs: defaultConnectTimeoutMs, ...clusterResilience(api) }],
      warnings: [],
    };
  }
  const index = api.upstreamDefinitions.findIndex((d) => d.name === upstream.ref);
  const definition = api.upstreamDefinitions[index];
  if (!definition) return { error: `ref '${String(upstream.ref)}' names no upstreamDefinition`, path: `${path}.ref` };
  const at = `spec.upstreamDefinitions[${index}]`;
  let connectTimeoutMs = defaultConnectTimeoutMs;
  if (definition.connectTimeout !== null) {
    const ms = durationWholeMs(definition.connectTimeout);
    // Envoy requires connect_timeout > 0.
    if (ms === null || ms <= 0) return { error: `'${definition.connectTimeout}' is not a positive duration`, path: `${at}.timeout.connect` };
    connectTimeoutMs = ms;
  }
  const warnings: UpstreamTarget['warnings'] = [];
  const targets: { cluster: IrCluster; weight: number }[] = [];
  const single = definition.upstreams.length === 1;
  for (const [i, target] of definition.upstreams.entries()) {
    const parsed = parseUpstreamUrl(target.url);
    if (typeof parsed === 'string') return { error: parsed, path: `${at}.upstreams[${i}].url` };
    if (parsed.basePath !== '') warnings.push({ path: `${at}.upstreams[${i}].url`, message: 'the URL path is ignored; the definition basePath applies' });
    const weight = target.weight ?? defaultWeight;
    // A weight of 0 takes no traffic: the target gets no cluster at all.
    if (weight === 0) continue;
    const name = definitionClusterName(api.handle, definition.name, single ? null : i);
    targets.push({ cluster: { name, endpoint: parsed.endpoint, tls: parsed.tls, connectTimeoutMs, ...clusterResilience(api) }, weight });
  }
  if (targets.length === 0) return { error: 'every target has weight 0', path: `${at}.upstreams` };
  const destination: IrDestination = single
    ? { kind: 'cluster', cluster: targets[0]!.cluster.name }
    : { kind: 'weighted', clusters: targets.map((t) => ({ cluster: t.cluster.name, weight: t.weight })) };
  return { destination, basePath: normaliseBasePath(definition.basePath), clusters: targets.map((t) => t.cluster), warnings };
}
