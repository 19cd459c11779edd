import { exportJWK, importSPKI, importX509, type JWK } from 'jose';
import type { DeploymentModel, PublicJwk } from '../domain/deployment-model.ts';
import { planJwtKeySetName, urlJwtKeySetName } from './names.ts';

/**
 * Resolves the JWT keys a deployment model refers to (JWT plans' GIVEN_KEY or JWKS_URL, `jwt` attachments'
 * jwksUrl) into public JWKs with jose, outside the pure translator. JWKS documents are cached: a fresh copy is
 * reused for `ttlMs`, and a failed refresh keeps serving the last good keys (reported, so an IdP outage does
 * not take the API off the data plane).
 */
export interface JwksResolverOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** How long a fetched JWKS is reused. @default 300000 (5 min) */
  ttlMs?: number;
  /** Per-request timeout. @default 5000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface JwksProblem {
  /** `plan/<id>` or `url/<jwksUrl>`. */
  source: string;
  message: string;
}

/** Public members per key type (RFC 7518 §6); anything else, private members above all, is dropped. */
const publicMembers: Record<string, readonly string[]> = {
  RSA: ['kty', 'kid', 'alg', 'use', 'n', 'e'],
  EC: ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y'],
  OKP: ['kty', 'kid', 'alg', 'use', 'crv', 'x'],
  // The one secret that has to travel: an HMAC key given to a plan (docs/policies.md#jwt).
  oct: ['kty', 'kid', 'alg', 'use', 'k'],
};

function publicJwk(jwk: JWK | Record<string, unknown>, allowSymmetric: boolean): PublicJwk | null {
  const kty = jwk.kty;
  if (typeof kty !== 'string' || !(kty in publicMembers) || 'd' in jwk) return null;
  if (kty === 'oct' && !allowSymmetric) return null;
  const out: PublicJwk = {};
  for (const member of publicMembers[kty] ?? []) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value === 'string') out[member] = value;
  }
  return out;
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** `ssh-rsa AAAA…`: RFC 4253 §6.6 blob: string "ssh-rsa", mpint e, mpint n. */
function sshRsaJwk(text: string): PublicJwk | null {
  const blob = Buffer.from(text.trim().split(/\s+/)[1] ?? '', 'base64');
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 4 <= blob.length && parts.length < 3) {
    const len = blob.readUInt32BE(at);
    parts.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  const [type, e, n] = parts;
  if (!type || !e || !n || type.toString('latin1') !== 'ssh-rsa') return null;
  const strip = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
  return { kty: 'RSA', n: base64url(strip(n)), e: base64url(strip(e)) };
}

/** A GIVEN_KEY value (PEM public key or certificate, JWK JSON, ssh-rsa) as a JWK. */
export async function givenKeyToJwk(key: string, algorithms: readonly string[]): Promise<PublicJwk | null> {
  const text = key.trim();
  if (text.startsWith('ssh-rsa ')) return sshRsaJwk(text);
  if (text.startsWith('{')) {
    try {
      return publicJwk(JSON.parse(text) as Record<string, unknown>, true);
    } catch {
      return null;
    }
  }
  const isCertificate = text.startsWith('-----BEGIN CERTIFICATE-----');
  for (const alg of algorithms.filter((a) => !a.startsWith('HS'))) {
    try {
      const imported = isCertificate ? await importX509(text, alg, { extractable: true }) : await importSPKI(text, alg, { extractable: true });
      return publicJwk(await exportJWK(imported), false);
    } catch {
      // PEM does not say its key type: try the next allowed algorithm.
    }
  }
  return null;
}

export class JwksResolver {
  private readonly fetchFn: typeof fetch;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly documents = new Map<string, { keys: PublicJwk[]; fetchedAt: number }>();

  constructor(options: JwksResolverOptions = {}) {
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.ttlMs = options.ttlMs ?? 300_000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** A copy of `model` with `jwks` filled in, and what could not be resolved. */
  async resolve(model: DeploymentModel): Promise<{ model: DeploymentModel; problems: JwksProblem[] }> {
    const jwks: Record<string, PublicJwk[]> = {};
    const problems: JwksProblem[] = [];
    const urls = new Set<string>();
    for (const plan of model.plans) {
      const jwt = plan.security.type === 'JWT' ? plan.security.jwt : null;
      if (!jwt) continue;
      const source = planJwtKeySetName(plan.id);
      if (jwt.keyResolver === 'GIVEN_KEY' && jwt.givenKey) {
        const key = await givenKeyToJwk(jwt.givenKey, jwt.signatureAlgorithms);
        if (key) jwks[source] = [key];
        else problems.push({ source, message: 'the given key could not be read' });
      } else if (jwt.keyResolver === 'JWKS_URL' && jwt.jwksUrl) {
        jwks[source] = await this.fetchKeys(jwt.jwksUrl, problems, source);
      } else {
        problems.push({ source, message: `key resolver ${jwt.keyResolver} has no keys configured` });
      }
    }
    for (const api of model.apis) {
      for (const p of [...api.policies, ...api.operations.flatMap((o) => o.policies)]) {
        const url = p.params?.jwksUrl;
        if ((p.name === 'jwt' || p.name === 'jwt-auth') && typeof url === 'string') urls.add(url);
      }
    }
    for (const url of [...urls].sort()) jwks[urlJwtKeySetName(url)] = await this.fetchKeys(url, problems, urlJwtKeySetName(url));
    return { model: { ...model, jwks }, problems };
  }

  private async fetchKeys(url: string, problems: JwksProblem[], source: string): Promise<PublicJwk[]> {
    const cached = this.documents.get(url);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.keys;
    try {
      const response = await this.fetchFn(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error('not a JWK Set');
      const keys = body.keys.flatMap((k: unknown) => {
        const jwk = typeof k === 'object' && k !== null ? publicJwk(k as Record<string, unknown>, false) : null;
        return jwk ? [jwk] : [];
      });
      this.documents.set(url, { keys, fetchedAt: this.now() });
      return keys;
    } catch (error: unknown) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push({ source, message: cached ? `refresh failed (${reason}); serving the last keys fetched` : `JWKS could not be fetched (${reason})` });
      return cached?.keys ?? [];
    }
  }
}
