import { createHash } from 'node:crypto';
import type { ResourceCodec } from '../envoy/resource-codec.ts';
import { type ResourceKind, type Snapshot, resourceName, typeUrls } from '../envoy/resources.ts';

/** google.protobuf.Any as @grpc/proto-loader (keepCase) takes it. */
export interface EncodedAny {
  type_url: string;
  value: Buffer;
}

export interface EncodedResource {
  name: string;
  any: EncodedAny;
  /** sha256 of the encoded bytes: tells whether a stream's view of a type changed between snapshots. */
  digest: string;
}

/** One snapshot encoded once for every stream: per kind, resources by name in the snapshot's (sorted) order. */
export interface EncodedSnapshot {
  version: string;
  byKind: Record<ResourceKind, Map<string, EncodedResource>>;
}

const kinds = Object.keys(typeUrls) as ResourceKind[];

/** Encodes every resource of a snapshot as an Any; throws (naming the resource) when one cannot be encoded. */
export function encodeSnapshot(snapshot: Snapshot, codec: ResourceCodec): EncodedSnapshot {
  const byKind = {} as Record<ResourceKind, Map<string, EncodedResource>>;
  for (const kind of kinds) {
    const typeUrl = typeUrls[kind];
    const encoded = new Map<string, EncodedResource>();
    for (const resource of snapshot.resources[kind]) {
      const name = resourceName(kind, resource);
      let value: Buffer;
      try {
        value = Buffer.from(codec.encode(typeUrl, resource));
      } catch (error: unknown) {
        throw new Error(`cannot encode ${kind} '${name}': ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      const digest = createHash('sha256').update(value).digest('hex');
      encoded.set(name, { name, any: { type_url: typeUrl, value }, digest });
    }
    byKind[kind] = encoded;
  }
  return { version: snapshot.version, byKind };
}

/** The resources of one kind a subscription asks for: all of them for a wildcard (`null`), else those named. */
export function selectResources(
  snapshot: EncodedSnapshot,
  kind: ResourceKind,
  names: ReadonlySet<string> | null,
): EncodedResource[] {
  const all = snapshot.byKind[kind];
  if (names === null) return [...all.values()];
  const selected: EncodedResource[] = [];
  for (const name of [...names].sort()) {
    const resource = all.get(name);
    if (resource) selected.push(resource);
  }
  return selected;
}

/** One digest for a list of resources (names and bytes), so an unchanged view is not re-sent. */
export function digestOf(resources: readonly EncodedResource[]): string {
  const hash = createHash('sha256');
  for (const resource of resources) hash.update(resource.name).update('\0').update(resource.digest).update('\n');
  return hash.digest('hex');
}
