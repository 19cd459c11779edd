// The request body through the filter chain's body phase, with backpressure (the response body's phase is in
// response-relay.ts, fed by the upstream attempt).
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { FilterChainRun } from './filter-chain.ts';
import type { LocalReply } from './proxy-wasm/types.ts';

const EMPTY = new Uint8Array(0);

/** Request body through the chain's body phase to the upstream, with backpressure. */
export function streamRequestBody(
  req: IncomingMessage, chain: FilterChainRun, upstream: Writable, onLocalReply: (reply: LocalReply | Promise<LocalReply>) => void,
): void {
  const pass = (chunk: Uint8Array, end: boolean): boolean => {
    const outcome = chain.requestBody(chunk, end);
    if (outcome instanceof Promise || outcome.action === 'localReply') {
      upstream.destroy();
      req.resume();
      onLocalReply(outcome);
      return false;
    }
    if (outcome.data !== null && outcome.data.length > 0 && !upstream.write(outcome.data)) {
      req.pause();
      upstream.once('drain', () => req.resume());
    }
    if (end) upstream.end();
    return true;
  };
  req.on('data', (chunk: Buffer) => {
    if (!pass(chunk, false)) req.removeAllListeners('data');
  });
  req.once('end', () => {
    if (!upstream.destroyed) pass(EMPTY, true);
  });
}
