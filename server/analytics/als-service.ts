import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { envoyProtoIncludeDirs } from '../xds/resource-codec.ts';
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

/** The service from Envoy's own als.proto (loaded once; keepCase, as ads-server.ts loads ads.proto). */
function accessLogServiceDefinition(): grpc.ServiceDefinition {
  if (definition) return definition;
  const loaded = protoLoader.loadSync('envoy/service/accesslog/v3/als.proto', {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [...envoyProtoIncludeDirs],
  });
  const service = loaded[serviceName];
  if (!service || !('StreamAccessLogs' in service)) throw new Error(`${serviceName} not found in als.proto`);
  definition = service as unknown as grpc.ServiceDefinition;
  return definition;
}

export interface AccessLogServiceOptions {
  /** Receives one record per HTTP access-log entry (AnalyticsRecorder.record). */
  record: (record: RequestRecord) => void;
  logger: Logger;
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
  server.addService(accessLogServiceDefinition(), {
    StreamAccessLogs: (call: AlsCall, callback: grpc.sendUnaryData<Record<string, never>>) => {
      let nodeId = '';
      call.on('data', (message: StreamAccessLogsMessage) => {
        // The identifier comes with the first message of a stream only.
        if (message.identifier && !nodeId) {
          nodeId = message.identifier.node?.id ?? '';
          logger.info({ nodeId, logName: message.identifier.log_name }, 'access log stream opened');
        }
        const receivedAt = now();
        for (const entry of message.http_logs?.log_entry ?? []) options.record(recordFromAccessLogEntry(entry, receivedAt));
      });
      call.on('end', () => callback(null, {}));
      call.on('error', (error: Error) => logger.debug({ err: error, nodeId }, 'access log stream error'));
    },
  });
}
