/** Failed-login limits for the management API. */
export interface LoginThrottleOptions {
  /** Failures allowed per user name within the window; the next attempt gets 429. @default 10 */
  maxFailures?: number;
  /** Failures allowed per client address (higher: several people may share one address). @default 100 */
  maxFailuresPerAddress?: number;
  /** @default 900_000 (15 minutes) */
  windowMs?: number;
  /** Counters kept per kind (names, addresses); the oldest is forgotten first, so rotating names cannot grow memory. @default 10_000 */
  maxEntries?: number;
  now?: () => number;
}

interface Counter {
  failures: number;
  windowStart: number;
}

/** A fixed window per key, in a Map bounded by insertion order (the oldest window is the first to go). */
class FailureCounters {
  private readonly counters = new Map<string, Counter>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  /** Milliseconds until `key` may try again, or 0. */
  blockedFor(key: string, now: number): number {
    const counter = this.live(key, now);
    return counter && counter.failures >= this.maxFailures ? counter.windowStart + this.windowMs - now : 0;
  }

  fail(key: string, now: number): void {
    const counter = this.live(key, now);
    if (counter) {
      counter.failures += 1;
      return;
    }
    if (this.counters.size >= this.maxEntries) {
      const oldest = this.counters.keys().next();
      if (!oldest.done) this.counters.delete(oldest.value);
    }
    this.counters.set(key, { failures: 1, windowStart: now });
  }

  reset(key: string): void {
    this.counters.delete(key);
  }

  get size(): number {
    return this.counters.size;
  }

  private live(key: string, now: number): Counter | undefined {
    const counter = this.counters.get(key);
    if (counter && now - counter.windowStart >= this.windowMs) {
      this.counters.delete(key);
      return undefined;
    }
    return counter;
  }
}

/**
 * Counts failed password logins per user name and per client address. Callers ask `retryAfterSeconds` before
 * verifying anything, so a throttled guess costs neither scrypt work nor a database read.
 */
export class LoginThrottle {
  private readonly byUser: FailureCounters;
  private readonly byAddress: FailureCounters;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    const maxFailures = options.maxFailures ?? 10;
    const windowMs = options.windowMs ?? 900_000;
    const maxEntries = options.maxEntries ?? 10_000;
    this.byUser = new FailureCounters(maxFailures, windowMs, maxEntries);
    this.byAddress = new FailureCounters(options.maxFailuresPerAddress ?? 100, windowMs, maxEntries);
    this.now = options.now ?? Date.now;
  }

  /** Whole seconds (at least 1) until this user name or address may try again, or 0 when it may now. */
  retryAfterSeconds(username: string, address: string): number {
    const now = this.now();
    const ms = Math.max(this.byUser.blockedFor(username, now), this.byAddress.blockedFor(address, now));
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
  }

  failed(username: string, address: string): void {
    const now = this.now();
    this.byUser.fail(username, now);
    this.byAddress.fail(address, now);
  }

  /** A success clears the name's failures; the address keeps its count (one client guessing many names). */
  succeeded(username: string): void {
    this.byUser.reset(username);
  }

  /** Counters held, per kind (tests of the memory bound). */
  get sizes(): { users: number; addresses: number } {
    return { users: this.byUser.size, addresses: this.byAddress.size };
  }
}
