// Verified tokens by their compact serialization, so a token seen again skips base64, JSON and the signature.
// Bounded: first in, first out through a ring of keys (O(1), no scan); an entry also leaves once its token
// is past exp. Only the signature and the claim parsing are cached: each request still checks the route's
// allow-list, key set, time window, issuer, audience, scopes and client against the cached claims.
import { VerifiedToken } from "./token";

export class TokenCache {
  private readonly map: Map<string, VerifiedToken> = new Map<string, VerifiedToken>();
  private readonly ring: StaticArray<string | null>;
  private next: i32 = 0;

  constructor(public readonly capacity: i32) {
    this.ring = new StaticArray<string | null>(capacity);
  }

  get(token: string): VerifiedToken | null {
    if (this.capacity == 0 || !this.map.has(token)) return null;
    return this.map.get(token);
  }

  put(token: string, verified: VerifiedToken): void {
    if (this.capacity == 0 || this.map.has(token)) return;
    const evicted = unchecked(this.ring[this.next]);
    if (evicted !== null) this.map.delete(evicted);
    unchecked(this.ring[this.next] = token);
    this.next = this.next + 1 == this.capacity ? 0 : this.next + 1;
    this.map.set(token, verified);
  }

  /** Drops an entry (its ring slot is reclaimed when the ring comes round). */
  delete(token: string): void {
    this.map.delete(token);
  }

  get size(): i32 {
    return this.map.size;
  }
}
