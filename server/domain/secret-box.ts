import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM envelope for secrets the platform must keep in recoverable form (OAuth2 client secrets, HMAC JWT keys).
 * A sealed value is `enc:v1:<key id>:<iv>:<ciphertext+tag>` (base64url parts): the key id names the key that sealed
 * it, so a value sealed under another key is refused by name instead of failing as a bad tag. The key itself lives
 * outside the database (SECRETS_KEY or DATA_DIR/secrets.key, loaded by server/platform-keys.ts).
 */
export class SecretBox {
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes (AES-256)');
    this.key = key;
    this.keyId = secretsKeyId(key);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    // The key id is authenticated data: a value cannot be relabelled to another key.
    cipher.setAAD(Buffer.from(this.keyId));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.keyId}:${iv.toString('base64url')}:${body.toString('base64url')}`;
  }

  /** The clear value of a sealed one; throws when it is not sealed under this box's key or was altered. */
  open(sealed: string): string {
    const parts = sealed.startsWith(SEALED_PREFIX) ? sealed.slice(SEALED_PREFIX.length).split(':') : [];
    if (parts.length !== 3) throw new Error('not a sealed secret');
    const [keyId, iv, body] = parts as [string, string, string];
    if (keyId !== this.keyId) throw new Error(`secret sealed under key '${keyId}', but the secrets key is '${this.keyId}'`);
    const bytes = Buffer.from(body, 'base64url');
    if (bytes.length < 16) throw new Error('sealed secret is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(keyId));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
  }
}

const SEALED_PREFIX = 'enc:v1:';

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** A short public name of a key (first 12 hex of its SHA-256): safe to store and print. */
export function secretsKeyId(key: Buffer): string {
  return createHash('sha256').update('apip secrets key id\0').update(key).digest('hex').slice(0, 12);
}
