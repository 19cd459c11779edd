import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { certificateNodeId } from '../xds/data-plane-identity.ts';
import { envoyGrpcService } from '../envoy/grpc-services.ts';
import { StreamsPerNode } from '../xds/streams-per-node.ts';
import { type HttpAccessLogEntry, recordFromAccessLogEntry } from './als-entry.ts';
import type { RequestRecord } from './request-record.ts';

const serviceName = 'envoy.service.accesslog.v3.AccessLogService';

/** envoy.service.accesslog.v3.StreamAccessLogsMessage, the parts we read. */
interface StreamAccessLogsMessage {
  identifier?: { node?: { id?: string } | null; log_name?: string } | null;
  http_logs?: { log_entry?: HttpAccessLogEntry[] } | null;
}

type AlsCall = grpc.ServerReadableStream<StreamAccessLogsMessage, Record<string, never>>;

let definition: grpc.ServiceDefinition | null = null;

/** The service from Envoy's own als.proto (loaded once). */
function accessLogServiceDefinition(): grpc.ServiceDefinition {
  definition ??= envoyGrpcService('envoy/service/accesslog/v3/als.proto', serviceName, 'StreamAccessLogs', { longs: Number, defaults: false });
  return definition;
}

export interface AccessLogServiceOptions {
  /** Receives one record per HTTP access-log entry (AnalyticsRecorder.record). */
  record: (record: RequestRecord) => void;
  logger: Logger;
  /** Callers are identified by their client certificate (mTLS); false = plaintext, the identifier is taken as given. */
  isMutualTls: boolean;
  /** Open access-log streams one data plane may hold (Envoy opens one per worker thread). @default 64 */
  maxStreamsPerNode?: number;
  /** Counts entries refused before they reach `record` (a stream claiming another node's identity). */
  onRefused?: (reason: 'node_mismatch', entries: number) => void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Adds Envoy's gRPC access-log service (StreamAccessLogs) to a gRPC server: every HTTP entry becomes a request
 * record. Envoy streams forever and expects no answer (the protocol is lossy by design); TCP entries are ignored.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/accesslog/v3/als.proto
 */
export function addAccessLogService(server: grpc.Server, options: AccessLogServiceOptions): void {
  const logger = options.logger.child({ component: 'access-log' });
  const now = options.now ?? Date.now;
  const limits = new StreamsPerNode(options.maxStreamsPerNode ?? 64);
  server.addService(accessLogServiceDefinition(), {
    StreamAccessLogs: (call: AlsCall, callback: grpc.sendUnaryData<Record<string, never>>) => {
      const certified = options.isMutualTls ? certificateNodeId(call) : null;
      const refuse = (code: grpc.status, details: string): void => {
        isRefused = true;
        release?.();
        callback({ code, details });
      };
      let isRefused = false;
      let release: (() => void) | null = null;
      const admit = (nodeId: string): void => {
        release = limits.acquire(nodeId);
        if (release === null) {
          logger.warn({ nodeId, max: limits.max }, 'access log stream refused: too many streams for this data plane');
          refuse(grpc.status.RESOURCE_EXHAUSTED, `data plane '${nodeId}' already holds ${limits.max} access-log streams`);
        }
      };
      if (options.isMutualTls) {
        if (certified === null) return refuse(grpc.status.UNAUTHENTICATED, 'the client certificate names no data plane');
        admit(certified);
      }
      let nodeId = certified ?? '';
      call.on('data', (message: StreamAccessLogsMessage) => {
        if (isRefused) return;
        const entries = message.http_logs?.log_entry ?? [];
        // The identifier comes with the first message of a stream only; with mTLS it must name the certificate's node.
        const claimed = message.identifier?.node?.id ?? '';
        if (certified !== null && claimed !== '' && claimed !== certified) {
          logger.warn({ nodeId: certified, claimed }, 'access log stream refused: node id differs from the certificate');
          options.onRefused?.('node_mismatch', entries.length);
          return refuse(grpc.status.PERMISSION_DENIED, `node id '${claimed}' is not the certificate's ('${certified}')`);
        }
        if (message.identifier && release === null && certified === null) {
          nodeId = claimed;
          admit(nodeId);
          if (isRefused) return;
        }
        if (message.identifier) logger.info({ nodeId, logName: message.identifier.log_name }, 'access log stream opened');
        const receivedAt = now();
        for (const entry of entries) options.record(recordFromAccessLogEntry(entry, receivedAt));
      });
      call.on('end', () => {
        release?.();
        if (!isRefused) callback(null, {});
      });
      call.on('error', (error: Error) => {
        release?.();
        logger.debug({ err: error, nodeId }, 'access log stream error');
      });
    },
  });
}
