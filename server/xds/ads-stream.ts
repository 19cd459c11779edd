import type { Logger } from '../logger.ts';
import { type EncodedAny, type EncodedSnapshot, digestOf, selectResources } from './encoded-snapshot.ts';
import { type ResourceKind, typeUrls } from '../envoy/resources.ts';

/** envoy.service.discovery.v3.DiscoveryRequest as @grpc/proto-loader decodes it (keepCase, defaults). */
export interface DiscoveryRequest {
  version_info: string;
  node: { id: string; cluster: string } | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

/** envoy.service.discovery.v3.DiscoveryResponse as @grpc/proto-loader encodes it. */
export interface DiscoveryResponse {
  version_info: string;
  resources: EncodedAny[];
  type_url: string;
  nonce: string;
  control_plane: { identifier: string };
}

/**
 * The order in which a new snapshot is pushed on one stream. Envoy's eventual-consistency rules
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#eventual-consistency-considerations):
 * a route must never point at a cluster Envoy does not know yet, so on the single ADS stream:
 */
export const pushOrder: readonly ResourceKind[] = [
  // 1. CDS first: every cluster a new route may name exists before that route arrives.
  'cluster',
  // 2. EDS after CDS: endpoints are only accepted for clusters Envoy already has.
  'clusterLoadAssignment',
  // 3. LDS after CDS/EDS: a listener's filters may reference the clusters (wasm module fetch).
  'listener',
  // 4. RDS last: route configurations for the listeners that now exist, naming clusters that now exist.
  'routeConfiguration',
];

/**
 * NACK texts are kept for deploymentStatus and logged; a data plane (authenticated, but possibly broken or
 * compromised) must not make the control plane keep or show more than this. Envoy's own messages are far shorter.
 */
export const maxNackMessageLength = 1024;

/** Listeners and clusters are wildcard subscriptions when no name is given; RDS/EDS name what they want. */
const wildcardWhenEmpty: ReadonlySet<ResourceKind> = new Set<ResourceKind>(['listener', 'cluster']);

const kindByTypeUrl = new Map<string, ResourceKind>(
  (Object.entries(typeUrls) as [ResourceKind, string][]).map(([kind, url]) => [url, kind]),
);

interface TypeState {
  /** null = wildcard (everything of this kind). */
  names: Set<string> | null;
  /** Nonce of the latest response on this type; requests carrying another non-empty nonce are stale. */
  nonce: string;
  sentVersion: string | null;
  /** Digest of what was last sent, so a snapshot that leaves this view unchanged sends nothing. */
  sentDigest: string | null;
  /** The version the data plane last accepted: what it runs after any later NACK. */
  ackedVersion: string | null;
  lastNack: { version: string | null; message: string } | null;
}

/** What one data plane holds per type, for logs, metrics and tests. */
export interface AdsTypeStatus {
  typeUrl: string;
  subscribed: string[] | '*';
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { version: string | null; message: string } | null;
}

export interface AdsStreamStatus {
  nodeId: string;
  types: AdsTypeStatus[];
}

function sameNames(a: Set<string> | null, b: Set<string> | null): boolean {
  if (a === null || b === null) return a === b;
  return a.size === b.size && [...a].every((name) => b.has(name));
}

/**
 * The state-of-the-world protocol for one ADS stream (one data plane): subscriptions per type URL,
 * nonces, ACK/NACK bookkeeping. Transport-free: responses go to `send`.
 */
export class AdsStream {
  nodeId = '';
  private readonly types = new Map<ResourceKind, TypeState>();
  private nonceCounter = 0;

  constructor(
    private readonly send: (response: DiscoveryResponse) => void,
    private readonly logger: Logger,
    private readonly controlPlaneId: string,
  ) {}

  /** Handles one DiscoveryRequest; `snapshot` is the current one (null before the first is built). */
  handleRequest(request: DiscoveryRequest, snapshot: EncodedSnapshot | null): void {
    if (request.node?.id) this.nodeId = request.node.id;
    const kind = kindByTypeUrl.get(request.type_url);
    if (!kind) {
      this.logger.debug({ nodeId: this.nodeId, typeUrl: request.type_url }, 'ignoring request for unserved type');
      return;
    }
    const names = this.namesOf(kind, request.resource_names);
    const state = this.types.get(kind);
    if (!state) {
      // First request for this type on this stream (a new subscription or a reconnect): always answer.
      // A reconnecting data plane reports the version it runs; that is its last good one until it ACKs ours.
      const ackedVersion = request.version_info || null;
      this.types.set(kind, { names, nonce: '', sentVersion: null, sentDigest: null, ackedVersion, lastNack: null });
      if (snapshot) this.respond(kind, snapshot, true);
      return;
    }
    // A request answering an older response than our latest is superseded by the one that answers the
    // latest: https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#resource-updates
    if (request.response_nonce !== '' && request.response_nonce !== state.nonce) {
      this.logger.debug({ nodeId: this.nodeId, typeUrl: request.type_url }, 'ignoring request with stale nonce');
      return;
    }
    if (request.response_nonce !== '') this.recordAckOrNack(kind, state, request);
    if (!sameNames(state.names, names)) {
      state.names = names;
      if (snapshot) this.respond(kind, snapshot, true);
    }
  }

  /** Sends a new snapshot to this stream, in Envoy's required order, for the types it subscribed to. */
  push(snapshot: EncodedSnapshot): void {
    for (const kind of pushOrder) if (this.types.has(kind)) this.respond(kind, snapshot, false);
  }

  status(): AdsStreamStatus {
    const types: AdsTypeStatus[] = [];
    for (const kind of pushOrder) {
      const state = this.types.get(kind);
      if (!state) continue;
      types.push({
        typeUrl: typeUrls[kind],
        subscribed: state.names === null ? '*' : [...state.names].sort(),
        sentVersion: state.sentVersion,
        ackedVersion: state.ackedVersion,
        lastNack: state.lastNack,
      });
    }
    return { nodeId: this.nodeId, types };
  }

  private namesOf(kind: ResourceKind, requested: readonly string[]): Set<string> | null {
    if (requested.includes('*')) return null;
    if (requested.length === 0 && wildcardWhenEmpty.has(kind)) return null;
    return new Set(requested);
  }

  private recordAckOrNack(kind: ResourceKind, state: TypeState, request: DiscoveryRequest): void {
    if (request.error_detail) {
      // NACK: version_info is what the data plane keeps running; the rejected one is what we sent last.
      // Nothing is re-sent: the next snapshot that changes this view will be pushed as usual.
      const message = request.error_detail.message.slice(0, maxNackMessageLength);
      state.lastNack = { version: state.sentVersion, message };
      state.ackedVersion = request.version_info || state.ackedVersion;
      this.logger.warn(
        {
          nodeId: this.nodeId,
          typeUrl: typeUrls[kind],
          rejectedVersion: state.sentVersion,
          keptVersion: request.version_info || null,
          error: message,
        },
        'data plane rejected configuration',
      );
      return;
    }
    state.ackedVersion = request.version_info;
    this.logger.debug({ nodeId: this.nodeId, typeUrl: typeUrls[kind], version: request.version_info }, 'configuration acknowledged');
  }

  private respond(kind: ResourceKind, snapshot: EncodedSnapshot, force: boolean): void {
    const state = this.types.get(kind);
    if (!state) return;
    const resources = selectResources(snapshot, kind, state.names);
    const digest = digestOf(resources);
    if (!force && digest === state.sentDigest) return;
    this.nonceCounter += 1;
    state.nonce = String(this.nonceCounter);
    state.sentVersion = snapshot.version;
    state.sentDigest = digest;
    this.send({
      version_info: snapshot.version,
      resources: resources.map((resource) => resource.any),
      type_url: typeUrls[kind],
      nonce: state.nonce,
      control_plane: { identifier: this.controlPlaneId },
    });
  }
}
