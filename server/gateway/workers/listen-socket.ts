// The traffic socket that every worker thread accepts on. Node 20 has no SO_REUSEPORT and cannot pass handles to
// threads, but a thread can listen on a descriptor number (`server.listen({ fd })`), and the kernel then spreads
// the accepts over every thread's epoll. A descriptor is closed by each handle on it, so no two handles may share
// one number: a second close() would close whatever descriptor took that number meanwhile. So every worker gets
// its own duplicate, made by a child process (socket-duplicator.cjs) that sends the socket back over its IPC
// channel, each copy arriving as a new descriptor. This thread keeps one more copy (the reserve, never listened
// on here) to make duplicates for restarted workers; it closes only the reserve. The copies it handed out are
// never closed here (their wraps are kept, unused): each worker closes its own when it stops, or when it dies.
import { fork } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** The descriptor wrap a handle arrives as (node's TCP handle, not a net.Server). */
interface RawHandle {
  readonly fd: number;
  getsockname(out: { port?: number }): number;
  close(): void;
}

const duplicator = new URL('./socket-duplicator.cjs', import.meta.url);

async function copies(count: number, source: { bind: { host: string; port: number; family: number } } | { handle: RawHandle }): Promise<RawHandle[]> {
  const child = fork(duplicator, [], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const received: RawHandle[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('message', (message: { error?: number; done?: boolean }, handle?: RawHandle) => {
        if (handle !== undefined) received.push(handle);
        if (message.error !== undefined) {
          const code = getSystemErrorName(message.error);
          reject(Object.assign(new Error(`listen ${code}: ${'bind' in source ? `${source.bind.host}:${source.bind.port}` : 'socket copy'}`), { code }));
        }
        if (message.done === true) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`socket duplicator exited (${code})`)));
      if ('bind' in source) child.send({ bind: source.bind, count });
      else child.send({ count }, source.handle as never);
    });
  } catch (error: unknown) {
    for (const handle of received) handle.close();
    child.kill();
    throw error;
  }
  return received;
}

export class SharedListenSocket {
  /** Copies handed to workers: kept so that nothing ever closes them on this thread. */
  private readonly handedOut: RawHandle[] = [];

  private constructor(private readonly reserve: RawHandle, readonly port: number, private readonly spares: RawHandle[]) {}

  /** Binds host:port (0 picks a free port), with `spares` copies made at once for the first workers; nothing
   *  listens until a worker does. */
  static async bind(host: string, port: number, spares = 0): Promise<SharedListenSocket> {
    const address = isIP(host) === 0 ? (await lookup(host)) : { address: host, family: isIP(host) };
    const [reserve, ...rest] = await copies(1 + spares, { bind: { host: address.address, port, family: address.family } });
    if (reserve === undefined) throw new Error('socket duplicator sent no socket');
    const out: { port?: number } = {};
    reserve.getsockname(out);
    return new SharedListenSocket(reserve, out.port ?? port, rest);
  }

  /** A new descriptor of the socket, for one worker that will listen on it. */
  async duplicate(): Promise<number> {
    const [handle] = this.spares.length > 0 ? this.spares.splice(0, 1) : await copies(1, { handle: this.reserve });
    if (handle === undefined) throw new Error('socket duplicator sent no socket');
    this.handedOut.push(handle);
    return handle.fd;
  }

  /** Closes the copy of a worker that never opened it (it died before listening). */
  release(fd: number): void {
    const at = this.handedOut.findIndex((handle) => handle.fd === fd);
    const [handle] = at < 0 ? [] : this.handedOut.splice(at, 1);
    handle?.close();
  }

  /** Closes the reserve; the socket is gone once every worker closed its copy too. */
  close(): void {
    for (const spare of this.spares.splice(0)) spare.close();
    this.reserve.close();
  }
}
