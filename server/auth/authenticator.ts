import { createHash } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Executor } from '../db/client.ts';
import type { Actor } from '../domain/context.ts';
import { actorOf, authenticatePassword, currentActor, getUserByUsername } from '../domain/users.ts';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.ts';

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
  /** Failed Basic logins per user name and client address. @default LoginThrottle's defaults */
  throttle?: LoginThrottleOptions | undefined;
}

/** `anonymous`: no usable credentials (401); `throttled`: too many failed logins (429 with Retry-After). */
export type AuthOutcome =
  | { kind: 'authenticated'; actor: Actor }
  | { kind: 'anonymous' }
  | { kind: 'throttled'; retryAfterSeconds: number };

/** One authenticator for GraphQL, REST and /metrics; `clientAddress` is the peer's address (throttling). */
export type Authenticator = (authorization: string | undefined | null, clientAddress: string) => Promise<AuthOutcome>;

const anonymous: AuthOutcome = { kind: 'anonymous' };

const maxCachedCredentials = 1000;

/**
 * Turns an Authorization header into an actor, or null (the caller answers 401).
 * Basic: stored users with scrypt hashes. Bearer: JWT from the configured issuer.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const cacheMs = options.credentialCacheMs ?? 60_000;
  // Keyed by a digest of the credentials: the clear password is never kept in memory beyond the request.
  const verified = new Map<string, { userId: string; credentialsVersion: number; until: number }>();
  const throttle = new LoginThrottle(options.throttle);
  let keys: JWTVerifyGetKey | null = null;
  if (options.jwt?.jwksUrl) keys = createRemoteJWKSet(new URL(options.jwt.jwksUrl));
  else if (options.jwt?.jwks) keys = createLocalJWKSet(options.jwt.jwks);

  async function basic(encoded: string, clientAddress: string): Promise<AuthOutcome> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return anonymous;
    const username = decoded.slice(0, colon);
    // Before the cache: while throttled even the right password waits, or guessing would go on unhindered.
    const retryAfterSeconds = throttle.retryAfterSeconds(username, clientAddress);
    if (retryAfterSeconds > 0) return { kind: 'throttled', retryAfterSeconds };
    const cacheKey = createHash('sha256').update(decoded).digest('hex');
    const hit = verified.get(cacheKey);
    if (hit && hit.until > Date.now()) {
      // The user as it is now: a disable, deletion or password change since the check ends the cached entry.
      const actor = await currentActor(options.db, hit.userId, hit.credentialsVersion);
      if (actor) {
        throttle.succeeded(username);
        return { kind: 'authenticated', actor };
      }
      verified.delete(cacheKey);
    }
    // An unknown user name costs what a wrong password costs (users.ts), so names cannot be told apart by timing.
    const user = await authenticatePassword(options.db, username, decoded.slice(colon + 1));
    const actor = user ? actorOf(user) : null;
    if (!user || !actor) {
      throttle.failed(username, clientAddress);
      return anonymous;
    }
    throttle.succeeded(username);
    if (verified.size >= maxCachedCredentials) verified.clear();
    verified.set(cacheKey, { userId: user.id, credentialsVersion: user.credentialsVersion, until: Date.now() + cacheMs });
    return { kind: 'authenticated', actor };
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

  return async (authorization, clientAddress) => {
    if (!authorization) return anonymous;
    const space = authorization.indexOf(' ');
    if (space < 0) return anonymous;
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'basic') return basic(value, clientAddress);
    if (scheme === 'bearer') {
      const actor = await bearer(value);
      return actor ? { kind: 'authenticated', actor } : anonymous;
    }
    return anonymous;
  };
}
