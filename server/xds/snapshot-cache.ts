import type { EnvoyResources, Snapshot, SnapshotSource } from '../envoy/resources.ts';

export interface SnapshotCacheOptions {
  /**
   * First part of every version: the start time in milliseconds, so a restarted control plane never reuses a
   * version an Envoy still holds (Envoy would treat the same version as "nothing new").
   * @default Date.now() at construction
   */
  epoch?: number;
}

/**
 * The current snapshot of one control plane. Versions are `<epoch>-<counter>`: monotonic within the process
 * (the counter) and across restarts (the epoch). Publishing resources identical to the current ones keeps
 * the current version, so periodic rebuilds push nothing to data planes unless something changed.
 */
export class SnapshotCache implements SnapshotSource {
  private readonly epoch: number;
  private counter = 0;
  private snapshot: Snapshot | null = null;
  private fingerprint = '';
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();

  constructor(options: SnapshotCacheOptions = {}) {
    this.epoch = options.epoch ?? Date.now();
  }

  current(): Snapshot | null {
    return this.snapshot;
  }

  subscribe(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Publishes `resources` as the new snapshot unless they equal the current ones; returns the current snapshot. */
  publish(resources: EnvoyResources): Snapshot {
    // The translator's output is deterministic (lists sorted by name, no timestamps), so equal
    // configuration serialises to equal text.
    const fingerprint = JSON.stringify(resources);
    if (this.snapshot && fingerprint === this.fingerprint) return this.snapshot;
    this.counter += 1;
    const snapshot: Snapshot = { version: `${this.epoch}-${this.counter}`, resources };
    this.snapshot = snapshot;
    this.fingerprint = fingerprint;
    for (const listener of this.listeners) listener(snapshot);
    return snapshot;
  }
}

/** Orders two versions of this cache's format (`<epoch>-<counter>`); negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const [aEpoch = 0, aCounter = 0] = a.split('-').map(Number);
  const [bEpoch = 0, bCounter = 0] = b.split('-').map(Number);
  return aEpoch - bEpoch || aCounter - bCounter;
}
