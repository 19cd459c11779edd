// Active introspection answers by server and SHA-256 of the token (the token itself is never kept), so a token
// seen again skips the authorization server. Bounded: first in, first out through a ring of keys (O(1), no scan,
// as jwt/cache.ts); an entry is dropped when read past its expiry (min(exp, answer time + maxCacheSeconds)).
// Inactive answers and failures are never cached.
import { JsonValue } from "../lib/json";

export class Introspection {
  constructor(
    /** The introspection response (RFC 7662 2.2), `active: true`. */
    public claims: JsonValue,
    /** Scopes from `scope` (space-separated). */
    public scopes: Array<string>,
    /** Epoch ms from `exp`, or -1 when absent. */
    public expMs: f64,
    /** Epoch ms after which the entry is not used (cached entries only). */
    public cachedUntilMs: f64,
  ) {}

  /** The ring slot holding this entry's key (an expired entry's old slot must not evict a newer one). */
  slot: i32 = -1;
}

export class IntrospectionCache {
  private readonly map: Map<string, Introspection> = new Map<string, Introspection>();
  private readonly ring: StaticArray<string | null>;
  private next: i32 = 0;

  constructor(public readonly capacity: i32) {
    this.ring = new StaticArray<string | null>(capacity);
  }

  /** The entry for `key` still valid at `nowMs`, or null (an expired entry is dropped). */
  get(key: string, nowMs: f64): Introspection | null {
    if (this.capacity == 0 || !this.map.has(key)) return null;
    const entry = this.map.get(key);
    if (nowMs >= entry.cachedUntilMs) {
      this.map.delete(key);
      return null;
    }
    return entry;
  }

  put(key: string, entry: Introspection): void {
    if (this.capacity == 0) return;
    if (this.map.has(key)) {
      // A concurrent miss for the same token: keep the newer answer in the same slot.
      entry.slot = this.map.get(key).slot;
      this.map.set(key, entry);
      return;
    }
    const slot = this.next;
    const evicted = unchecked(this.ring[slot]);
    if (evicted !== null && this.map.has(evicted) && this.map.get(evicted).slot == slot) this.map.delete(evicted);
    unchecked(this.ring[slot] = key);
    entry.slot = slot;
    this.next = this.next + 1 == this.capacity ? 0 : this.next + 1;
    this.map.set(key, entry);
  }

  get size(): i32 {
    return this.map.size;
  }
}
