import { z } from 'zod';

/**
 * The zod primitives for HTTP names and values that plan security options and policy params share, one rule each
 * (each caller keeps its own message wording, which is part of its validation errors on the wire).
 */

/** RFC 9110 token, at most 128 characters: what a header name (and, conservatively, a query parameter name) may be. */
export const headerNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

/** A header name (RFC 9110 token, 1-128 characters). */
export function headerName(message: string) {
  return z.string().regex(headerNamePattern, message);
}

/** Why a header the gateway reads from clients may not hold `_`: both data planes drop such request headers
 *  (HCM headers_with_underscores_action DROP_HEADER, docs/gateway.md "Request hygiene"). */
export const underscoreHeaderMessage = 'must not contain an underscore: the gateway drops request headers whose name has one';

/** A header name the gateway reads from the client (a credential): a header name without `_`. */
export function clientHeaderName(message: string, underscoreMessage = underscoreHeaderMessage) {
  return headerName(message).refine((v) => !v.includes('_'), underscoreMessage);
}

// No control characters except horizontal tab (RFC 9110 field-value).
// eslint-disable-next-line no-control-regex
const headerValuePattern = /^[^\x00-\x08\x0a-\x1f\x7f]*$/;

/** A header value: no control character but horizontal tab. */
export const headerValue = z.string().regex(headerValuePattern, 'must not contain control characters');

/** An absolute http(s) URL with a host and no credentials in it (where the platform itself will connect). */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}
