import { eq } from 'drizzle-orm';
import type { Database } from '../../../server/db/client.ts';
import { apis } from '../../../server/db/schema/index.ts';
import type { ApiInput } from '../../../server/domain/apis/index.ts';
import { emptyResources, type EnvoyResources, type Snapshot } from '../../../server/envoy/resources.ts';
import type { SnapshotPipeline } from '../../../server/xds/runner.ts';
import type { SnapshotCache } from '../../../server/xds/snapshot-cache.ts';

/** The fake model: deployed API handles at one instant. */
export interface FakeModel {
  handles: string[];
  now: number;
}

export interface FakePipelineOptions {
  /** A `temporary` cluster exists while the model's instant is before this (epoch ms). */
  expiresAt?: number;
  /** Validation fails when a cluster of this name is generated. */
  invalid?: string;
  /** Fails this many model loads (counts down). */
  failLoads?: { count: number };
  /** Incremented on every model load. */
  loads?: { count: number };
}

/** A translator stand-in over the real database: one cluster per deployed API, plus a `temporary` cluster while `now` is before `expiresAt`. */
export function fakePipeline(options: FakePipelineOptions = {}): SnapshotPipeline<FakeModel> {
  return {
    loadModel: async (db: Database, now: Date) => {
      if (options.failLoads && options.failLoads.count > 0) {
        options.failLoads.count -= 1;
        throw new Error('database unavailable');
      }
      if (options.loads) options.loads.count += 1;
      const rows = await db.select({ handle: apis.handle }).from(apis).where(eq(apis.deploymentState, 'deployed'));
      return { handles: rows.map((row) => row.handle).sort(), now: now.getTime() };
    },
    translate: (model) => {
      const resources: EnvoyResources = emptyResources();
      const names = [...model.handles];
      if (options.expiresAt !== undefined && model.now < options.expiresAt) names.push('temporary');
      resources.cluster = names.sort().map((name) => ({ name, type: 'STATIC' }));
      return { resources, problems: [] };
    },
    validate: (resources) =>
      resources.cluster.filter((cluster) => cluster.name === options.invalid).map((cluster) => ({ path: String(cluster.name), message: 'rejected' })),
  };
}

/** Resolves with the next snapshot the cache publishes. */
export function nextSnapshot(cache: SnapshotCache, timeoutMs = 5000): Promise<Snapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no snapshot within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = cache.subscribe((snapshot) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(snapshot);
    });
  });
}

export function clusterNames(snapshot: Snapshot | null): string[] {
  return (snapshot?.resources.cluster ?? []).map((cluster) => String(cluster.name));
}


let seq = 0;
/** A minimal deployable API with the given handle. */
export function apiInput(handle: string): ApiInput {
  seq += 1;
  return {
    metadata: { name: handle },
    spec: {
      displayName: `Xds-Test-API-${seq}`,
      version: 'v1.0',
      context: `/xds-test-${seq}/$version`,
      upstream: { main: { url: 'http://127.0.0.1:9000/books' } },
      operations: [{ method: 'GET', path: '/books' }],
    },
  };
}

