// Keep-alive connection pools, one per cluster's connection settings (`poolKey`): a snapshot that leaves a
// cluster's TLS settings alone keeps its warm connections. Pools no live configuration uses are destroyed.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { RuntimeCluster } from './clusters.ts';

export class UpstreamPools {
  private readonly agents = new Map<string, HttpAgent>();

  agentFor(cluster: RuntimeCluster): HttpAgent {
    let agent = this.agents.get(cluster.poolKey);
    if (agent === undefined) {
      // LIFO reuses the most recently returned socket: fewer idle sockets left to time out upstream.
      const common = { keepAlive: true, scheduling: 'lifo' as const, maxFreeSockets: 1024, noDelay: true };
      agent = cluster.tls === null
        ? new HttpAgent(common)
        : new HttpsAgent({
          ...common,
          rejectUnauthorized: cluster.tls.verify,
          ...(cluster.tls.ca === undefined ? {} : { ca: cluster.tls.ca }),
          ...(cluster.tls.sni === undefined ? {} : { servername: cluster.tls.sni }),
        });
      this.agents.set(cluster.poolKey, agent);
    }
    return agent;
  }

  /** Destroys pools whose key none of `clusters` uses. */
  retain(clusters: Iterable<RuntimeCluster>): void {
    const keep = new Set<string>();
    for (const cluster of clusters) keep.add(cluster.poolKey);
    for (const [key, agent] of this.agents) {
      if (!keep.has(key)) {
        agent.destroy();
        this.agents.delete(key);
      }
    }
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
