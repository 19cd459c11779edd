// The host's own local replies, used when a module cannot give an answer. JSON bodies match the policies'
// `{"status":"error","message":...}`; details are Envoy-style response code details for access logs.
import { encodeUtf8 } from './utf8.ts';
import type { LocalReply } from './types.ts';

function failure(status: number, details: string, message: string): LocalReply {
  return {
    action: 'localReply',
    status,
    headers: [['content-type', 'application/json']],
    body: encodeUtf8(JSON.stringify({ status: 'error', message })),
    details,
  };
}

/** The VM failed (a trap, or memory beyond the limit) during this request or before it: Envoy's
 *  Context::failStream answer, fail closed (503, no body, details `wasm_fail_stream`). */
export const failStreamReply = (): LocalReply => ({
  action: 'localReply',
  status: 503,
  headers: [],
  body: new Uint8Array(0),
  details: 'wasm_fail_stream',
});
/** The plugin refused its configuration (or its VM failed to start): requests fail closed. */
export const failClosedReply = (): LocalReply => failure(500, 'wasm_fail_closed', 'Policy is not configured.');
/** The module paused the stream with nothing pending that could resume it. */
export const stalledReply = (): LocalReply => failure(500, 'wasm_stalled', 'Policy did not complete.');
