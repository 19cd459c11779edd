import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;

/**
 * The digest API keys and v0.9 subscription tokens are stored, looked up and shipped to policies as:
 * HMAC-SHA-256 under the platform's digest key (held outside the database) of the SHA-256 of the value, as
 * lowercase hex. Hashing first lets the start-up conversion re-key digests stored as plain SHA-256
 * (`rekeySha256Digest`) without knowing the keys; the modules compute the same (policies/lib/crypto/key-digest.ts).
 */
export function keyDigest(digestKey: Buffer, value: string): string {
  return rekeySha256Digest(digestKey, createHash('sha256').update(value, 'utf8').digest('hex'));
}

/** `keyDigest` of a value whose plain SHA-256 hex is `sha256Hex` (digests stored before keyed digests). */
export function rekeySha256Digest(digestKey: Buffer, sha256Hex: string): string {
  return createHmac('sha256', digestKey).update(Buffer.from(sha256Hex, 'hex')).digest('hex');
}

/** A public fingerprint of the digest key, kept in the database so a start with another key fails clearly. */
export function digestKeyFingerprint(digestKey: Buffer): string {
  return createHmac('sha256', digestKey).update('apip key digest fingerprint').digest('hex').slice(0, 16);
}

/** `apip_` + 64 hex chars from 32 random bytes (v0.9 key format). */
export function generateApiKey(): string {
  return `apip_${randomBytes(32).toString('hex')}`;
}

/** `***` + last 5 characters: enough to recognise a key, not to use it. */
export function maskSecret(value: string): string {
  return `***${value.slice(-5)}`;
}

const N = 16384;
const r = 8;
const p = 1;

/** scrypt password hash: `scrypt$N$r$p$<salt b64>$<hash b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, rr, pp, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n),
    r: Number(rr),
    p: Number(pp),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}
