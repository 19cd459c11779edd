/**
 * One finished request as a data plane reports it. Structurally a subset of the embedded gateway's
 * `GatewayRequestRecord`, so the gateway's hook can be passed straight to `AnalyticsRecorder.record`, and the
 * Envoy access-log service builds the same shape from `HTTPAccessLogEntry`s.
 */
export interface RequestRecord {
  /** When the request started, ms since the epoch; it is counted in that minute. */
  startedAt: number;
  /** The API handle (v0.9 `metadata.name`, the first segment of our route names); null when no route matched. */
  api: string | null;
  /** Response status; 0 when none was sent (the client went away). */
  status: number;
  durationMs: number;
  /** `x-apip-application-id` as set by the auth policies; null for keyless or rejected traffic. */
  applicationId: string | null;
  /** `x-apip-plan`: the id of the plan that admitted the request. */
  plan: string | null;
  /** Response code details of a policy's local reply (`apip_jwt_invalid`), when the data plane reports them. */
  details?: string | null;
}
