// `npm run secrets:rotate`: re-seals every stored secret under a new secrets key (server/secrets-rotation.ts).
// Reads the same environment as `npm start` (DATA_DIR, DATABASE_URL, SECRETS_KEY, KEY_DIGEST_SECRET).
import { configFromEnv } from '../server/config.ts';
import { rotateSecrets } from '../server/secrets-rotation.ts';

const result = await rotateSecrets(configFromEnv(process.env));
process.stdout.write(`Re-sealed ${result.count} secret(s) under key ${result.keyId}.\n`);
if (result.keyFile) {
  process.stdout.write(`The new key is in ${result.keyFile} (0600); copy it to every replica that reads it.\n`);
} else {
  process.stdout.write(`Set SECRETS_KEY=${result.newKey} on every replica before starting it again.\n`);
}
