import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformConfig } from './config.ts';
import { isMemoryDataDir, secureDataDir } from './data-dir.ts';
import { openDatabase } from './db/client.ts';
import { rotateSecretsKey } from './domain/keys-at-rest.ts';
import { SecretBox } from './domain/secret-box.ts';
import { loadPlatformKeys, secretsKeyFile } from './platform-keys.ts';

export interface SecretsRotation {
  /** Secrets re-sealed. */
  count: number;
  keyId: string;
  /** The key file written (DATA_DIR/secrets.key), or null when SECRETS_KEY is set and `newKey` must replace it. */
  keyFile: string | null;
  /** base64; to be set as SECRETS_KEY when that is how the key is given. */
  newKey: string;
}

/**
 * `npm run secrets:rotate`: re-seals every stored secret under a new secrets key in one transaction. With a key file
 * the new key is written beside it first (`secrets.key.new`, 0600) and moved over it after the commit; with
 * SECRETS_KEY the new key is returned to be set. Run it with the platform stopped (PGlite), or stop every replica
 * (Postgres): a replica still holding the old key cannot open the re-sealed secrets.
 */
export async function rotateSecrets(config: Pick<PlatformConfig, 'dataDir' | 'databaseUrl' | 'keyDigestSecret' | 'secretsKey'>): Promise<SecretsRotation> {
  if (!config.databaseUrl && isMemoryDataDir(config.dataDir)) throw new Error('nothing to rotate: the database is in memory');
  secureDataDir(config.dataDir);
  const current = loadPlatformKeys(config);
  const newKey = randomBytes(32);
  const next = new SecretBox(newKey);
  const keyFile = config.secretsKey ? null : join(config.dataDir, secretsKeyFile);
  if (keyFile) writeFileSync(`${keyFile}.new`, `${newKey.toString('base64')}\n`, { mode: 0o600 });
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  let count: number;
  try {
    count = await rotateSecretsKey(database.db, current.box, next);
  } finally {
    await database.close();
  }
  if (keyFile) renameSync(`${keyFile}.new`, keyFile);
  // PGlite wrote with the process umask.
  secureDataDir(config.dataDir);
  return { count, keyId: next.keyId, keyFile, newKey: newKey.toString('base64') };
}
