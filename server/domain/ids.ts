import { randomBytes } from 'node:crypto';

/** Prefix per kind of generated id, so an id says what it names (`key_…`). User-chosen API handles are kept as given. */
const prefixes = {
  api: 'api',
  operation: 'op',
  policy: 'pol',
  upstream: 'ups',
  plan: 'pln',
  application: 'app',
  subscription: 'sub',
  apiKey: 'key',
  subscriptionPlan: 'spl',
  user: 'usr',
  audit: 'aud',
  authorizationServer: 'asv',
  keyManager: 'kmg',
} as const;

export type IdKind = keyof typeof prefixes;

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

let lastTime = -1;
let lastRandom: number[] = [];

/** 16 base32 digits of randomness; within one millisecond, the previous value + 1 (monotonic, like ULID). */
function nextRandom(time: number): number[] {
  if (time === lastTime) {
    const next = [...lastRandom];
    for (let i = next.length - 1; i >= 0; i--) {
      next[i] = ((next[i] ?? 0) + 1) % 32;
      if (next[i] !== 0) break;
    }
    lastRandom = next;
    return next;
  }
  lastTime = time;
  // Top digit kept below 16 so a millisecond has room for 2^75 increments before wrapping.
  lastRandom = [...randomBytes(16)].map((b, i) => (i === 0 ? b % 16 : b % 32));
  return lastRandom;
}

/**
 * `<prefix>_` + 10 chars of millisecond time + 16 chars that grow monotonically within a millisecond:
 * ids sort by creation order, which keeps cursor pagination stable without a second sort key.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rand = nextRandom(now)
    .map((d) => alphabet[d])
    .join('');
  return `${prefixes[kind]}_${time}${rand}`;
}

export function hasIdPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(`${prefixes[kind]}_`);
}
