// The response half of a proxied request: the upstream's head and body to the client, through the response
// filters when the route has any. While the response headers phase is pending (it runs batched at the end of the
// turn) the body chunks and end that arrive are held, past HOLD_LIMIT with undici paused, then replayed in order;
// the client's backpressure pauses the upstream too. Responses without filters go out batched per turn as well.
import type { ServerResponse } from 'node:http';
import type { FilterChainRun, PhaseOutcome, ResponseHeadersListener } from './filter-chain.ts';
import type { Decision } from './gateway-metrics.ts';
import { endToEndRaw } from './http-headers.ts';
import { sendLocalReply } from './local-replies.ts';
import { HeaderMap } from './proxy-wasm/header-map.ts';
import type { TurnBatcher } from './turn-batcher.ts';
import type { UpstreamAttempt } from './upstream-request.ts';

const EMPTY = new Uint8Array(0);

/** Response bytes held while the response headers phase is pending before undici is asked to pause. */
const HOLD_LIMIT = 64 * 1024;

function firstValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

function responseHasNoBody(method: string, status: number, headers: readonly string[]): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || firstValue(headers, 'content-length') === '0';
}

/** The response callbacks of the upstream attempt (UpstreamHandlers) and of the response filters. The request
 *  half (Exchange, exchange.ts) extends it: one object per request, no closures per phase. */
export abstract class ResponseRelay implements ResponseHeadersListener {
  decision: Decision = 'gateway';
  /** The details of a local reply, kept only for onRequestComplete. */
  details: string | null = null;
  protected chain: FilterChainRun | null = null;
  protected attempt: UpstreamAttempt | null = null;
  protected method = 'GET';
  /** A local reply or reset replaced the upstream response. */
  protected isResponseReplaced = false;
  /** Response body callbacks run (false when the response headers ended the stream). */
  private hasResponseBodyPhase = true;
  /** The last upstream chunk, held until the next one or the end (so that a body that arrives with its end goes
   *  through the body phase once, with end_of_stream, as Envoy's HTTP/1 codec delivers it) or the next microtask. */
  private pendingChunk: Buffer | null = null;
  /** Body bytes still to come by the response's content-length; -1 when it has none (chunked). */
  private bodyRemaining = -1;
  private isFlushScheduled = false;
  private isWaitingForDrain = false;
  /** A response without filters waiting for the end of turn (releasePlain): its head. */
  private plainHeaders: string[] | null = null;
  // The response while its headers phase is pending (responseHeadersBatched): body chunks and the end that undici
  // delivered meanwhile are held, then replayed in order.
  private responseMap: HeaderMap | null = null;
  private responseStatus = 0;
  private heldChunks: Buffer[] | null = null;
  private heldBytes = 0;
  private isEndHeld = false;
  private isHeldPaused = false;

  constructor(readonly res: ServerResponse, private readonly releases: TurnBatcher<ResponseRelay>) {}

  /** Logs, drops the upstream response and answers 500. */
  abstract internalError(error: unknown, message: string): void;

  /** The end of turn (releases): the response without filters goes out, head and what was held. */
  releasePlain(): void {
    const held = this.heldChunks ?? [];
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.res.writeHead(this.responseStatus, this.plainHeaders ?? []);
    this.plainHeaders = null;
    for (const chunk of held) this.takeChunk(chunk);
    if (this.isEndHeld) this.onUpstreamEnd();
    else if (this.isHeldPaused && !this.isWaitingForDrain) this.attempt?.resume();
  }

  onUpstreamResponse(status: number, rawHeaders: string[]): boolean {
    try {
      return this.startResponse(status, rawHeaders);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
      return true;
    }
  }

  private startResponse(status: number, rawHeaders: string[]): boolean {
    const headers = endToEndRaw(rawHeaders);
    const contentLength = firstValue(headers, 'content-length');
    this.bodyRemaining = contentLength === undefined ? -1 : Number(contentLength);
    const { chain } = this;
    if (chain === null) {
      // Written at the end of the event-loop turn with the other responses of the turn (see proxy.ts).
      this.decision = 'forwarded';
      this.plainHeaders = headers;
      this.responseStatus = status;
      this.heldChunks = [];
      this.releases.add(this);
      return true;
    }
    const map = new HeaderMap();
    map.add(':status', String(status));
    // endToEndRaw lowercased the names.
    map.appendLowercaseFlat(headers);
    const endOfStream = responseHasNoBody(this.method, status, headers);
    this.hasResponseBodyPhase = !endOfStream;
    this.responseMap = map;
    this.responseStatus = status;
    this.heldChunks = [];
    chain.responseHeadersBatched(map, endOfStream, this);
    return true;
  }

  /** ResponseHeadersListener: the body when one chunk and the end arrived with the headers (a body phase then
   *  runs in the batch, once, with end_of_stream, as when it is passed on below). */
  completeBody(): Uint8Array | null {
    const held = this.heldChunks;
    if (held === null || !this.isEndHeld || held.length !== 1 || !this.hasResponseBodyPhase || this.isResponseReplaced) return null;
    return held[0] ?? null;
  }

  /** The response filters' outcome (ResponseHeadersListener): the head goes out, then the body the batch ran
   *  through the filters, or what was held. */
  afterResponseHeaders(outcome: PhaseOutcome | Promise<PhaseOutcome>, body: Uint8Array | false | null): void {
    const map = this.responseMap as HeaderMap;
    const status = this.responseStatus;
    this.responseMap = null;
    if (outcome instanceof Promise) {
      outcome.then((settled) => this.releaseHeld(settled, map, status))
        .catch((error: unknown) => this.internalError(error, 'response filters failed'));
      return;
    }
    try {
      if (body === null) this.releaseHeld(outcome, map, status);
      else this.sendFiltered(outcome, map, status, body);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }

  /** The head, then the whole body as the batch's body callbacks left it (a local reply there resets). */
  private sendFiltered(outcome: PhaseOutcome, map: HeaderMap, status: number, body: Uint8Array | false): void {
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.afterResponseFilters(outcome, map, status);
    if (this.isResponseReplaced) return;
    if (body === false) {
      this.replaceResponse();
      this.res.destroy();
      return;
    }
    this.res.end(body.length > 0 ? body : undefined);
  }

  private releaseHeld(outcome: PhaseOutcome, map: HeaderMap, status: number): void {
    const held = this.heldChunks ?? [];
    this.heldChunks = null;
    if (this.isResponseReplaced || this.res.destroyed) return;
    this.afterResponseFilters(outcome, map, status);
    if (this.isResponseReplaced) return;
    for (const chunk of held) this.takeChunk(chunk);
    if (this.isEndHeld) this.onUpstreamEnd();
    else if (this.isHeldPaused && !this.isWaitingForDrain) this.attempt?.resume();
  }

  private afterResponseFilters(outcome: PhaseOutcome, map: HeaderMap, status: number): void {
    if (outcome.action === 'localReply') {
      this.decision = 'local_reply';
      this.details = outcome.details;
      this.replaceResponse();
      sendLocalReply(this.res, outcome);
      return;
    }
    this.decision = 'forwarded';
    this.res.writeHead(Number(map.get(':status') ?? status), map.toFlatWithoutPseudo());
  }

  /** Stops the upstream response: what the client gets instead is decided by the caller. */
  protected replaceResponse(): void {
    this.isResponseReplaced = true;
    this.pendingChunk = null;
    this.attempt?.abort();
  }

  onUpstreamData(chunk: Buffer): boolean {
    try {
      return this.takeChunk(chunk);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
      return true;
    }
  }

  private takeChunk(chunk: Buffer): boolean {
    if (this.isResponseReplaced) return true;
    const held = this.heldChunks;
    if (held !== null) {
      held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < HOLD_LIMIT) return true;
      // Enough held: undici pauses this response until releaseHeld resumes it.
      this.isHeldPaused = true;
      return false;
    }
    const previous = this.pendingChunk;
    if (previous !== null) {
      this.pendingChunk = null;
      this.passChunk(previous, false);
    }
    if (this.bodyRemaining >= 0) {
      this.bodyRemaining -= chunk.length;
      // The last bytes by content-length: undici reports the end in the same parse, right after this chunk.
      if (this.bodyRemaining <= 0) this.pendingChunk = chunk;
      else this.passChunk(chunk, false);
    } else {
      this.pendingChunk = chunk;
      if (!this.isFlushScheduled) {
        this.isFlushScheduled = true;
        queueMicrotask(() => this.flushPending());
      }
    }
    const { res } = this;
    if (!res.writableNeedDrain || this.isResponseReplaced) return true;
    if (!this.isWaitingForDrain) {
      this.isWaitingForDrain = true;
      res.once('drain', () => {
        this.isWaitingForDrain = false;
        this.attempt?.resume();
      });
    }
    return false;
  }

  private flushPending(): void {
    this.isFlushScheduled = false;
    const pending = this.pendingChunk;
    if (pending === null || this.isResponseReplaced) return;
    this.pendingChunk = null;
    try {
      this.passChunk(pending, false);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }

  /** One chunk through the response body phase (reverse chain order) to the client. */
  private passChunk(chunk: Uint8Array, end: boolean): void {
    const { res, chain } = this;
    if (chain === null || !this.hasResponseBodyPhase) {
      if (end) res.end(chunk);
      else res.write(chunk);
      return;
    }
    const outcome = chain.responseBody(chunk, end);
    if (outcome.action === 'localReply') {
      // Headers are already out: a local reply this late can only reset the stream, as in Envoy.
      this.replaceResponse();
      res.destroy();
      return;
    }
    const data = outcome.data !== null && outcome.data.length > 0 ? outcome.data : null;
    if (end) res.end(data ?? undefined);
    else if (data !== null) res.write(data);
  }

  onUpstreamEnd(): void {
    if (this.isResponseReplaced) return;
    if (this.heldChunks !== null) {
      this.isEndHeld = true;
      return;
    }
    const pending = this.pendingChunk;
    this.pendingChunk = null;
    try {
      if (pending !== null) this.passChunk(pending, true);
      else if (this.chain === null || !this.hasResponseBodyPhase) this.res.end();
      else this.passChunk(EMPTY, true);
    } catch (error: unknown) {
      this.internalError(error, 'response filters failed');
    }
  }
}
