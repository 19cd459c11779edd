// Request and response bodies through the filter chain's body phases, with backpressure both ways.
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { FilterChainRun } from './filter-chain.ts';
import type { LocalReply } from './proxy-wasm/types.ts';

const EMPTY = new Uint8Array(0);

/** Request body through the chain's body phase to the upstream, with backpressure. */
export function streamRequestBody(
  req: IncomingMessage, chain: FilterChainRun, upstream: ClientRequest, onLocalReply: (reply: LocalReply) => void,
): void {
  const pass = (chunk: Uint8Array, end: boolean): boolean => {
    const outcome = chain.requestBody(chunk, end);
    if (outcome.action === 'localReply') {
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

/** Upstream response body through the chain's (reverse-order) body phase to the client. */
export function streamResponseBody(response: IncomingMessage, res: ServerResponse, chain: FilterChainRun, finish: () => void): void {
  response.on('data', (chunk: Buffer) => {
    const outcome = chain.responseBody(chunk, false);
    // Headers are already out: a local reply this late can only reset the stream, as in Envoy.
    if (outcome.action === 'localReply') {
      response.destroy();
      res.destroy();
      return;
    }
    if (outcome.data !== null && outcome.data.length > 0 && !res.write(outcome.data)) {
      response.pause();
      res.once('drain', () => response.resume());
    }
  });
  response.once('end', () => {
    finish();
    const outcome = chain.responseBody(EMPTY, true);
    if (outcome.action === 'localReply') {
      res.destroy();
      return;
    }
    res.end(outcome.data !== null && outcome.data.length > 0 ? outcome.data : undefined);
  });
}
