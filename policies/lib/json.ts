// A small strict JSON (RFC 8259) parser and string writer for plugin configurations.
// Parsing happens once per proxy_on_configure, never per request. Duplicate object keys and trailing bytes are
// refused: a configuration must mean one thing.

export namespace JsonKind {
  export const Null: i32 = 0;
  export const Bool: i32 = 1;
  export const Number: i32 = 2;
  export const String: i32 = 3;
  export const Array: i32 = 4;
  export const Object: i32 = 5;
}

export class JsonValue {
  kind: i32 = JsonKind.Null;
  boolValue: bool = false;
  numberValue: f64 = 0;
  stringValue: string = "";
  items: Array<JsonValue> | null = null;
  /** Object members, in document order of `keys`. */
  members: Map<string, JsonValue> | null = null;
  keys: Array<string> | null = null;

  get isNull(): bool { return this.kind == JsonKind.Null; }
  get isObject(): bool { return this.kind == JsonKind.Object; }
  get isArray(): bool { return this.kind == JsonKind.Array; }
  get isString(): bool { return this.kind == JsonKind.String; }
  get isNumber(): bool { return this.kind == JsonKind.Number; }
  get isBool(): bool { return this.kind == JsonKind.Bool; }

  /** Member `key` of an object, or null (also when this is not an object). */
  get(key: string): JsonValue | null {
    const members = this.members;
    if (members === null || !members.has(key)) return null;
    return members.get(key);
  }
}

const MAX_DEPTH = 64;

class Parser {
  pos: usize = 0;
  error: string = "";
  constructor(public base: usize, public end: usize) {}

  fail(message: string): JsonValue | null {
    if (this.error.length == 0) this.error = message + " at offset " + (this.pos - this.base).toString();
    return null;
  }

  skipWhitespace(): void {
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  peek(): i32 { return this.pos < this.end ? <i32>load<u8>(this.pos) : -1; }

  literal(word: string): bool {
    const length = <usize>word.length;
    if (this.end - this.pos < length) return false;
    for (let i: usize = 0; i < length; i++) {
      if (<i32>load<u8>(this.pos + i) != word.charCodeAt(<i32>i)) return false;
    }
    this.pos += length;
    return true;
  }

  value(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.skipWhitespace();
    const c = this.peek();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      const v = new JsonValue();
      v.kind = JsonKind.String;
      v.stringValue = s;
      return v;
    }
    if (c == 0x74 && this.literal("true")) { const v = new JsonValue(); v.kind = JsonKind.Bool; v.boolValue = true; return v; }
    if (c == 0x66 && this.literal("false")) { const v = new JsonValue(); v.kind = JsonKind.Bool; return v; }
    if (c == 0x6e && this.literal("null")) return new JsonValue();
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail(c < 0 ? "unexpected end of input" : "unexpected character");
  }

  object(depth: i32): JsonValue | null {
    this.pos++; // {
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    const members = new Map<string, JsonValue>();
    const keys = new Array<string>(0);
    v.members = members;
    v.keys = keys;
    this.skipWhitespace();
    if (this.peek() == 0x7d) { this.pos++; return v; }
    while (true) {
      this.skipWhitespace();
      if (this.peek() != 0x22) return this.fail("expected a member name");
      const key = this.string();
      if (key === null) return null;
      if (members.has(key)) return this.fail("duplicate member \"" + key + "\"");
      this.skipWhitespace();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.pos++;
      const item = this.value(depth + 1);
      if (item === null) return null;
      members.set(key, item);
      keys.push(key);
      this.skipWhitespace();
      const c = this.peek();
      if (c == 0x2c) { this.pos++; continue; }
      if (c == 0x7d) { this.pos++; return v; }
      return this.fail("expected ',' or '}'");
    }
  }

  array(depth: i32): JsonValue | null {
    this.pos++; // [
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    const items = new Array<JsonValue>(0);
    v.items = items;
    this.skipWhitespace();
    if (this.peek() == 0x5d) { this.pos++; return v; }
    while (true) {
      const item = this.value(depth + 1);
      if (item === null) return null;
      items.push(item);
      this.skipWhitespace();
      const c = this.peek();
      if (c == 0x2c) { this.pos++; continue; }
      if (c == 0x5d) { this.pos++; return v; }
      return this.fail("expected ',' or ']'");
    }
  }

  hex4(): i32 {
    if (this.end - this.pos < 4) return -1;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.pos++);
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      if (d < 0) return -1;
      n = (n << 4) | d;
    }
    return n;
  }

  string(): string | null {
    this.pos++; // opening quote
    const start = this.pos;
    // Fast path: no escapes.
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c == 0x22) {
        const s = String.UTF8.decodeUnsafe(start, this.pos - start);
        this.pos++;
        return s;
      }
      if (c == 0x5c) break;
      if (c < 0x20) { this.fail("control character in string"); return null; }
      this.pos++;
    }
    // Slow path: rebuild from UTF-16 code units.
    let out = String.UTF8.decodeUnsafe(start, this.pos - start);
    const parts = new Array<string>(0);
    parts.push(out);
    let runStart = this.pos;
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c == 0x22) {
        parts.push(String.UTF8.decodeUnsafe(runStart, this.pos - runStart));
        this.pos++;
        return parts.join("");
      }
      if (c < 0x20) { this.fail("control character in string"); return null; }
      if (c != 0x5c) { this.pos++; continue; }
      parts.push(String.UTF8.decodeUnsafe(runStart, this.pos - runStart));
      this.pos++;
      if (this.pos >= this.end) break;
      const e = load<u8>(this.pos++);
      if (e == 0x22) parts.push("\"");
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const unit = this.hex4();
        if (unit < 0) { this.fail("invalid \\u escape"); return null; }
        parts.push(String.fromCharCode(unit));
      } else { this.fail("invalid escape"); return null; }
      runStart = this.pos;
    }
    this.fail("unterminated string");
    return null;
  }

  number(): JsonValue | null {
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    const first = this.peek();
    if (first == 0x30) {
      this.pos++;
    } else if (first >= 0x31 && first <= 0x39) {
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    } else {
      return this.fail("invalid number");
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!(this.peek() >= 0x30 && this.peek() <= 0x39)) return this.fail("invalid number");
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      this.pos++;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.pos++;
      if (!(this.peek() >= 0x30 && this.peek() <= 0x39)) return this.fail("invalid number");
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    }
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.numberValue = parseFloat(String.UTF8.decodeUnsafe(start, this.pos - start));
    return v;
  }
}

/** The result of parseJson: `value` on success, else `error` says what and where. */
export class JsonParseResult {
  constructor(public value: JsonValue | null, public error: string) {}
}

/** Parses a whole JSON document from UTF-8 bytes. */
export function parseJson(bytes: ArrayBuffer): JsonParseResult {
  const base = changetype<usize>(bytes);
  const parser = new Parser(base, base + <usize>bytes.byteLength);
  parser.pos = base;
  const value = parser.value(0);
  if (value === null) return new JsonParseResult(null, parser.error);
  parser.skipWhitespace();
  if (parser.pos != parser.end) {
    parser.fail("trailing characters");
    return new JsonParseResult(null, parser.error);
  }
  return new JsonParseResult(value, "");
}

/** `text` as a JSON string literal, quotes included. */
export function writeJsonString(text: string): string {
  let simple = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) { simple = false; break; }
  }
  if (simple) return "\"" + text + "\"";
  const parts = new Array<string>(0);
  parts.push("\"");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22) parts.push("\\\"");
    else if (c == 0x5c) parts.push("\\\\");
    else if (c == 0x0a) parts.push("\\n");
    else if (c == 0x0d) parts.push("\\r");
    else if (c == 0x09) parts.push("\\t");
    else if (c < 0x20) parts.push("\\u00" + (c < 16 ? "0" : "1") + "0123456789abcdef".charAt(c & 15));
    else parts.push(String.fromCharCode(c));
  }
  parts.push("\"");
  return parts.join("");
}
