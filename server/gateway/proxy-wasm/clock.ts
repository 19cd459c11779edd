// Clocks for the host: the system clock, and a manual one tests and benchmarks move by hand.
import type { Clock } from './types.ts';

// The nanosecond BigInt of the current millisecond, kept until the millisecond changes: policies read the time
// several times per request, and two BigInt allocations per read showed in profiles.
let lastMs = -1;
let lastNanos = 0n;

export const systemClock: Clock = {
  nowNanos: () => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastNanos = BigInt(ms) * 1_000_000n;
    }
    return lastNanos;
  },
};

export interface ManualClock extends Clock {
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void;
  /** Sets the clock to `ms` milliseconds since the epoch. */
  set(ms: number): void;
}

/** A clock that only moves when told to, starting at `startMs` milliseconds since the epoch. */
export function createManualClock(startMs: number): ManualClock {
  let nanos = BigInt(startMs) * 1_000_000n;
  return {
    nowNanos: () => nanos,
    advance: (ms) => {
      nanos += BigInt(ms) * 1_000_000n;
    },
    set: (ms) => {
      nanos = BigInt(ms) * 1_000_000n;
    },
  };
}
