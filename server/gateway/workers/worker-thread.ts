// One gateway worker thread seen from the main thread: started with its init, asked requests that it answers by
// id, and telling its events (records, log lines). A thread that dies fails every request still waiting.
import { Worker } from 'node:worker_threads';
import type { MainRequest, WorkerEvent, WorkerInit, WorkerMessage, WorkerReply } from './messages.ts';

/** A call that got no answer because its worker thread exited (a death, not a refusal of what was asked). */
export class WorkerExitedError extends Error {
  constructor(index: number) {
    super(`gateway worker ${index} exited`);
    this.name = 'WorkerExitedError';
  }
}

const entry = new URL('./worker-entry.mjs', import.meta.url);

type Request = MainRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;
type OkReply = Extract<WorkerReply, { ok: true }>;

export interface WorkerThreadHooks {
  onEvent(event: Exclude<WorkerEvent, { type: 'started' | 'adopting' }>): void;
  /** It is about to open its descriptor of the traffic socket: from now on it, not main, closes it. */
  onAdopting(): void;
  /** The thread ended without being asked to (after it started); `error` when it threw. */
  onDeath(error: unknown, exitCode: number): void;
}

export class WorkerThread {
  private readonly pending = new Map<number, { resolve: (reply: OkReply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private isStopping = false;
  version: string | null = null;

  private constructor(private readonly worker: Worker) {}

  /** Resolves once the worker serves `init.snapshot` (when given) and listens. */
  static start(init: WorkerInit, hooks: WorkerThreadHooks): Promise<WorkerThread> {
    const worker = new Worker(entry, { workerData: init });
    const thread = new WorkerThread(worker);
    return new Promise((resolve, reject) => {
      let isStarted = false;
      let failure: unknown = null;
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'reply') thread.settle(message);
        else if (message.type === 'adopting') hooks.onAdopting();
        else if (message.type === 'started') {
          isStarted = true;
          thread.version = message.version;
          resolve(thread);
        } else hooks.onEvent(message);
      });
      worker.on('error', (error) => { failure = error; });
      worker.on('exit', (code) => {
        for (const waiting of thread.pending.values()) waiting.reject(new WorkerExitedError(init.index));
        thread.pending.clear();
        if (!isStarted) reject(failure ?? new Error(`gateway worker ${init.index} exited (${code}) before listening`));
        else if (!thread.isStopping) hooks.onDeath(failure, code);
      });
    });
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  /** Posts a request and waits for its reply; rejects when the worker refuses it or exits first. */
  call(request: Request): Promise<OkReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private settle(reply: WorkerReply): void {
    const waiting = this.pending.get(reply.id);
    if (waiting === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) waiting.resolve(reply);
    else waiting.reject(new Error(reply.error));
  }

  /** Stops accepting, lets requests in flight finish (closeServer), then ends the thread. */
  async stop(): Promise<void> {
    this.isStopping = true;
    await this.call({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  /** Ends the thread at once, as a crash would (tests). */
  async kill(): Promise<void> {
    await this.worker.terminate();
  }
}
