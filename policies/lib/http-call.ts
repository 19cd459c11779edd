// proxy_http_call from a stream. Envoy's host owns every call by the root context and answers there
// (./runtime.ts onHttpCallResponse); going through here is what lets the answer reach the calling stream.
import { proxy_http_call, Status } from "./abi";
import { Header, serializePairs } from "./headers";
import { RETURN_U32 } from "./memory";
import { HttpContext, rememberCaller } from "./runtime";

/** A dispatched call: `status` is the host's answer to proxy_http_call, `token` valid when it is Status.Ok. */
export class HttpCall {
  constructor(public status: u32, public token: u32) {}
}

/**
 * Dispatches a request to `cluster` (headers must hold :method, :path and :authority) for `stream`; its response
 * arrives at `stream.onHttpCallResponse`. No trailers: nothing we call needs them.
 */
export function httpCall(stream: HttpContext, cluster: string, headers: Array<Header>, body: ArrayBuffer, timeoutMs: u32): HttpCall {
  const pairs = serializePairs(headers);
  const trailers = serializePairs(new Array<Header>(0));
  const upstream = String.UTF8.encode(cluster);
  store<u32>(RETURN_U32, 0);
  const status = proxy_http_call(
    changetype<usize>(upstream), <usize>upstream.byteLength, changetype<usize>(pairs), <usize>pairs.byteLength,
    changetype<usize>(body), <usize>body.byteLength, changetype<usize>(trailers), <usize>trailers.byteLength,
    timeoutMs, RETURN_U32,
  );
  const token = load<u32>(RETURN_U32);
  if (status == Status.Ok) rememberCaller(token, stream);
  return new HttpCall(<u32>status, token);
}
