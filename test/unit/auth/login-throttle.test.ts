import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../../server/auth/login-throttle.ts';

describe('LoginThrottle', () => {
  it('blocks a user name after maxFailures within the window, until the window ends', () => {
    let now = 0;
    const throttle = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(throttle.retryAfterSeconds('alice', `10.0.0.${i}`)).toBe(0);
      throttle.failed('alice', `10.0.0.${i}`);
    }
    now = 10_000;
    expect(throttle.retryAfterSeconds('alice', '10.0.0.9')).toBe(50);
    now = 60_000;
    expect(throttle.retryAfterSeconds('alice', '10.0.0.9')).toBe(0);
  });

  it('blocks an address guessing many names, and a success clears the name only', () => {
    const throttle = new LoginThrottle({ maxFailures: 2, maxFailuresPerAddress: 3, windowMs: 60_000, now: () => 0 });
    throttle.failed('a', '10.0.0.1');
    throttle.failed('b', '10.0.0.1');
    throttle.failed('c', '10.0.0.1');
    expect(throttle.retryAfterSeconds('d', '10.0.0.1')).toBe(60);
    expect(throttle.retryAfterSeconds('d', '10.0.0.2')).toBe(0);
    throttle.failed('e', '10.0.0.2');
    throttle.failed('e', '10.0.0.3');
    expect(throttle.retryAfterSeconds('e', '10.0.0.4')).toBe(60);
    throttle.succeeded('e');
    expect(throttle.retryAfterSeconds('e', '10.0.0.4')).toBe(0);
    expect(throttle.retryAfterSeconds('x', '10.0.0.1')).toBe(60);
  });

  it('keeps at most maxEntries counters per kind however many names and addresses are tried', () => {
    const throttle = new LoginThrottle({ maxEntries: 100, now: () => 0 });
    for (let i = 0; i < 10_000; i++) throttle.failed(`user-${i}`, `addr-${i}`);
    expect(throttle.sizes).toEqual({ users: 100, addresses: 100 });
  });
});
