import { eq, isNotNull, not, like } from 'drizzle-orm';
import type { Database, Executor } from '../db/client.ts';
import { apiKeys, authorizationServers, platformKeys, plans, subscriptions } from '../db/schema/index.ts';
import type { PlatformKeys } from './context.ts';
import { openSecurityConfig, sealSecurityConfig } from './plan-security.ts';
import { isSealed, type SecretBox } from './secret-box.ts';
import { digestKeyFingerprint, rekeySha256Digest } from './secrets.ts';

/** A start with keys that do not match what the database was written with. */
export class KeyMismatchError extends Error {}

/**
 * Start-up check and one-time conversion of what is stored under the keys held outside the database, in one
 * transaction before anything else touches the data:
 * - key digests: the first start with a digest key re-keys every stored plain SHA-256 digest (API keys, v0.9
 *   subscription tokens) into `keyDigest` form and records the key's fingerprint; later starts only compare it.
 * - secrets: the first start with a secrets key seals every clear secret (authorization servers' and inline OAuth2
 *   plans' client secrets, symmetric JWT keys) and records the key id; later starts only compare it.
 * @returns what was converted (for the start-up log).
 */
export async function prepareKeysAtRest(db: Database, keys: PlatformKeys): Promise<{ rekeyedDigests: number; sealedSecrets: number }> {
  return db.transaction(async (tx) => {
    const rows = await tx.select().from(platformKeys).for('update');
    const stored = new Map(rows.map((r) => [r.name, r.fingerprint]));
    const fingerprint = digestKeyFingerprint(keys.digestKey);
    let rekeyedDigests = 0;
    let sealedSecrets = 0;
    const digestFingerprint = stored.get('key_digest');
    if (digestFingerprint === undefined) {
      rekeyedDigests = await rekeyDigests(tx, keys.digestKey);
      await tx.insert(platformKeys).values({ name: 'key_digest', fingerprint });
    } else if (digestFingerprint !== fingerprint) {
      throw new KeyMismatchError(
        `the key digest secret (fingerprint ${fingerprint}) is not the one this database's API keys were digested with ` +
          `(fingerprint ${digestFingerprint}): set KEY_DIGEST_SECRET or restore DATA_DIR/key-digest.key as on the other replicas`,
      );
    }
    const secretsKeyId = stored.get('secrets');
    if (secretsKeyId === undefined) {
      sealedSecrets = await sealClearSecrets(tx, keys.box);
      await tx.insert(platformKeys).values({ name: 'secrets', fingerprint: keys.box.keyId });
    } else if (secretsKeyId !== keys.box.keyId) {
      throw new KeyMismatchError(
        `the secrets key (id ${keys.box.keyId}) is not the one this database's secrets are sealed with (id ${secretsKeyId}): ` +
          'set SECRETS_KEY or restore DATA_DIR/secrets.key (after `npm run secrets:rotate`, use the key it wrote)',
      );
    }
    return { rekeyedDigests, sealedSecrets };
  });
}

async function rekeyDigests(tx: Executor, digestKey: Buffer): Promise<number> {
  const keys = await tx.select({ id: apiKeys.id, digest: apiKeys.digest }).from(apiKeys);
  for (const k of keys) await tx.update(apiKeys).set({ digest: rekeySha256Digest(digestKey, k.digest) }).where(eq(apiKeys.id, k.id));
  const tokens = await tx.select({ id: subscriptions.id, tokenHash: subscriptions.tokenHash }).from(subscriptions).where(isNotNull(subscriptions.tokenHash));
  for (const s of tokens) await tx.update(subscriptions).set({ tokenHash: rekeySha256Digest(digestKey, s.tokenHash!) }).where(eq(subscriptions.id, s.id));
  return keys.length + tokens.length;
}

async function sealClearSecrets(tx: Executor, box: SecretBox): Promise<number> {
  let sealed = 0;
  const servers = await tx.select({ id: authorizationServers.id, clientSecret: authorizationServers.clientSecret }).from(authorizationServers).where(not(like(authorizationServers.clientSecret, 'enc:%')));
  for (const s of servers) {
    await tx.update(authorizationServers).set({ clientSecret: box.seal(s.clientSecret) }).where(eq(authorizationServers.id, s.id));
    sealed++;
  }
  const planRows = await tx.select({ id: plans.id, security: plans.security, config: plans.securityConfig }).from(plans);
  for (const p of planRows) {
    const next = sealSecurityConfig(box, p.security, p.config);
    if (JSON.stringify(next) === JSON.stringify(p.config)) continue;
    await tx.update(plans).set({ securityConfig: next }).where(eq(plans.id, p.id));
    sealed++;
  }
  return sealed;
}

/**
 * Re-seals every stored secret from `from` to `to` in one transaction and records the new key id (the rotation
 * command, scripts/rotate-secrets.ts). Throws, changing nothing, when a secret does not open under `from`.
 */
export async function rotateSecretsKey(db: Database, from: SecretBox, to: SecretBox): Promise<number> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(platformKeys).where(eq(platformKeys.name, 'secrets')).for('update');
    if (row && row.fingerprint !== from.keyId) {
      throw new KeyMismatchError(`the current secrets key (id ${from.keyId}) is not the one the database records (id ${row.fingerprint})`);
    }
    let count = 0;
    const servers = await tx.select({ id: authorizationServers.id, clientSecret: authorizationServers.clientSecret }).from(authorizationServers);
    for (const s of servers) {
      const clear = isSealed(s.clientSecret) ? from.open(s.clientSecret) : s.clientSecret;
      await tx.update(authorizationServers).set({ clientSecret: to.seal(clear) }).where(eq(authorizationServers.id, s.id));
      count++;
    }
    const planRows = await tx.select({ id: plans.id, security: plans.security, config: plans.securityConfig }).from(plans);
    for (const p of planRows) {
      const opened = openSecurityConfig(from, p.security, p.config);
      const next = sealSecurityConfig(to, p.security, opened);
      if (JSON.stringify(next) === JSON.stringify(p.config)) continue;
      await tx.update(plans).set({ securityConfig: next }).where(eq(plans.id, p.id));
      count++;
    }
    await tx
      .insert(platformKeys)
      .values({ name: 'secrets', fingerprint: to.keyId })
      .onConflictDoUpdate({ target: platformKeys.name, set: { fingerprint: to.keyId, updatedAt: new Date() } });
    return count;
  });
}
