// Atomic configuration swaps. Each request takes the current configuration once, at its start, and releases it
// at its end; a swap only changes which configuration new requests take. A replaced configuration is disposed of
// (plugins it alone used are closed, pools it alone used are released, its health checks and outlier sweeps
// stop) when its last request has finished.
import type { RuntimeCluster } from './clusters.ts';
import type { Plugin } from './proxy-wasm/plugin.ts';
import type { RuntimeConfig } from './runtime-config.ts';

export interface LiveConfig {
  readonly config: RuntimeConfig;
  inFlight: number;
  isRetired: boolean;
}

export interface ConfigHolderHooks {
  /** A retired configuration drained; `live` are the configurations still in use (current first). */
  onDisposed(config: RuntimeConfig, live: readonly RuntimeConfig[]): void;
}

export class ConfigHolder {
  private currentLive: LiveConfig | null = null;
  private readonly draining = new Set<LiveConfig>();
  private readonly pluginUsers = new Map<Plugin, number>();
  /** Configurations using each cluster (one carried over by runtime-config.ts is used by several). */
  private readonly clusterUsers = new Map<RuntimeCluster, number>();

  constructor(private readonly hooks: ConfigHolderHooks) {}

  get current(): RuntimeConfig | null {
    return this.currentLive?.config ?? null;
  }

  /** Takes the current configuration for one request; pair with release(). */
  acquire(): LiveConfig | null {
    const live = this.currentLive;
    if (live !== null) live.inFlight += 1;
    return live;
  }

  release(live: LiveConfig): void {
    live.inFlight -= 1;
    if (live.isRetired && live.inFlight === 0) this.dispose(live);
  }

  swap(config: RuntimeConfig): void {
    for (const cluster of config.clusters.values()) {
      const users = (this.clusterUsers.get(cluster) ?? 0) + 1;
      this.clusterUsers.set(cluster, users);
      if (users === 1) cluster.startUpkeep();
    }
    for (const plugin of config.plugins.values()) this.pluginUsers.set(plugin, (this.pluginUsers.get(plugin) ?? 0) + 1);
    const previous = this.currentLive;
    this.currentLive = { config, inFlight: 0, isRetired: false };
    if (previous === null) return;
    previous.isRetired = true;
    this.draining.add(previous);
    if (previous.inFlight === 0) this.dispose(previous);
  }

  private dispose(live: LiveConfig): void {
    if (!this.draining.delete(live)) return;
    for (const cluster of live.config.clusters.values()) {
      const users = (this.clusterUsers.get(cluster) ?? 1) - 1;
      if (users > 0) this.clusterUsers.set(cluster, users);
      else {
        this.clusterUsers.delete(cluster);
        cluster.stopUpkeep();
      }
    }
    for (const plugin of live.config.plugins.values()) {
      const users = (this.pluginUsers.get(plugin) ?? 1) - 1;
      if (users > 0) this.pluginUsers.set(plugin, users);
      else {
        this.pluginUsers.delete(plugin);
        plugin.close();
      }
    }
    this.hooks.onDisposed(live.config, this.liveConfigs());
  }

  /** The current configuration and every retired one still serving requests. */
  liveConfigs(): RuntimeConfig[] {
    const out: RuntimeConfig[] = [];
    if (this.currentLive !== null) out.push(this.currentLive.config);
    for (const live of this.draining) out.push(live.config);
    return out;
  }

  /** Closes every plugin and stops every health check (gateway shutdown). */
  close(): void {
    for (const cluster of this.clusterUsers.keys()) cluster.stopUpkeep();
    this.clusterUsers.clear();
    for (const plugin of this.pluginUsers.keys()) plugin.close();
    this.pluginUsers.clear();
  }
}
