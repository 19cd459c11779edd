import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How the relay fails: `reset` sends a TCP RST on every open connection and keeps accepting (new connections are
 * forwarded: the database restarted, or a middlebox dropped its state);
 * `refuse` closes the listener (connection refused, as when the database host is up and Postgres is not);
 * `blackhole` keeps and accepts connections but forwards nothing (a partition: the peers wait).
 */
export type CutMode = 'reset' | 'refuse' | 'blackhole';

export interface TcpRelay {
  readonly port: number;
  /** `postgres://…` of `url` with its host and port replaced by the relay's. */
  urlThrough(url: string): string;
  cut(mode: CutMode): Promise<void>;
  /** Forward again; connections held by a blackhole resume with nothing lost, as after a healed partition. */
  restore(): Promise<void>;
  /** Connections currently relayed or held. */
  connections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/** A loopback TCP relay to `target` (e.g. Postgres on 127.0.0.1:5432) that tests cut in the ways networks fail. */
export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  let mode: CutMode | null = null;
  const pairs = new Set<Pair>();
  let server: Server;
  let port = 0;

  const reset = (pair: Pair): void => {
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  };
  const hold = (pair: Pair): void => {
    // Unpiped, paused sockets stop reading: bytes wait in the kernel buffers, like packets a partition delays.
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  };

  const accept = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === 'blackhole') hold(pair);
  };

  const listen = async (): Promise<void> => {
    server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
  };
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));

  await listen();

  return {
    get port() {
      return port;
    },
    urlThrough(url: string) {
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(port);
      return through.toString();
    },
    async cut(cutMode: CutMode) {
      mode = cutMode;
      if (cutMode === 'reset') for (const pair of pairs) reset(pair);
      if (cutMode === 'blackhole') for (const pair of pairs) hold(pair);
      if (cutMode === 'refuse') {
        for (const pair of pairs) reset(pair);
        await stopListening();
      }
    },
    async restore() {
      const previous = mode;
      mode = null;
      if (previous === 'refuse') await listen();
      if (previous === 'blackhole') {
        for (const pair of pairs) {
          pair.client.pipe(pair.upstream);
          pair.upstream.pipe(pair.client);
        }
      }
    },
    connections: () => pairs.size,
    async close() {
      for (const pair of pairs) reset(pair);
      if (mode !== 'refuse') await stopListening();
    },
  };
}
