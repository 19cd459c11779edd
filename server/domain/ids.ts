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
} as const;

export type IdKind = keyof typeof prefixes;

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

/**
 * `<prefix>_` + 10 chars of millisecond time + 16 random chars: ids sort by creation,
 * which keeps cursor pagination stable without a second sort key.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (const b of bytes) rand += alphabet[b % 32];
  return `${prefixes[kind]}_${time}${rand}`;
}

export function hasIdPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(`${prefixes[kind]}_`);
}
