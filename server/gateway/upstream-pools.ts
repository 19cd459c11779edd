// Keep-alive connection pools to upstream endpoints, on undici `Client`s (one connection each, HTTP/1.1, no
// pipelining): a request takes the most recently released connected client (LIFO: fewer idle connections left to
// time out upstream) or a new one. The pool knows whether a request goes out on a connection that already served
// one (what the one retry of a reset keep-alive connection depends on), and a retry can ask for a fresh one.
// Pools are kept per cluster connection settings (`poolKey` and connect timeout): a snapshot that leaves a
// cluster's settings alone keeps its warm connections. Pools no live configuration uses are destroyed.
// undici rather than node:http's Agent: measured on the gateway bench, the node:http client costs about 75 µs of
// CPU more per proxied request (ClientRequest/OutgoingMessage streams, Agent bookkeeping).
import { type buildConnector, Client } from 'undici';
import type { RuntimeCluster } from './clusters.ts';
import type { Endpoint } from './endpoint.ts';
import { endpointTarget } from './endpoint-target.ts';

/** One upstream connection (an undici Client with pipelining 1). */
export class PooledConnection {
  readonly client: Client;
  /** Responses completed on the current connection; 0 after a reconnect. */
  served = 0;
  isConnected = false;
  isIdle = false;

  constructor(private readonly pool: EndpointPool, origin: string, connect: buildConnector.connector) {
    this.client = new Client(origin, {
      connect,
      pipelining: 1,
      // The route timeout covers the exchange (upstream-request.ts); undici's own header/body timeouts are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      // As node:http does: a body filter that changes a body's length cannot fix a content-length already sent.
      strictContentLength: false,
    });
    this.client.on('connect', () => {
      this.isConnected = true;
      this.served = 0;
    });
    this.client.on('disconnect', () => {
      this.isConnected = false;
      this.served = 0;
      if (this.isIdle) this.pool.forget(this);
    });
  }
}

/** The connections to one endpoint with one cluster's connection settings. */
export class EndpointPool {
  private readonly idle: PooledConnection[] = [];
  private readonly all = new Set<PooledConnection>();
  private readonly connector: buildConnector.connector;
  private readonly origin: string;
  /** The TLS server name every request states (undici reconnects when it changes between requests). */
  readonly servername: string;
  private isClosed = false;

  constructor(cluster: RuntimeCluster, endpoint: Endpoint) {
    const target = endpointTarget(cluster, endpoint);
    this.origin = target.origin;
    this.servername = target.servername;
    this.connector = target.connect;
  }

  /** A connection for one request: the last released idle one, or a new one (always new when `fresh`). */
  acquire(fresh: boolean): { connection: PooledConnection; isReused: boolean } {
    let connection = fresh ? undefined : this.idle.pop();
    if (connection === undefined) {
      connection = new PooledConnection(this, this.origin, this.connector);
      this.all.add(connection);
    }
    connection.isIdle = false;
    return { connection, isReused: connection.isConnected && connection.served > 0 };
  }

  /** The request on `connection` is over; `completed`: a response was received in full. */
  release(connection: PooledConnection, completed: boolean): void {
    if (completed) connection.served += 1;
    if (this.isClosed) return;
    connection.isIdle = true;
    // A connection that is gone is not kept: a later request makes a new one.
    if (connection.isConnected) this.idle.push(connection);
    else this.forget(connection);
  }

  /** Drops a connection that closed while idle. */
  forget(connection: PooledConnection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.isIdle = false;
    this.all.delete(connection);
    void connection.client.destroy().catch(() => undefined);
  }

  close(): void {
    this.isClosed = true;
    for (const connection of this.all) void connection.client.destroy().catch(() => undefined);
    this.all.clear();
    this.idle.length = 0;
  }
}

/** The pools of one cluster's connection settings, by endpoint. */
class ClusterPools {
  private readonly byEndpoint = new WeakMap<Endpoint, EndpointPool>();
  private readonly byAddress = new Map<string, EndpointPool>();

  endpoint(cluster: RuntimeCluster, endpoint: Endpoint): EndpointPool {
    let pool = this.byEndpoint.get(endpoint);
    if (pool === undefined) {
      const key = `${endpoint.address}:${endpoint.port}`;
      pool = this.byAddress.get(key);
      if (pool === undefined) {
        pool = new EndpointPool(cluster, endpoint);
        this.byAddress.set(key, pool);
      }
      this.byEndpoint.set(endpoint, pool);
    }
    return pool;
  }

  close(): void {
    for (const pool of this.byAddress.values()) pool.close();
    this.byAddress.clear();
  }
}

function settingsKey(cluster: RuntimeCluster): string {
  return `${cluster.poolKey}\0${cluster.connectTimeoutMs}`;
}

export class UpstreamPools {
  private readonly clusters = new Map<string, ClusterPools>();
  /** Per configuration's cluster object: its pools (no key built per request). */
  private readonly byCluster = new WeakMap<RuntimeCluster, ClusterPools>();

  /** The pool of `endpoint` of `cluster`. */
  poolFor(cluster: RuntimeCluster, endpoint: Endpoint): EndpointPool {
    let pools = this.byCluster.get(cluster);
    if (pools === undefined) {
      const key = settingsKey(cluster);
      pools = this.clusters.get(key);
      if (pools === undefined) {
        pools = new ClusterPools();
        this.clusters.set(key, pools);
      }
      this.byCluster.set(cluster, pools);
    }
    return pools.endpoint(cluster, endpoint);
  }

  /** Destroys pools whose settings none of `clusters` uses. */
  retain(clusters: Iterable<RuntimeCluster>): void {
    const keep = new Set<string>();
    for (const cluster of clusters) keep.add(settingsKey(cluster));
    for (const [key, pools] of this.clusters) {
      if (!keep.has(key)) {
        pools.close();
        this.clusters.delete(key);
      }
    }
  }

  close(): void {
    for (const pools of this.clusters.values()) pools.close();
    this.clusters.clear();
  }
}
