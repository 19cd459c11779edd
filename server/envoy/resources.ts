/**
 * The contract between the translator, the ADS server and the embedded gateway: Envoy v3 resources as
 * proto3 canonical JSON objects (camelCase fields, `@type` inside every google.protobuf.Any), exactly what
 * protobufjs `fromObject` accepts for Envoy's own messages and what Envoy itself would be sent.
 */

/** The xDS type URLs we serve (state-of-the-world ADS). */
export const typeUrls = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routeConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

export type ResourceKind = keyof typeof typeUrls;

/** Envoy's well-known names of the extensions our resources use (`name` beside a `typedConfig`). */
export const extensionNames = {
  httpConnectionManager: 'envoy.filters.network.http_connection_manager',
  wasm: 'envoy.filters.http.wasm',
  router: 'envoy.filters.http.router',
  httpGrpcAccessLog: 'envoy.access_loggers.http_grpc',
  tlsTransportSocket: 'envoy.transport_sockets.tls',
} as const;

/** The `@type` of the Anys inside our resources (typed configs of filters, access logs and transport sockets). */
export const extensionTypeUrls = {
  httpConnectionManager: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  wasm: 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  httpGrpcAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig',
  upstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  rawBuffer: 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
  stringValue: 'type.googleapis.com/google.protobuf.StringValue',
  bytesValue: 'type.googleapis.com/google.protobuf.BytesValue',
  /** A `typed_per_filter_config` value: enables or disables an HTTP filter on a route or virtual host. */
  filterConfig: 'type.googleapis.com/envoy.config.route.v3.FilterConfig',
} as const;

/** A proto3-JSON Envoy message; always has `name` (or `clusterName` for ClusterLoadAssignment). */
export type EnvoyResource = Record<string, unknown>;

/** Every resource of one snapshot, per kind, each list sorted by name (deterministic output). */
export type EnvoyResources = Record<ResourceKind, EnvoyResource[]>;

/** One published configuration; `version` is monotonic per control plane and never reused. */
export interface Snapshot {
  version: string;
  resources: EnvoyResources;
}

/** Where data planes get snapshots: the ADS server in-process, or an ADS client of a remote control plane. */
export interface SnapshotSource {
  current(): Snapshot | null;
  /** Called with every new snapshot; returns an unsubscribe function. */
  subscribe(listener: (snapshot: Snapshot) => void): () => void;
}

export function resourceName(kind: ResourceKind, resource: EnvoyResource): string {
  const name = kind === 'clusterLoadAssignment' ? resource.clusterName : resource.name;
  return typeof name === 'string' ? name : '';
}

export function emptyResources(): EnvoyResources {
  return { listener: [], routeConfiguration: [], cluster: [], clusterLoadAssignment: [] };
}
