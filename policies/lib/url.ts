// Query-string helpers over the `:path` pseudo-header (Envoy exposes :path, :method, :authority, :scheme in the
// request header map).

@inline function hexDigit(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Decodes %XX escapes and '+' (as space, like URLSearchParams); null on a malformed escape or bad UTF-8. */
export function decodeQueryComponent(text: string): string | null {
  let needsWork = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 37 || c == 43) { needsWork = true; break; }
  }
  if (!needsWork) return text;
  const utf8 = String.UTF8.encode(text);
  const src = changetype<usize>(utf8);
  const length = <usize>utf8.byteLength;
  const out = new ArrayBuffer(<i32>length);
  const dst = changetype<usize>(out);
  let o: usize = 0;
  for (let i: usize = 0; i < length; i++) {
    const c = <i32>load<u8>(src + i);
    if (c == 37) {
      if (i + 2 >= length) return null;
      const hi = hexDigit(<i32>load<u8>(src + i + 1));
      const lo = hexDigit(<i32>load<u8>(src + i + 2));
      if (hi < 0 || lo < 0) return null;
      store<u8>(dst + o++, <u8>((hi << 4) | lo));
      i += 2;
    } else if (c == 43) {
      store<u8>(dst + o++, 32);
    } else {
      store<u8>(dst + o++, <u8>c);
    }
  }
  return String.UTF8.decodeUnsafe(dst, o);
}

/** Result of findQueryParam: the decoded value and the path with that parameter removed. */
export class QueryParam {
  constructor(public value: string, public pathWithout: string) {}
}

/** Finds the first query parameter named `name` in `path`; null when absent. */
export function findQueryParam(path: string, name: string): QueryParam | null {
  const question = path.indexOf("?");
  if (question < 0) return null;
  const query = path.substring(question + 1);
  const parts = query.split("&");
  for (let i = 0; i < parts.length; i++) {
    const part = unchecked(parts[i]);
    const eq = part.indexOf("=");
    const rawName = eq < 0 ? part : part.substring(0, eq);
    const decodedName = decodeQueryComponent(rawName);
    if (decodedName === null || decodedName != name) continue;
    const decodedValue = decodeQueryComponent(eq < 0 ? "" : part.substring(eq + 1));
    if (decodedValue === null) return null;
    parts.splice(i, 1);
    const rest = parts.join("&");
    const base = path.substring(0, question);
    return new QueryParam(decodedValue, rest.length > 0 ? base + "?" + rest : base);
  }
  return null;
}
