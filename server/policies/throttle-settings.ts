/** The throttle kind's per-route settings (server/policies/throttle.ts), shared with advanced-ratelimit.ts. */

export type ThrottleScope = 'route' | 'api' | 'application' | 'subscription';

/** A part of a counter's key taken from the request (advanced-ratelimit `keyExtraction`, resolved). */
export type ThrottleKeyPart = { type: 'header'; name: string } | { type: 'ip' } | { type: 'constant'; value: string };

export interface ThrottleLimit {
  requests: number;
  windowMs: number;
  scope: ThrottleScope;
  key: string | null;
  /** The quota it belongs to, named in `X-RateLimit-Quota` and the IETF fields (basic limits: `default`). */
  quota: string;
  /** Request-dependent parts of the counter key, joined after the scope's key. */
  keyBy: ThrottleKeyPart[];
}

export interface ThrottleReply {
  status: number;
  body: string;
  contentType: string;
}

export interface ThrottleHeaders {
  xRateLimit: boolean;
  ietf: boolean;
  retryAfter: boolean;
  /** Our RateLimit-Limit / -Remaining / -Reset (throttle and basic-ratelimit; the reference's advanced-ratelimit has none). */
  legacy: boolean;
}

/**
 * One attachment's limits: stages are counted in chain order (API-level first), each one's limits all checked
 * before any is consumed, as the reference runs one rate-limit policy instance after the other.
 */
export interface ThrottleStage {
  limits: ThrottleLimit[];
  /** The 429 answer of this stage; null: `{"status":"error","message":"Rate limit exceeded."}`. */
  reply: ThrottleReply | null;
  headers: ThrottleHeaders;
}

export interface ThrottleRouteSettings {
  stages: ThrottleStage[];
  planQuota: boolean;
  stopOnQuotaReach: boolean;
}
