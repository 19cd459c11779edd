import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformKeys } from './domain/context.ts';
import { SecretBox } from './domain/secret-box.ts';
import { isMemoryDataDir } from './data-dir.ts';

/** Where the keys come from: given (KEY_DIGEST_SECRET / SECRETS_KEY), else files under DATA_DIR created on first start. */
export interface PlatformKeySources {
  /** 32 bytes; from `KEY_DIGEST_SECRET` (base64). */
  keyDigestSecret?: Buffer | undefined;
  /** 32 bytes; from `SECRETS_KEY` (base64). */
  secretsKey?: Buffer | undefined;
  dataDir: string;
}

export const keyDigestFile = 'key-digest.key';
export const secretsKeyFile = 'secrets.key';

/**
 * The digest key and the secrets key. A key not given is read from its file under DATA_DIR, created (0600, 32
 * random bytes, base64) on first start. With an in-memory data directory and no key given, a fresh key lives as
 * long as the process (tests, throw-away runs), like the database it protects.
 */
export function loadPlatformKeys(sources: PlatformKeySources): PlatformKeys {
  const digestKey = sources.keyDigestSecret ?? keyFromFile(sources.dataDir, keyDigestFile);
  const secretsKey = sources.secretsKey ?? keyFromFile(sources.dataDir, secretsKeyFile);
  return { digestKey, box: new SecretBox(secretsKey) };
}

function keyFromFile(dataDir: string, name: string): Buffer {
  if (isMemoryDataDir(dataDir)) return randomBytes(32);
  const path = join(dataDir, name);
  try {
    return parseKey(readFileSync(path, 'utf8'), path);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  // 'wx': two processes starting at once cannot both create it; the loser reads the winner's key.
  try {
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return parseKey(readFileSync(path, 'utf8'), path);
    throw error;
  }
}

/** A 32-byte key written as base64 (what the key files and KEY_DIGEST_SECRET / SECRETS_KEY hold). */
export function parseKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== 32) throw new Error(`${what} must hold 32 bytes as base64 (openssl rand -base64 32)`);
  return key;
}
