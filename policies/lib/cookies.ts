// The request's `Cookie` header (RFC 6265 §5.4: `name=value` pairs joined by "; "). Envoy joins HTTP/2 cookie
// crumbs into one header before filters run, so one value holds every cookie.
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#cookie

/** True when the cookie pair `part` (trimmed) is named `lowerName`, compared without case as the reference does. */
function isNamed(part: string, eq: i32, lowerName: string): bool {
  return eq >= 0 && part.substring(0, eq).trim().toLowerCase() == lowerName;
}

/** The value of the cookie named `lowerName` (lowercase) in a Cookie header, or null when it is absent or empty. */
export function cookieValue(header: string, lowerName: string): string | null {
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(";", start);
    if (end < 0) end = header.length;
    const part = header.substring(start, end).trim();
    const eq = part.indexOf("=");
    if (isNamed(part, eq, lowerName)) {
      const value = part.substring(eq + 1).trim();
      return value.length > 0 ? value : null;
    }
    start = end + 1;
  }
  return null;
}

/** The Cookie header without the cookie(s) named `lowerName`: the other pairs joined by "; " ("" when none is left). */
export function withoutCookie(header: string, lowerName: string): string {
  let out = "";
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(";", start);
    if (end < 0) end = header.length;
    const part = header.substring(start, end).trim();
    if (part.length > 0 && !isNamed(part, part.indexOf("="), lowerName)) out = out.length == 0 ? part : out + "; " + part;
    start = end + 1;
  }
  return out;
}

/** RFC 6265 cookie-name: an RFC 7230 token (no separators, no controls, not empty). */
export function isValidCookieName(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
    // separators: ( ) < > @ , ; : \ " / [ ] ? = { }
    if (c == 0x28 || c == 0x29 || c == 0x3c || c == 0x3e || c == 0x40 || c == 0x2c || c == 0x3b || c == 0x3a ||
        c == 0x5c || c == 0x22 || c == 0x2f || c == 0x5b || c == 0x5d || c == 0x3f || c == 0x3d || c == 0x7b || c == 0x7d) return false;
  }
  return true;
}
