import { createRemoteJWKSet, customFetch, exportJWK, importSPKI, importX509, type JWK, type RemoteJWKSet } from 'jose';
import type { DeploymentModel, PublicJwk } from '../domain/deployment-model.ts';
import { policyKindOf } from '../policies/index.ts';
import { keyManagerJwtKeySetName, planJwtKeySetName, urlJwtKeySetName } from './names.ts';

/**
 * Resolves the JWT keys a deployment model refers to (JWT plans' GIVEN_KEY, GATEWAY_KEYS or JWKS_URL, `jwt`
 * attachments' jwksUrl, the key managers `jwt` attachments name in `issuers`) into public JWKs with jose, outside the pure translator. JWKS documents are fetched with
 * jose's remote JWK set and cached: a fresh copy is reused for `ttlMs`, and a failed refresh keeps serving the
 * last good keys (reported, so an IdP outage does not take the API off the data plane). `watch` re-fetches them
 * every `ttlMs` and says when a key set changed, so rotated keys reach the data planes without a write.
 */
export interface JwksResolverOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** How long a fetched JWKS is reused, and how often `watch` re-fetches it. @default 300000 (5 min) */
  ttlMs?: number;
  /** The shortest time between two `refreshSoon` fetches. @default 30000 */
  refreshCooldownMs?: number;
  /** Per-request timeout. @default 5000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  /**
   * GATEWAY_KEYS: the control plane's own trusted public keys per issuer (`GATEWAY_JWT_KEYS`, config.ts), each
   * with its `kid`. A GATEWAY_KEYS plan accepts tokens signed by any of them whose `iss` is that key's issuer.
   */
  gatewayKeys?: Readonly<Record<string, readonly Record<string, unknown>[]>>;
}

export interface JwksProblem {
  /** `plan/<id>`, `url/<jwksUrl>` or `keymanager/<name>`. */
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

/** A key manager's PEM certificate or public key as a JWK (one per key type the jwt module verifies). */
async function certificateJwks(pem: string): Promise<PublicJwk[]> {
  const key = await givenKeyToJwk(pem, ['RS256', 'ES256', 'ES384', 'EdDSA']);
  return key ? [key] : [];
}

/** A key manager's inline JWK Set (or single JWK): its public asymmetric keys. */
function inlineJwks(text: string): PublicJwk[] {
  try {
    const parsed = JSON.parse(text) as { keys?: unknown };
    const keys: unknown[] = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    return keys.flatMap((k) => {
      const jwk = typeof k === 'object' && k !== null ? publicJwk(k as Record<string, unknown>, false) : null;
      return jwk ? [jwk] : [];
    });
  } catch {
    return [];
  }
}

export class JwksResolver {
  private readonly fetchFn: typeof fetch;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly gatewayKeys: PublicJwk[];
  private readonly documents = new Map<string, { keys: PublicJwk[]; fetchedAt: number }>();
  private readonly remotes = new Map<string, RemoteJWKSet>();
  /** JWKS URLs the latest model refers to: what `refresh` keeps up to date. */
  private inUse = new Set<string>();
  private readonly refreshCooldownMs: number;
  /** JWKS URLs by API handle (JWT plans and `jwt` attachments), for `refreshSoon`. */
  private urlsByApi = new Map<string, string[]>();
  private readonly forcedAt = new Map<string, number>();
  private refreshing = false;
  private onChange: (() => void) | null = null;

  constructor(options: JwksResolverOptions = {}) {
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.ttlMs = options.ttlMs ?? 300_000;
    this.refreshCooldownMs = options.refreshCooldownMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.now = options.now ?? Date.now;
    // Issuers in name order, keys as configured; only public members travel.
    this.gatewayKeys = [];
    for (const issuer of Object.keys(options.gatewayKeys ?? {}).sort()) {
      for (const jwk of options.gatewayKeys?.[issuer] ?? []) {
        const key = publicJwk(jwk, false);
        // Pinned to its issuer (the module's `iss` JWK member): it never vouches for another issuer's tokens.
        if (key) this.gatewayKeys.push({ ...key, iss: issuer });
      }
    }
  }

  /** A copy of `model` with `jwks` filled in, and what could not be resolved. */
  async resolve(model: DeploymentModel): Promise<{ model: DeploymentModel; problems: JwksProblem[] }> {
    const jwks: Record<string, PublicJwk[]> = {};
    const problems: JwksProblem[] = [];
    const urls = new Set<string>();
    const used = new Set<string>();
    for (const plan of model.plans) {
      const jwt = plan.security.type === 'JWT' ? plan.security.jwt : null;
      if (!jwt) continue;
      const source = planJwtKeySetName(plan.id);
      if (jwt.keyResolver === 'GIVEN_KEY' && jwt.givenKey) {
        const key = await givenKeyToJwk(jwt.givenKey, jwt.signatureAlgorithms);
        if (key) jwks[source] = [key];
        else problems.push({ source, message: 'the given key could not be read' });
      } else if (jwt.keyResolver === 'JWKS_URL' && jwt.jwksUrl) {
        used.add(jwt.jwksUrl);
        jwks[source] = await this.fetchKeys(jwt.jwksUrl, problems, source);
      } else if (jwt.keyResolver === 'GATEWAY_KEYS' && this.gatewayKeys.length > 0) {
        jwks[source] = this.gatewayKeys;
      } else {
        problems.push({ source, message: `key resolver ${jwt.keyResolver} has no keys configured${jwt.keyResolver === 'GATEWAY_KEYS' ? ' (GATEWAY_JWT_KEYS)' : ''}` });
      }
    }
    const urlsByApi = new Map<string, string[]>();
    const handles = new Map(model.apis.map((api) => [api.id, api.handle]));
    for (const plan of model.plans) {
      const url = plan.security.type === 'JWT' && plan.security.jwt?.keyResolver === 'JWKS_URL' ? plan.security.jwt.jwksUrl : null;
      const handle = handles.get(plan.apiId);
      if (url && handle !== undefined) urlsByApi.set(handle, [...(urlsByApi.get(handle) ?? []), url]);
    }
    const keyManagers = new Map((model.keyManagers ?? []).map((km) => [km.name, km]));
    const namedManagers = new Set<string>();
    for (const api of model.apis) {
      for (const p of [...api.policies, ...api.operations.flatMap((o) => o.policies)]) {
        if (policyKindOf(p.name) !== 'jwt') continue;
        const url = p.params?.jwksUrl;
        const apiUrls = typeof url === 'string' ? [url] : [];
        if (typeof url === 'string') urls.add(url);
        const issuers = p.params?.issuers;
        for (const name of Array.isArray(issuers) ? issuers : []) {
          const manager = typeof name === 'string' ? keyManagers.get(name) : undefined;
          if (!manager) continue;
          namedManagers.add(manager.name);
          if (manager.jwksUrl !== null) apiUrls.push(manager.jwksUrl);
        }
        if (apiUrls.length > 0) urlsByApi.set(api.handle, [...(urlsByApi.get(api.handle) ?? []), ...apiUrls]);
      }
    }
    this.urlsByApi = urlsByApi;
    for (const url of [...urls].sort()) {
      used.add(url);
      jwks[urlJwtKeySetName(url)] = await this.fetchKeys(url, problems, urlJwtKeySetName(url));
    }
    // Only the key managers some deployed policy names: an unused one is neither fetched nor reported.
    for (const name of [...namedManagers].sort()) {
      const manager = keyManagers.get(name)!;
      const source = keyManagerJwtKeySetName(name);
      if (manager.jwksUrl !== null) {
        used.add(manager.jwksUrl);
        jwks[source] = await this.fetchKeys(manager.jwksUrl, problems, source);
      } else {
        const keys = manager.certificate !== null ? await certificateJwks(manager.certificate) : inlineJwks(manager.jwks ?? '');
        if (keys.length > 0) jwks[source] = keys;
        else problems.push({ source, message: 'no usable public key in the key manager' });
      }
    }
    // Documents of URLs no model refers to any more are dropped (and no longer refreshed).
    this.inUse = used;
    for (const url of [...this.documents.keys()]) if (!used.has(url)) this.documents.delete(url);
    for (const url of [...this.remotes.keys()]) if (!used.has(url)) this.remotes.delete(url);
    return { model: { ...model, jwks }, problems };
  }

  /**
   * Re-fetches `urls` (every JWKS URL the latest model uses by default); true when some URL's keys changed. A failed fetch keeps the
   * last keys (the next build reports it).
   */
  async refresh(urls: readonly string[] = [...this.inUse]): Promise<boolean> {
    let changed = false;
    for (const url of [...urls].sort()) {
      const before = this.documents.get(url);
      try {
        const keys = await this.download(url);
        this.documents.set(url, { keys, fetchedAt: this.now() });
        if (JSON.stringify(keys) !== JSON.stringify(before?.keys)) changed = true;
      } catch {
        // Kept as it was: resolve() retries once the copy is older than ttlMs and reports the failure.
      }
    }
    return changed;
  }

  /** Refreshes the JWKS URLs every `ttlMs` and calls `onChange` when keys changed; returns a stop function. */
  watch(onChange: () => void, intervalMs = this.ttlMs): () => void {
    this.onChange = onChange;
    const timer = setInterval(() => void this.refreshAndNotify(), intervalMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      this.onChange = null;
    };
  }

  /**
   * A data plane refused a token on `api` (a handle) that no key it has verifies, e.g. an unknown `kid` after the
   * IdP rotated its keys: re-fetch that API's JWKS URLs now rather than at the next scheduled refresh, each at
   * most once per `refreshCooldownMs`, so a stream of bad tokens cannot become a stream of requests to the IdP.
   * A change rebuilds through `watch`'s `onChange`.
   */
  refreshSoon(api: string): void {
    const now = this.now();
    const due = (this.urlsByApi.get(api) ?? []).filter((url) => now - (this.forcedAt.get(url) ?? Number.NEGATIVE_INFINITY) >= this.refreshCooldownMs);
    if (due.length === 0) return;
    for (const url of due) this.forcedAt.set(url, now);
    void this.refreshAndNotify(due);
  }

  private async refreshAndNotify(urls?: readonly string[]): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      if ((await this.refresh(urls)) && this.onChange) this.onChange();
    } finally {
      this.refreshing = false;
    }
  }

  private async fetchKeys(url: string, problems: JwksProblem[], source: string): Promise<PublicJwk[]> {
    const cached = this.documents.get(url);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.keys;
    try {
      const keys = await this.download(url);
      this.documents.set(url, { keys, fetchedAt: this.now() });
      return keys;
    } catch (error: unknown) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push({ source, message: cached ? `refresh failed (${reason}); serving the last keys fetched` : `JWKS could not be fetched (${reason})` });
      return cached?.keys ?? [];
    }
  }

  /** One fetch through jose's remote JWK set (status, JSON and JWK Set shape checked by jose); public keys only. */
  private async download(url: string): Promise<PublicJwk[]> {
    let remote = this.remotes.get(url);
    if (!remote) {
      remote = createRemoteJWKSet(new URL(url), {
        timeoutDuration: this.timeoutMs,
        // Our own schedule decides when to fetch; jose only fetches when asked to reload.
        cooldownDuration: 0,
        cacheMaxAge: Number.POSITIVE_INFINITY,
        headers: { accept: 'application/json' },
        [customFetch]: this.fetchFn as never,
      });
      this.remotes.set(url, remote);
    }
    await remote.reload();
    const keys = remote.jwks()?.keys ?? [];
    return keys.flatMap((k: unknown) => {
      const jwk = typeof k === 'object' && k !== null ? publicJwk(k as Record<string, unknown>, false) : null;
      return jwk ? [jwk] : [];
    });
  }
}
