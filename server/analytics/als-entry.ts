import { apiOfRouteName, identityHeaders } from '../xds/names.ts';
import type { RequestRecord } from './request-record.ts';

/** google.protobuf.Timestamp / Duration as @grpc/proto-loader decodes them with `longs: Number`. */
interface ProtoTime {
  seconds?: number | string;
  nanos?: number;
}

/** The parts of envoy.data.accesslog.v3.HTTPAccessLogEntry we read (proto field names, keepCase). */
export interface HttpAccessLogEntry {
  common_properties?: {
    start_time?: ProtoTime | null;
    route_name?: string;
    duration?: ProtoTime | null;
    time_to_last_downstream_tx_byte?: ProtoTime | null;
    time_to_last_rx_byte?: ProtoTime | null;
  } | null;
  request?: { request_headers?: Record<string, string> } | null;
  response?: { response_code?: { value?: number } | null; response_code_details?: string | null } | null;
}

function toMs(time: ProtoTime | null | undefined): number | null {
  if (!time) return null;
  return Number(time.seconds ?? 0) * 1000 + (time.nanos ?? 0) / 1e6;
}

function header(headers: Record<string, string> | undefined, name: string): string | null {
  if (!headers) return null;
  const value = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return value ? value : null;
}

/**
 * One Envoy HTTP access-log entry as a RequestRecord. The API is the first segment of the route name
 * (`<api-handle>/<METHOD>/<template>`, server/xds/names.ts); an entry with no route name, or
 * the virtual hosts' catch-all (`no-api-found`), matched no API.
 * Duration: `duration` (Envoy ≥ 1.27, the whole stream), else time to the last byte sent downstream.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/data/accesslog/v3/accesslog.proto
 */
export function recordFromAccessLogEntry(entry: HttpAccessLogEntry, receivedAt: number): RequestRecord {
  const common = entry.common_properties ?? {};
  const route = common.route_name ?? '';
  const headers = entry.request?.request_headers;
  return {
    startedAt: toMs(common.start_time) ?? receivedAt,
    api: apiOfRouteName(route),
    status: entry.response?.response_code?.value ?? 0,
    durationMs: toMs(common.duration) ?? toMs(common.time_to_last_downstream_tx_byte) ?? toMs(common.time_to_last_rx_byte) ?? 0,
    applicationId: header(headers, identityHeaders.applicationId),
    plan: header(headers, identityHeaders.plan),
    details: entry.response?.response_code_details || null,
  };
}
