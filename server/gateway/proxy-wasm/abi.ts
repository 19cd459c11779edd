// Constants of the proxy-wasm ABI v0.2.1 (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1#types)
// and the WASI errno values the spec uses.

/** proxy_status_t */
export const Status = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

/** proxy_action_t (headers callbacks) and the data-callback statuses Envoy accepts. */
export const Action = {
  Continue: 0,
  Pause: 1,
  /** Data callbacks: StopIterationAndBuffer. */
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;

/** proxy_map_type_t */
export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcInitialMetadata: 4,
  GrpcTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

/** proxy_buffer_type_t */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcCallMessage: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  ForeignFunctionArguments: 8,
} as const;

/** proxy_stream_type_t */
export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3 } as const;

/** proxy_log_level_t */
export const LogLevel = { Trace: 0, Debug: 1, Info: 2, Warn: 3, Error: 4, Critical: 5 } as const;

/** proxy_metric_type_t */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/** wasi_errno_t values used by the spec. */
export const Errno = { Success: 0, Badf: 8, Fault: 21, Inval: 28, Notsup: 58 } as const;

/** The import module names a policy may use; anything else is refused at load time. */
export const ENV_MODULE = 'env';
export const WASI_MODULE = 'wasi_snapshot_preview1';
