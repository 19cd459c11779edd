import { createHash } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Executor } from '../db/client.ts';
import type { Actor } from '../domain/context.ts';
import { actorOf, authenticatePassword, currentActor, getUserByUsername } from '../domain/users.ts';

/** Bearer JWTs for the management API, verified with jose; `sub` must name a stored user. */
export interface JwtAuthConfig {
  issuer: string;
  audience?: string | undefined;
  /** Remote JWKS (fetched and cached by jose). */
  jwksUrl?: string | undefined;
  /** Or a local key set. */
  jwks?: JSONWebKeySet | undefined;
}

export interface AuthenticatorOptions {
  db: Executor;
  jwt?: JwtAuthConfig | undefined;
  /** How long verified Basic credentials are remembered, to spare scrypt on every request. @default 60_000 */
  credentialCacheMs?: number;
}

export type Authenticator = (authorization: string | undefined | null) => Promise<Actor | null>;

const maxCachedCredentials = 1000;

/**
 * Turns an Authorization header into an actor, or null (the caller answers 401).
 * Basic: stored users with scrypt hashes. Bearer: JWT from the configured issuer.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const cacheMs = options.credentialCacheMs ?? 60_000;
  // Keyed by a digest of the credentials: the clear password is never kept in memory beyond the request.
  const verified = new Map<string, { userId: string; credentialsVersion: number; until: number }>();
  let keys: JWTVerifyGetKey | null = null;
  if (options.jwt?.jwksUrl) keys = createRemoteJWKSet(new URL(options.jwt.jwksUrl));
  else if (options.jwt?.jwks) keys = createLocalJWKSet(options.jwt.jwks);

  async function basic(encoded: string): Promise<Actor | null> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const cacheKey = createHash('sha256').update(decoded).digest('hex');
    const hit = verified.get(cacheKey);
    if (hit && hit.until > Date.now()) {
      // The user as it is now: a disable, deletion or password change since the check ends the cached entry.
      const actor = await currentActor(options.db, hit.userId, hit.credentialsVersion);
      if (actor) return actor;
      verified.delete(cacheKey);
    }
    const user = await authenticatePassword(options.db, decoded.slice(0, colon), decoded.slice(colon + 1));
    const actor = user ? actorOf(user) : null;
    if (!user || !actor) return null;
    if (verified.size >= maxCachedCredentials) verified.clear();
    verified.set(cacheKey, { userId: user.id, credentialsVersion: user.credentialsVersion, until: Date.now() + cacheMs });
    return actor;
  }

  async function bearer(token: string): Promise<Actor | null> {
    if (!keys || !options.jwt) return null;
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: options.jwt.issuer,
        ...(options.jwt.audience ? { audience: options.jwt.audience } : {}),
      });
      if (typeof payload.sub !== 'string') return null;
      const user = await getUserByUsername(options.db, payload.sub);
      return user ? actorOf(user) : null;
    } catch {
      // Invalid, expired or unverifiable tokens are all simply "not authenticated".
      return null;
    }
  }

  return async (authorization) => {
    if (!authorization) return null;
    const space = authorization.indexOf(' ');
    if (space < 0) return null;
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'basic') return basic(value);
    if (scheme === 'bearer') return bearer(value);
    return null;
  };
}
