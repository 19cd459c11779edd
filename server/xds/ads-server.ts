import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../logger.ts';
import { AdsStream, type AdsStreamStatus, type DiscoveryRequest, type DiscoveryResponse } from './ads-stream.ts';
import { type EncodedSnapshot, encodeSnapshot } from './encoded-snapshot.ts';
import { envoyProtoIncludeDirs, type ResourceCodec, resourceCodec } from './resource-codec.ts';
import type { Snapshot, SnapshotSource } from './resources.ts';

export interface AdsServerOptions {
  snapshots: SnapshotSource;
  logger: Logger;
  /** 0 picks a free port. */
  port: number;
  /** @default '0.0.0.0' */
  host?: string;
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

/** The ADS service definition from Envoy's own ads.proto; keepCase, as grpc-js-xds loads it. */
function loadAdsService(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [...envoyProtoIncludeDirs],
  });
  const service = definition[serviceName];
  if (!service || !('StreamAggregatedResources' in service)) throw new Error(`${serviceName} not found in ads.proto`);
  return service as unknown as grpc.ServiceDefinition;
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
  server.addService(loadAdsService(), {
    StreamAggregatedResources: (call: AdsCall) => {
      const stream = new AdsStream((response) => call.write(response), logger, controlPlaneId);
      streams.set(call, stream);
      const drop = (): void => {
        if (!streams.delete(call)) return;
        logger.info({ nodeId: stream.nodeId, streams: streams.size }, 'data plane disconnected');
      };
      call.on('data', (request: DiscoveryRequest) => {
        const isNew = stream.nodeId === '';
        stream.handleRequest(request, encoded);
        if (isNew && stream.nodeId) logger.info({ nodeId: stream.nodeId, streams: streams.size }, 'data plane connected');
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

  const host = options.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress(host, options.port), grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(error);
      else resolve(bound);
    });
  });
  logger.info({ port }, 'xds server listening');

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
