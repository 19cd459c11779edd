// Local replies. A local reply stops the filter chain; the callback must then return Action.Pause
// (Envoy: "the filter chain is stopped after send_local_response"; the upstream is never called).
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/wasm_filter
import { proxy_send_local_response, Action } from "./abi";
import { Header, PairsWriter, serializePairs } from "./headers";
import { writeJsonString } from "./json";

/** Sends a local reply with `body` and `headers`; returns Action.Pause for the callback to return. */
export function sendLocalReply(status: u32, details: string, body: string, headers: Array<Header>): u32 {
  return sendEncodedReply(status, String.UTF8.encode(details), String.UTF8.encode(body), serializePairs(headers));
}

/**
 * Sends a local reply from bytes encoded once at configure time (`pairs` as `serializePairs` makes them): the
 * replies a module sends on every request of a route (respond, redirect, cors preflights) cost no encoding.
 */
export function sendEncodedReply(status: u32, detailBytes: ArrayBuffer, bodyBytes: ArrayBuffer, pairs: ArrayBuffer): u32 {
  proxy_send_local_response(
    status,
    changetype<usize>(detailBytes), <usize>detailBytes.byteLength,
    changetype<usize>(bodyBytes), <usize>bodyBytes.byteLength,
    changetype<usize>(pairs), <usize>pairs.byteLength,
    // grpc_status -1: not a gRPC reply.
    <u32>-1,
  );
  return Action.Pause;
}

/** Sends a local reply whose headers were just written into `pairs` (see PairsWriter). */
export function sendWrittenReply(status: u32, detailBytes: ArrayBuffer, bodyBytes: ArrayBuffer, pairs: PairsWriter): u32 {
  proxy_send_local_response(
    status,
    changetype<usize>(detailBytes), <usize>detailBytes.byteLength,
    changetype<usize>(bodyBytes), <usize>bodyBytes.byteLength,
    pairs.pointer, pairs.size,
    <u32>-1,
  );
  return Action.Pause;
}

/**
 * Sends `{"status":"error","message":<message>}` with `status` and content-type application/json.
 * `details` becomes Envoy's response code details (visible in access logs), e.g. "apip_api_key_invalid".
 */
export function sendJsonError(status: u32, details: string, message: string, extraHeaders: Array<Header> | null = null): u32 {
  const headers = new Array<Header>(0);
  headers.push(new Header("content-type", "application/json"));
  if (extraHeaders !== null) {
    for (let i = 0; i < extraHeaders.length; i++) headers.push(unchecked(extraHeaders[i]));
  }
  return sendLocalReply(status, details, '{"status":"error","message":' + writeJsonString(message) + "}", headers);
}

/** The reply of a policy whose configuration was refused: every request fails closed. */
export function sendMisconfigured(): u32 {
  return sendJsonError(500, "apip_policy_misconfigured", "Policy configuration is invalid.");
}
