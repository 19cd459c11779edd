// The proxy-wasm ABI v0.2.1 host functions and constants that policies may use.
//
// Only functions Envoy implements are re-exported here; the SDK's own declarations are used so the signatures
// stay the SDK's. Never import the SDK's FastEdge helpers (proxy_dictionary_get, proxy_kv_store_*, secrets):
// Envoy refuses a module that imports them. Spec: https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1
export {
  proxy_log,
  proxy_get_log_level,
  proxy_set_tick_period_milliseconds,
  proxy_get_current_time_nanoseconds,
  proxy_get_property,
  proxy_set_property,
  proxy_continue_stream,
  proxy_close_stream,
  proxy_send_local_response,
  proxy_get_shared_data,
  proxy_set_shared_data,
  proxy_register_shared_queue,
  proxy_resolve_shared_queue,
  proxy_dequeue_shared_queue,
  proxy_enqueue_shared_queue,
  proxy_add_header_map_value,
  proxy_get_header_map_value,
  proxy_get_header_map_pairs,
  proxy_set_header_map_pairs,
  proxy_replace_header_map_value,
  proxy_remove_header_map_value,
  proxy_get_header_map_size,
  proxy_get_buffer_bytes,
  proxy_get_buffer_status,
  proxy_set_buffer_bytes,
  proxy_http_call,
  proxy_define_metric,
  proxy_increment_metric,
  proxy_record_metric,
  proxy_get_metric,
  proxy_set_effective_context,
  proxy_done,
  proxy_get_status,
} from "@gcoredev/proxy-wasm-sdk-as/assembly/imports";

/** proxy_status_t */
export namespace Status {
  export const Ok: u32 = 0;
  export const NotFound: u32 = 1;
  export const BadArgument: u32 = 2;
  export const InvalidMemoryAccess: u32 = 6;
  export const Empty: u32 = 7;
  export const CasMismatch: u32 = 8;
  export const InternalFailure: u32 = 10;
}

/** proxy_action_t: what an HTTP callback returns. */
export namespace Action {
  export const Continue: u32 = 0;
  export const Pause: u32 = 1;
}

/** proxy_map_type_t */
export namespace MapType {
  export const RequestHeaders: i32 = 0;
  export const RequestTrailers: i32 = 1;
  export const ResponseHeaders: i32 = 2;
  export const ResponseTrailers: i32 = 3;
  export const HttpCallResponseHeaders: i32 = 6;
  export const HttpCallResponseTrailers: i32 = 7;
}

/** proxy_buffer_type_t */
export namespace BufferType {
  export const HttpRequestBody: i32 = 0;
  export const HttpResponseBody: i32 = 1;
  export const HttpCallResponseBody: i32 = 4;
  export const VmConfiguration: i32 = 6;
  export const PluginConfiguration: i32 = 7;
}

/** proxy_log_level_t */
export namespace LogLevel {
  export const Trace: i32 = 0;
  export const Debug: i32 = 1;
  export const Info: i32 = 2;
  export const Warn: i32 = 3;
  export const Error: i32 = 4;
  export const Critical: i32 = 5;
}

/** proxy_metric_type_t */
export namespace MetricType {
  export const Counter: i32 = 0;
  export const Gauge: i32 = 1;
  export const Histogram: i32 = 2;
}
