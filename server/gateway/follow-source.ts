// How a gateway (in-thread or on workers) follows its snapshot source, in either thread model.
import type { Snapshot, SnapshotSource } from '../envoy/resources.ts';

/**
 * Subscribes `apply` to the source, after the gateway listens, so that a snapshot already there is applied once,
 * now (awaited; a refusal is logged by `apply`). The listener returns the apply promise: an ADS client awaits it to
 * ACK or NACK. Returns the unsubscribe function.
 */
export async function followSource(source: SnapshotSource, apply: (snapshot: Snapshot) => Promise<void>): Promise<() => void> {
  const initial = source.current();
  const unsubscribe = source.subscribe((snapshot) => {
    const applied = apply(snapshot);
    // A source that ignores the returned promise (the in-process SnapshotCache) must not see an unhandled
    // rejection; the failure is logged in apply, and a source that awaits the promise still sees it.
    applied.catch(() => undefined);
    return applied;
  });
  if (initial !== null) await apply(initial).catch(() => undefined);
  return unsubscribe;
}
