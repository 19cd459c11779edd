import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logger.ts';
import { AdsStream, type AdsStreamStatus, type DiscoveryRequest, type DiscoveryResponse } from './ads-stream.ts';
import { type EncodedSnapshot, encodeSnapshot } from './encoded-snapshot.ts';
import { certificateNodeId, refuseCall, type XdsTls, xdsServerCredentials } from './data-plane-identity.ts';
import { StreamsPerNode } from './streams-per-node.ts';
import { envoyGrpcService } from '../envoy/grpc-services.ts';
import { type ResourceCodec, resourceCodec } from '../envoy/resource-codec.ts';
import type { Snapshot, SnapshotSource } from '../envoy/resources.ts';

export interface AdsServerOptions {
  snapshots: SnapshotSource;
  logger: Logger;
  /** 0 picks a free port. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Mutual TLS material; null = plaintext (loopback development only: config.ts refuses it elsewhere). */
  tls: XdsTls | null;
  /** Open ADS streams one data-plane identity may hold; the next is refused with RESOURCE_EXHAUSTED. @default 4 */
  maxStreamsPerNode?: number;
  /** Sent as `control_plane.identifier` in every response. @default 'apip' */
  controlPlaneId?: string;
  /** @default the process-wide codec over Envoy's protos */
  codec?: ResourceCodec;
  /** Adds more gRPC services on the same port (Envoy's access-log service, server/analytics/als-service.ts). */
  addServices?: (server: grpc.Server) => void;
}

export interface AdsServer {
  /** The port actually bound. */
  port: number;
  /** Connected data planes and what each holds per type. */
  status(): AdsStreamStatus[];
  close(): Promise<void>;
}

const serviceName = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** The ADS service definition from Envoy's own ads.proto. */
function loadAdsService(): grpc.ServiceDefinition {
  return envoyGrpcService('envoy/service/discovery/v3/ads.proto', serviceName, 'StreamAggregatedResources', { longs: String, defaults: true });
}

function bindAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * State-of-the-world ADS (StreamAggregatedResources) for LDS/RDS/CDS/EDS over one gRPC stream per data plane.
 * Every snapshot is encoded once and pushed to every stream; Delta xDS is not served.
 */
export async function startAdsServer(options: AdsServerOptions): Promise<AdsServer> {
  const logger = options.logger.child({ component: 'xds' });
  const codec = options.codec ?? resourceCodec();
  const controlPlaneId = options.controlPlaneId ?? 'apip';
  const streams = new Map<AdsCall, AdsStream>();
  let encoded: EncodedSnapshot | null = null;

  const accept = (snapshot: Snapshot): boolean => {
    try {
      encoded = encodeSnapshot(snapshot, codec);
      return true;
    } catch (error: unknown) {
      // Validation runs before publishing, so this is a translator/validator bug: keep serving the last good.
      logger.error({ err: error, version: snapshot.version }, 'cannot encode snapshot, keeping the previous one');
      return false;
    }
  };

  const initial = options.snapshots.current();
  if (initial) accept(initial);
  const unsubscribe = options.snapshots.subscribe((snapshot) => {
    if (!accept(snapshot) || !encoded) return;
    logger.debug({ version: snapshot.version, streams: streams.size }, 'pushing snapshot');
    for (const stream of streams.values()) stream.push(encoded);
  });

  const server = new grpc.Server({
    // ADS streams live as long as the data plane: ping idle connections so a vanished Envoy is noticed and its
    // stream dropped instead of being written to forever.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const limits = new StreamsPerNode(options.maxStreamsPerNode ?? 4);
  server.addService(loadAdsService(), {
    StreamAggregatedResources: (call: AdsCall) => {
      // With mTLS the node id is the certificate's; a request claiming another is refused. In plaintext mode
      // (loopback development) the first request's node id is taken as given.
      const certified = options.tls === null ? null : certificateNodeId(call);
      if (options.tls !== null && certified === null) {
        refuseCall(call, grpc.status.UNAUTHENTICATED, 'the client certificate names no data plane');
        return;
      }
      const stream = new AdsStream((response) => call.write(response), logger, controlPlaneId);
      let release: (() => void) | null = null;
      const admit = (nodeId: string): boolean => {
        release = limits.acquire(nodeId);
        if (release !== null) return true;
        logger.warn({ nodeId, max: limits.max }, 'ads stream refused: too many streams for this data plane');
        refuseCall(call, grpc.status.RESOURCE_EXHAUSTED, `data plane '${nodeId}' already holds ${limits.max} ADS streams`);
        return false;
      };
      if (certified !== null) {
        if (!admit(certified)) return;
        stream.nodeId = certified;
      }
      streams.set(call, stream);
      const drop = (): void => {
        release?.();
        if (!streams.delete(call)) return;
        logger.info({ nodeId: stream.nodeId, streams: streams.size }, 'data plane disconnected');
      };
      let isAnnounced = false;
      call.on('data', (request: DiscoveryRequest) => {
        if (!streams.has(call)) return;
        const claimed = request.node?.id ?? '';
        if (certified !== null && claimed !== '' && claimed !== certified) {
          logger.warn({ nodeId: certified, claimed }, 'ads request refused: node id differs from the certificate');
          drop();
          refuseCall(call, grpc.status.PERMISSION_DENIED, `node id '${claimed}' is not the certificate's ('${certified}')`);
          return;
        }
        if (certified === null && release === null) {
          if (claimed === '') return;
          if (!admit(claimed)) {
            streams.delete(call);
            return;
          }
        }
        stream.handleRequest(request, encoded);
        if (!isAnnounced && stream.nodeId) {
          isAnnounced = true;
          logger.info({ nodeId: stream.nodeId, streams: streams.size }, 'data plane connected');
        }
      });
      call.on('end', () => {
        drop();
        call.end();
      });
      call.on('cancelled', drop);
      call.on('error', (error: Error) => {
        logger.debug({ err: error, nodeId: stream.nodeId }, 'ads stream error');
        drop();
      });
    },
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'delta xDS is not served; use state-of-the-world ADS' });
    },
  });

  options.addServices?.(server);

  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress(host, options.port), xdsServerCredentials(options.tls), (error, bound) => {
      if (error) reject(error);
      else resolve(bound);
    });
  });
  logger.info({ host, port, isMutualTls: options.tls !== null }, 'xds server listening');

  return {
    port,
    status: () => [...streams.values()].map((stream) => stream.status()),
    close: async () => {
      unsubscribe();
      for (const call of streams.keys()) call.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        // Streams are long-lived; give in-flight writes a moment, then cut what is left.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
