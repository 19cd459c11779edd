// A request body kept for retries: it passes through to the current try while a copy of up to `limit` bytes is
// kept; a retry sends the copy once the client's body has ended. Envoy buffers a body for retries up to the
// connection's buffer limit (per_connection_buffer_limit_bytes, 1 MiB by default) and does not retry beyond it;
// the gateway keeps at most REPLAY_LIMIT_BYTES and does not retry a request whose body was larger.
import { PassThrough, Transform, type TransformCallback } from 'node:stream';

export const REPLAY_LIMIT_BYTES = 64 * 1024;

export class ReplayableBody extends Transform {
  private chunks: Buffer[] = [];
  private size = 0;
  isOverflowed = false;
  isComplete = false;
  /** What the current try reads. */
  private current: PassThrough;

  constructor(private readonly limit = REPLAY_LIMIT_BYTES) {
    super();
    this.current = new PassThrough();
    this.pipe(this.current);
  }

  /** The first try's body stream. */
  get firstTry(): PassThrough {
    return this.current;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.isOverflowed) {
      this.size += chunk.length;
      if (this.size > this.limit) {
        this.isOverflowed = true;
        this.chunks = [];
      } else this.chunks.push(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.isComplete = true;
    this.emit('complete');
    callback();
  }

  /**
   * The whole body for another try, once the client's body has ended; null (now) when it was larger than the
   * limit. The failed try's stream is let go; what still arrives is only kept.
   */
  replay(then: (body: Buffer | null) => void): void {
    if (this.isOverflowed) return then(null);
    this.unpipe(this.current);
    // Nobody reads the pass-through side any more: let it flow so that the client's body keeps arriving.
    this.resume();
    if (this.isComplete) return then(Buffer.concat(this.chunks));
    this.once('complete', () => then(this.isOverflowed ? null : Buffer.concat(this.chunks)));
  }
}
