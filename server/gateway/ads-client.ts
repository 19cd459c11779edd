// An ADS client (state of the world, https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol) that
// makes a remote control plane a SnapshotSource. It subscribes to every resource of the four types (wildcard),
// decodes each response's Anys to the proto3 JSON of the resources contract, and once all four types have
// arrived publishes a snapshot per response. Subscribers may return a promise (the gateway returns its apply):
// the response is ACKed (version_info and nonce of the response) when every subscriber accepted, else NACKed
// (the last accepted version, the nonce, error_detail) and that type's resources revert to the accepted ones.
// The stream reconnects with exponential backoff and jitter; the last snapshot stays current meanwhile.
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type protobuf from 'protobufjs';
import {
  emptyResources, type EnvoyResource, type EnvoyResources, type ResourceKind, resourceName, type Snapshot,
  type SnapshotSource, typeUrls,
} from '../envoy/resources.ts';
import { messageToJson } from '../envoy/proto-json.ts';
import { adsProtoRoot } from '../envoy/protos.ts';

const method = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const kinds = Object.keys(typeUrls) as ResourceKind[];
const kindByUrl = new Map<string, ResourceKind>(kinds.map((kind) => [typeUrls[kind], kind]));
// google.rpc.Code.INVALID_ARGUMENT
const INVALID_ARGUMENT = 3;

export interface AdsClientOptions {
  /** host:port of the control plane's xDS server. */
  address: string;
  logger: Logger;
  /** The node this data plane presents. @default id `embedded-gateway-<hostname>-<pid>`, cluster `apip-gateway` */
  node?: { id: string; cluster: string };
  /** `adsClientCredentials(…)`: the data plane's certificate, or plaintext for a loopback development control plane. */
  credentials: grpc.ChannelCredentials;
  /** Reconnect delays: doubled from `initialMs` to `maxMs`, with ±20 % jitter. @default 250 ms … 30 s */
  backoff?: { initialMs: number; maxMs: number };
}

/** A data plane's xDS client TLS material (PEM): its certificate and key, and the platform CA. */
export interface AdsClientTls {
  caCertificate: string;
  certificate: string;
  privateKey: string;
}

/** Mutual TLS with `tls` (the server's certificate is checked against the platform CA); null = plaintext. */
export function adsClientCredentials(tls: AdsClientTls | null): grpc.ChannelCredentials {
  if (tls === null) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(Buffer.from(tls.caCertificate), Buffer.from(tls.privateKey), Buffer.from(tls.certificate));
}

interface DiscoveryResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Record<string, unknown>[];
}

export interface AdsClient extends SnapshotSource {
  /** True while a stream is open and has received at least one response. */
  readonly isConnected: boolean;
  close(): void;
}

type Listener = (snapshot: Snapshot) => unknown;

export function createAdsClient(options: AdsClientOptions): AdsClient {
  const logger = options.logger.child({ component: 'ads-client' });
  const root = adsProtoRoot();
  const requestType = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const responseType = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const node = options.node ?? { id: `embedded-gateway-${hostname()}-${process.pid}`, cluster: 'apip-gateway' };
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 30_000 };
  const client = new grpc.Client(options.address, options.credentials);

  const listeners = new Set<Listener>();
  /** Accepted resources and version per type (what the last ACK stands for). */
  const accepted = emptyResources();
  const acceptedVersion = new Map<ResourceKind, string>();
  const received = new Set<ResourceKind>();
  let current: Snapshot | null = null;
  let call: grpc.ClientDuplexStream<Record<string, unknown>, DiscoveryResponse> | null = null;
  let isClosed = false;
  let isConnected = false;
  let delay = backoff.initialMs;
  let retryTimer: NodeJS.Timeout | undefined;
  let processing: Promise<void> = Promise.resolve();

  const serialize = (value: Record<string, unknown>): Buffer => Buffer.from(requestType.encode(requestType.fromObject(value)).finish());
  const deserialize = (bytes: Buffer): DiscoveryResponse => {
    const message = responseType.decode(bytes) as unknown as Record<string, unknown>;
    return {
      versionInfo: String(message.versionInfo ?? ''),
      typeUrl: String(message.typeUrl ?? ''),
      nonce: String(message.nonce ?? ''),
      resources: (message.resources ?? []) as Record<string, unknown>[],
    };
  };

  function send(kind: ResourceKind, nonce: string, error?: string): void {
    call?.write({
      node,
      typeUrl: typeUrls[kind],
      versionInfo: acceptedVersion.get(kind) ?? '',
      responseNonce: nonce,
      // Listeners and clusters: empty = all (wildcard). Routes and endpoints are named subscriptions in xDS, so
      // ask for all of them explicitly with `*` (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#how-the-client-specifies-what-resources-to-return).
      resourceNames: kind === 'listener' || kind === 'cluster' ? [] : ['*'],
      ...(error === undefined ? {} : { errorDetail: { code: INVALID_ARGUMENT, message: error } }),
    });
  }

  function decode(kind: ResourceKind, resources: Record<string, unknown>[]): EnvoyResource[] {
    const anyType: protobuf.Type = root.lookupType('google.protobuf.Any');
    return resources
      .map((resource) => {
        const typeUrl = String(resource.type_url ?? resource.typeUrl ?? '');
        if (typeUrl !== typeUrls[kind]) throw new Error(`resource of type ${typeUrl} in a ${typeUrls[kind]} response`);
        return messageToJson(anyType, resource, root) as EnvoyResource;
      })
      .map(({ '@type': _, ...resource }) => resource)
      .sort((a, b) => resourceName(kind, a).localeCompare(resourceName(kind, b)));
  }

  async function publish(snapshot: Snapshot): Promise<string | null> {
    const results = await Promise.allSettled([...listeners].map(async (listener) => listener(snapshot)));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure === undefined) return null;
    return failure.reason instanceof Error ? failure.reason.message : String(failure.reason);
  }

  async function onResponse(response: DiscoveryResponse): Promise<void> {
    const kind = kindByUrl.get(response.typeUrl);
    if (kind === undefined) {
      logger.warn({ typeUrl: response.typeUrl }, 'ads response of an unknown type ignored');
      return;
    }
    let resources: EnvoyResource[];
    try {
      resources = decode(kind, response.resources);
    } catch (error: unknown) {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ kind, version: response.versionInfo, err: error }, 'ads response could not be decoded, nacked');
      send(kind, response.nonce, message);
      return;
    }
    received.add(kind);
    if (received.size < kinds.length) {
      // Not all types yet: nothing to build, the resources are accepted as decoded.
      accepted[kind] = resources;
      acceptedVersion.set(kind, response.versionInfo);
      send(kind, response.nonce);
      return;
    }
    const next: EnvoyResources = { ...accepted, [kind]: resources };
    const snapshot: Snapshot = { version: response.versionInfo, resources: next };
    const error = await publish(snapshot);
    if (error !== null) {
      logger.error({ kind, version: response.versionInfo, reason: error }, 'ads snapshot rejected, nacked');
      send(kind, response.nonce, error);
      return;
    }
    accepted[kind] = resources;
    acceptedVersion.set(kind, response.versionInfo);
    current = snapshot;
    send(kind, response.nonce);
  }

  function connect(): void {
    if (isClosed) return;
    const stream = client.makeBidiStreamRequest(method, serialize, deserialize);
    call = stream;
    stream.on('data', (response: DiscoveryResponse) => {
      if (!isConnected) logger.info({ address: options.address }, 'ads stream established');
      isConnected = true;
      delay = backoff.initialMs;
      processing = processing.then(() => onResponse(response)).catch((error: unknown) => {
        logger.error({ err: error }, 'ads response handling failed');
      });
    });
    const retry = (reason: string): void => {
      if (call !== stream) return;
      call = null;
      isConnected = false;
      if (isClosed) return;
      const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, backoff.maxMs);
      logger.warn({ address: options.address, reason, retryInMs: wait }, 'ads stream lost, serving the last configuration');
      retryTimer = setTimeout(connect, wait);
    };
    stream.on('error', (error: Error) => retry(error.message));
    stream.on('end', () => retry('stream ended'));
    // State of the world, wildcard for every type; a new stream starts from the versions accepted so far.
    for (const kind of kinds) send(kind, '');
  }

  connect();

  return {
    get isConnected() { return isConnected; },
    current: () => current,
    subscribe(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    close() {
      isClosed = true;
      clearTimeout(retryTimer);
      call?.cancel();
      call = null;
      client.close();
    },
  };
}
