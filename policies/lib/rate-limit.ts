// Sliding-window rate limiting over proxy shared data, shared by the throttle and subscription-validation
// policies. Per counter key the stored value is 16 bytes: u64 window index, u32 count in that window, u32 count
// in the window before. The estimate is current + previous × (unelapsed fraction of the current window).
// Updates are committed with the shared data's compare-and-swap, with bounded retries; all of a request's limits
// are checked before any is consumed, and a limit that turns out exceeded while committing rolls back the ones
// already consumed. Design after unkeyed/unkey internal/services/ratelimit.
//
// Known gap: a key that does not exist yet is created with CAS 0 (proxy-wasm has no create-if-absent), so two
// workers creating the same key at the same instant may lose one count. Keys live for the VM's lifetime, so this
// happens at most once per key.
import { Status } from "./abi";
import { Problems, readInteger } from "./config";
import { JsonValue } from "./json";
import { Header, setHeaderU32 } from "./headers";
import { lastSharedCas, readSharedValue, setSharedData } from "./shared-data";

/** CAS attempts per limit before the request is denied as contended. */
export const MAX_CAS_ATTEMPTS: i32 = 8;

export class LimitCheck {
  /**
   * @param key shared-data key of the counter (UTF-8)
   * @param enforce deny when exceeded (stopOnQuotaReach); false lets the request through, marked as exceeded
   */
  constructor(public key: ArrayBuffer, public requests: u32, public windowMs: u64, public enforce: bool) {}
  /** The quota it belongs to (X-RateLimit-Quota, IETF RateLimit fields). */
  quota: string = "default";
  /** Figures of the last checkAndConsume over this check (read them before the next request is checked). */
  remaining: u32 = 0;
  resetSeconds: u32 = 0;
}

export class RateLimitOutcome {
  /** No enforced limit was exceeded (exceeded ones that are not enforced let the request through). */
  allowed: bool = true;
  /** Some limit was over when this request was counted. */
  exceeded: bool = false;
  /** CAS retries were exhausted; the request is denied without being counted. */
  contended: bool = false;
  /** The most restrictive limit's figures, for RateLimit-* headers (hasFigures false: no limits applied). */
  hasFigures: bool = false;
  limit: u32 = 0;
  remaining: u32 = 0;
  resetSeconds: u32 = 0;
  /** Unix time (s) of the most restrictive limit's window end, for X-RateLimit-Reset. */
  resetEpochSeconds: u64 = 0;
  retryAfterSeconds: u32 = 0;
  /** Index of the enforced limit that refused the request (the first one over), -1 when none did. */
  violated: i32 = -1;

  /** RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (IETF draft-ietf-httpapi-ratelimit-headers), and
   *  Retry-After when denied. */
  headers(withRetryAfter: bool): Array<Header> {
    const out = new Array<Header>(0);
    if (!this.hasFigures) return out;
    out.push(new Header("ratelimit-limit", this.limit.toString()));
    out.push(new Header("ratelimit-remaining", this.remaining.toString()));
    out.push(new Header("ratelimit-reset", this.resetSeconds.toString()));
    if (withRetryAfter) out.push(new Header("retry-after", this.retryAfterSeconds.toString()));
    return out;
  }

  /** Sets headers(false) on header map `map`, in the same order, without building strings. */
  setHeaders(map: i32): void {
    if (this.hasFigures) setRateLimitHeaders(map, this.limit, this.remaining, this.resetSeconds);
  }

  /** Back to a fresh outcome, for reuse (throttle checks a route's stages one after another). */
  reset(): RateLimitOutcome {
    this.allowed = true;
    this.exceeded = false;
    this.contended = false;
    this.hasFigures = false;
    this.limit = 0;
    this.remaining = 0;
    this.resetSeconds = 0;
    this.resetEpochSeconds = 0;
    this.retryAfterSeconds = 0;
    this.violated = -1;
    return this;
  }
}

/** RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset on header map `map`, without building strings. */
export function setRateLimitHeaders(map: i32, limit: u32, remaining: u32, resetSeconds: u32): void {
  setHeaderU32(map, RATELIMIT_LIMIT, limit);
  setHeaderU32(map, RATELIMIT_REMAINING, remaining);
  setHeaderU32(map, RATELIMIT_RESET, resetSeconds);
}

// @ts-ignore: decorator
@lazy const RATELIMIT_LIMIT = String.UTF8.encode("ratelimit-limit");
// @ts-ignore: decorator
@lazy const RATELIMIT_REMAINING = String.UTF8.encode("ratelimit-remaining");
// @ts-ignore: decorator
@lazy const RATELIMIT_RESET = String.UTF8.encode("ratelimit-reset");

class WindowState {
  index: u64 = 0;
  current: u32 = 0;
  previous: u32 = 0;
  cas: u32 = 0;
}

// @ts-ignore: decorator
@lazy const STATE_BUFFER = new ArrayBuffer(16);

// WindowState objects reused across requests (callbacks never overlap within a module): one per limit of the
// request being checked, and one for rollbacks.
// @ts-ignore: decorator
@lazy const statePool = new Array<WindowState>(0);
// @ts-ignore: decorator
@lazy const rollbackState = new WindowState();

/** The pooled state for the `i`th limit of a request. */
function pooledState(i: i32): WindowState {
  while (statePool.length <= i) statePool.push(new WindowState());
  return unchecked(statePool[i]);
}

/** Reads the counter `key` for window `index` into `state` (fully overwritten) and returns it. */
function readState(key: ArrayBuffer, index: u64, state: WindowState): WindowState {
  const value = readSharedValue(key);
  state.index = index;
  state.cas = lastSharedCas();
  state.current = 0;
  state.previous = 0;
  if (value === null || value.byteLength < 16) return state;
  const base = changetype<usize>(value);
  const storedIndex = load<u64>(base);
  const storedCurrent = load<u32>(base + 8);
  const storedPrevious = load<u32>(base + 12);
  if (storedIndex == index) {
    state.current = storedCurrent;
    state.previous = storedPrevious;
  } else if (storedIndex + 1 == index) {
    state.previous = storedCurrent;
  }
  return state;
}

function writeState(key: ArrayBuffer, state: WindowState, current: u32): u32 {
  const base = changetype<usize>(STATE_BUFFER);
  store<u64>(base, state.index);
  store<u32>(base + 8, current);
  store<u32>(base + 12, state.previous);
  return setSharedData(key, STATE_BUFFER, state.cas);
}

/** Estimated requests in the sliding window ending now, before this request. */
@inline
function estimate(state: WindowState, elapsedMs: u64, windowMs: u64): f64 {
  return <f64>state.current + <f64>state.previous * (<f64>(windowMs - elapsedMs) / <f64>windowMs);
}

/** Seconds until a request would fit under `requests`, from the state at `elapsedMs` into the window. */
function retryAfterMs(state: WindowState, requests: u32, elapsedMs: u64, windowMs: u64): f64 {
  const limit = <f64>requests;
  const current = <f64>state.current;
  const previous = <f64>state.previous;
  const w = <f64>windowMs;
  if (current + 1 > limit) {
    // Wait for the window to roll over; then `current` becomes the decaying previous count.
    const untilEnd = w - <f64>elapsedMs;
    const fraction = current > 0 ? 1 - (limit - 1) / current : 0;
    return untilEnd + Math.max(0, fraction) * w;
  }
  if (previous <= 0) return 0;
  const fraction = 1 - (limit - 1 - current) / previous;
  return Math.max(0, fraction * w - <f64>elapsedMs);
}

@inline
function ceilSeconds(ms: f64): u32 {
  return <u32>Math.max(1, Math.ceil(ms / 1000));
}

function rollback(checks: Array<LimitCheck>, count: i32, nowMs: u64): void {
  for (let i = 0; i < count; i++) {
    const check = unchecked(checks[i]);
    const index = nowMs / check.windowMs;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const state = readState(check.key, index, rollbackState);
      if (state.current == 0) break;
      if (writeState(check.key, state, state.current - 1) == Status.Ok) break;
    }
  }
}

/**
 * Checks every limit, then counts this request against all of them unless an enforced limit is exceeded.
 * Exceeded limits that are not enforced are reported (`exceeded`) and the request is let through and counted.
 * The answer goes into `into` when given (reset first), else into a new outcome.
 */
export function checkAndConsume(checks: Array<LimitCheck>, nowMs: u64, into: RateLimitOutcome | null = null): RateLimitOutcome {
  const outcome = into !== null ? into.reset() : new RateLimitOutcome();
  const count = checks.length;
  if (count == 0) return outcome;
  let minRemaining: f64 = f64.MAX_VALUE;
  let maxRetryMs: f64 = 0;

  // Phase 1: read and decide, consuming nothing.
  for (let i = 0; i < count; i++) {
    const check = unchecked(checks[i]);
    const index = nowMs / check.windowMs;
    const elapsed = nowMs - index * check.windowMs;
    const state = readState(check.key, index, pooledState(i));
    const used = estimate(state, elapsed, check.windowMs);
    const isOver = used + 1 > <f64>check.requests;
    if (isOver) {
      outcome.exceeded = true;
      if (check.enforce && outcome.allowed) {
        outcome.allowed = false;
        outcome.violated = i;
      }
      maxRetryMs = Math.max(maxRetryMs, retryAfterMs(state, check.requests, elapsed, check.windowMs));
    }
    const remaining = Math.max(0, <f64>check.requests - Math.ceil(used + 1));
    const resetSeconds = ceilSeconds(<f64>(check.windowMs - elapsed));
    check.remaining = <u32>remaining;
    check.resetSeconds = resetSeconds;
    if (remaining < minRemaining || (remaining == minRemaining && resetSeconds > outcome.resetSeconds)) {
      minRemaining = remaining;
      outcome.hasFigures = true;
      outcome.limit = check.requests;
      outcome.remaining = <u32>remaining;
      outcome.resetSeconds = resetSeconds;
      outcome.resetEpochSeconds = ((index + 1) * check.windowMs + 999) / 1000;
    }
  }
  outcome.retryAfterSeconds = ceilSeconds(maxRetryMs);
  if (!outcome.allowed) return outcome;

  // Phase 2: commit each limit with CAS; re-check on conflict.
  for (let i = 0; i < count; i++) {
    const check = unchecked(checks[i]);
    let state = pooledState(i);
    let committed = false;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      if (attempt > 0) {
        state = readState(check.key, state.index, state);
        const elapsed = nowMs - state.index * check.windowMs;
        if (estimate(state, elapsed, check.windowMs) + 1 > <f64>check.requests) {
          outcome.exceeded = true;
          if (check.enforce) {
            rollback(checks, i, nowMs);
            outcome.allowed = false;
            outcome.violated = i;
            check.remaining = 0;
            outcome.remaining = 0;
            outcome.retryAfterSeconds = ceilSeconds(retryAfterMs(state, check.requests, elapsed, check.windowMs));
            return outcome;
          }
        }
      }
      const next = state.current == u32.MAX_VALUE ? state.current : state.current + 1;
      if (writeState(check.key, state, next) == Status.Ok) {
        committed = true;
        break;
      }
    }
    if (!committed) {
      rollback(checks, i, nowMs);
      outcome.allowed = false;
      outcome.violated = i;
      outcome.contended = true;
      return outcome;
    }
  }
  return outcome;
}

/** A configured limit: `requests` per sliding window of `windowMs`. */
export class LimitSpec {
  requests: u32 = 0;
  windowMs: u64 = 0;
}

/** Reads `{ "requests": N >= 1, "windowMs": N >= 1000 }` at `path`. */
export function readLimitSpec(item: JsonValue, path: string, problems: Problems): LimitSpec {
  const spec = new LimitSpec();
  spec.requests = <u32>readInteger(item, "requests", path, problems, true, 1, 1, <f64>u32.MAX_VALUE);
  // At least a second (RateLimit-Reset and Retry-After are whole seconds); at most 400 days.
  spec.windowMs = <u64>readInteger(item, "windowMs", path, problems, true, 1000, 1000, 400 * 86_400_000);
  return spec;
}
