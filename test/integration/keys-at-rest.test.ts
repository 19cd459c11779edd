import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, authorizationServers, platformKeys } from '../../server/db/schema/index.ts';
import { loadDeploymentModel } from '../../server/domain/deployment.ts';
import { keyDigest } from '../../server/domain/secrets.ts';
import { secretsKeyFile } from '../../server/platform-keys.ts';
import { rotateSecrets } from '../../server/secrets-rotation.ts';
import { must } from '../helpers/plans-traffic.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { restClient } from '../helpers/rest.ts';
import { seedRestApi } from '../helpers/rest-seed.ts';

// The keys held outside the database (docs/security.md#secrets-at-rest): created owner-only under DATA_DIR on first
// start, a one-time conversion of what an older version stored, a clear refusal of other keys, and the rotation
// command. PGlite on a real directory: that is where DATA_DIR matters.

/** Paths under `dir` (itself included) that group or other may read, write or enter. */
function groupOrOtherAccessible(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & 0o077) !== 0) out.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
  return out;
}

describe('keys and secrets at rest (pglite on a data directory)', () => {
  const root = mkdtempSync(join(tmpdir(), 'apip-keys-'));
  const dataDir = join(root, 'data');
  const keyValue = `legacy-key-${randomBytes(8).toString('hex')}`;
  const clientSecret = `legacy-client-secret-${randomBytes(8).toString('hex')}`;
  let t: TestPlatform | undefined;

  const start = (overrides: Parameters<typeof startTestPlatform>[1] = {}) => startTestPlatform('pglite', { dataDir, databaseUrl: undefined, ...overrides });

  beforeAll(async () => {
    t = await start();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('creates DATA_DIR, its key files and the database owner-only (no group or other access)', () => {
    expect(groupOrOtherAccessible(dataDir)).toEqual([]);
    expect(lstatSync(dataDir).mode & 0o777).toBe(0o700);
    for (const file of ['key-digest.key', 'secrets.key']) {
      expect(lstatSync(join(dataDir, file)).mode & 0o777).toBe(0o600);
      expect(Buffer.from(readFileSync(join(dataDir, file), 'utf8').trim(), 'base64')).toHaveLength(32);
    }
  });

  it('converts what an older version stored once: plain key digests are keyed, clear secrets sealed, and both still work', async () => {
    // What an older version left: a key stored as plain SHA-256, a clear client secret, no record of the keys.
    const rest = restClient(t!);
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: 'legacy' } })).status).toBe(201);
    expect((await rest.post('/rest-apis/legacy/api-keys', { apiKey: keyValue })).status).toBe(201);
    const server = await must<{ authorizationServer: { id: string } }>(t!, 'createAuthorizationServer', 'CreateAuthorizationServerInput', 'authorizationServer { id }', {
      name: 'idp', introspectionUrl: 'https://idp.example.test/introspect', clientId: 'gw', clientSecret: 'replaced-below',
    });
    const serverId = Buffer.from(server.authorizationServer.id, 'base64').toString().split(':')[1]!;
    const db = t!.platform.database.db;
    await db.update(apiKeys).set({ digest: createHash('sha256').update(keyValue).digest('hex') });
    await db.update(authorizationServers).set({ clientSecret });
    await db.delete(platformKeys);
    await t!.close();

    t = await start();
    const keys = t.platform.keys;
    const [row] = await t.platform.database.db.select().from(apiKeys);
    expect(row!.digest).toBe(keyDigest(keys.digestKey, keyValue));
    const [stored] = await t.platform.database.db.select().from(authorizationServers).where(eq(authorizationServers.id, serverId));
    expect(stored!.clientSecret).toMatch(/^enc:v1:/);
    expect(keys.box.open(stored!.clientSecret)).toBe(clientSecret);
    // The data planes get the key the client presents and the clear secret for introspection.
    const model = await loadDeploymentModel(t.platform.database.db, new Date(), keys.box);
    expect(model.keys.map((k) => k.sha256)).toContain(keyDigest(keys.digestKey, keyValue));

    // Marked done: a further start changes nothing.
    await t.close();
    t = await start();
    const [again] = await t.platform.database.db.select().from(apiKeys);
    expect(again!.digest).toBe(row!.digest);
  }, 120_000);

  it('refuses to start with another digest key or secrets key, saying which', async () => {
    await t!.close();
    t = undefined;
    await expect(start({ keyDigestSecret: randomBytes(32) })).rejects.toThrow(/key digest secret .*KEY_DIGEST_SECRET/);
    await expect(start({ secretsKey: randomBytes(32) })).rejects.toThrow(/secrets key .*SECRETS_KEY/);
    t = await start();
  }, 120_000);

  it('rotates the secrets key: every secret re-sealed in one transaction, the new key file written 0600, the old key refused', async () => {
    const oldKey = Buffer.from(readFileSync(join(dataDir, secretsKeyFile), 'utf8').trim(), 'base64');
    await t!.close();
    t = undefined;
    const result = await rotateSecrets({ dataDir, databaseUrl: undefined });
    expect(result.count).toBeGreaterThanOrEqual(1);
    expect(result.keyFile).toBe(join(dataDir, secretsKeyFile));
    const newKey = Buffer.from(readFileSync(join(dataDir, secretsKeyFile), 'utf8').trim(), 'base64');
    expect(newKey.equals(oldKey)).toBe(false);
    expect(groupOrOtherAccessible(dataDir)).toEqual([]);

    await expect(start({ secretsKey: oldKey })).rejects.toThrow(/secrets key/);
    t = await start();
    const [stored] = await t.platform.database.db.select().from(authorizationServers);
    expect(t.platform.keys.box.open(stored!.clientSecret)).toBe(clientSecret);
    // A rotation with the wrong current key changes nothing.
    await t.close();
    t = undefined;
    await expect(rotateSecrets({ dataDir, databaseUrl: undefined, secretsKey: oldKey })).rejects.toThrow(/current secrets key/);
    t = await start();
  }, 120_000);
});
