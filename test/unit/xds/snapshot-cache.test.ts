import { describe, expect, it } from 'vitest';
import { emptyResources, type EnvoyResources, type Snapshot } from '../../../server/envoy/resources.ts';
import { compareVersions, SnapshotCache } from '../../../server/xds/snapshot-cache.ts';

function withCluster(name: string): EnvoyResources {
  return { ...emptyResources(), cluster: [{ name, type: 'STATIC' }] };
}

describe('SnapshotCache', () => {
  it('has no snapshot until the first publish', () => {
    expect(new SnapshotCache().current()).toBeNull();
  });

  it('gives every new configuration a strictly newer version', () => {
    const cache = new SnapshotCache({ epoch: 5 });
    const versions = ['a', 'b', 'c'].map((name) => cache.publish(withCluster(name)).version);
    expect(versions).toEqual(['5-1', '5-2', '5-3']);
    expect(compareVersions(versions[0] ?? '', versions[1] ?? '')).toBeLessThan(0);
    expect(cache.current()?.resources.cluster).toEqual([{ name: 'c', type: 'STATIC' }]);
  });

  it('keeps the current version when the same configuration is published again', () => {
    const cache = new SnapshotCache({ epoch: 5 });
    const first = cache.publish(withCluster('a'));
    const seen: Snapshot[] = [];
    cache.subscribe((snapshot) => seen.push(snapshot));
    expect(cache.publish(withCluster('a'))).toBe(first);
    expect(seen).toEqual([]);
  });

  it('never reuses a version across restarts when the epoch is the start time', () => {
    const before = new SnapshotCache({ epoch: 1_700_000_000_000 });
    const after = new SnapshotCache({ epoch: 1_700_000_000_001 });
    const old = before.publish(withCluster('a')).version;
    const fresh = after.publish(withCluster('a')).version;
    expect(fresh).not.toBe(old);
    expect(compareVersions(old, fresh)).toBeLessThan(0);
    // Numeric, not lexical: counter 10 is newer than counter 9.
    expect(compareVersions('1-9', '1-10')).toBeLessThan(0);
  });

  it('notifies subscribers of each new snapshot until they unsubscribe', () => {
    const cache = new SnapshotCache({ epoch: 1 });
    const seen: string[] = [];
    const unsubscribe = cache.subscribe((snapshot) => seen.push(snapshot.version));
    cache.publish(withCluster('a'));
    unsubscribe();
    cache.publish(withCluster('b'));
    expect(seen).toEqual(['1-1']);
  });
});
