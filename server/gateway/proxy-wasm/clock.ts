// Clocks for the host: the system clock, and a manual one tests and benchmarks move by hand.
import type { Clock } from './types.ts';

export const systemClock: Clock = {
  nowNanos: () => BigInt(Date.now()) * 1_000_000n,
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
