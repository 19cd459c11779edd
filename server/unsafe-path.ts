/**
 * Why a request path is refused before routing, or null when it is fine. URL parsers resolve `.` and `..`
 * (also as %2e) and treat `\` as `/`, so `/rest-apis/x/api-keys/..` would name `/rest-apis/x`: such paths are
 * refused, never resolved. An encoded slash would put a `/` inside a decoded path parameter. One trailing slash
 * is allowed; empty segments inside the path are not.
 */
export function unsafePathReason(rawUrl: string): string | null {
  const path = rawUrl.split('?')[0] ?? '';
  if (!path.startsWith('/')) return 'The path must start with /';
  if (path.includes('\\')) return 'The path must not contain a backslash';
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] ?? '';
    if (segment === '') {
      if (i === segments.length - 1) continue;
      return 'The path must not contain empty segments (//)';
    }
    if (/%(2f|5c)/i.test(segment)) return 'The path must not contain encoded slashes';
    const dots = segment.replace(/%2e/gi, '.');
    if (dots === '.' || dots === '..') return 'The path must not contain . or .. segments';
  }
  return null;
}
