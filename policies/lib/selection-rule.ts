// Selection rules (docs/selection-rules.md): a small expression language deciding whether a plan applies to a
// request, e.g. `claims.tier == "gold" && method != "DELETE"`. Checked once per configuration (parseRule), then
// interpreted from its text per request (rules are short; code size matters more here than a tree would save),
// fetching from the host only the values the rule names. The control plane has the same parser and evaluator in
// TypeScript (server/domain/selection-rule.ts); test/fixtures/selection-rules.json keeps the two in step.
import { Problems } from "./config";
import { getRequestHeader } from "./headers";
import { JsonValue } from "./json";
import { compareImpl } from "util/string";

export const MAX_RULE_LENGTH = 1024;
export const MAX_RULE_NODES = 64;
/** Parentheses and `!` nest at most this deep (bounds the parser's recursion). */
const MAX_DEPTH = 32;

// Word lists, each word preceded by its length as a character: one string is smaller than an array of them.
// The kind of a keyword is its index (true, false and null are literals).
const KEYWORDS = "\u0004true\u0005false\u0004null\u0006method\u0004path\u0006header\u0005query\u0006claims";
const METHOD = 3;
const PATH = 4;
const HEADER = 5;
const QUERY = 6;
const CLAIMS = 7;
const OR = 9;
const NOT = 11;

// Comparison operators, in the order of OPERATORS.
const OPERATORS = "\u0002==\u0002!=\u0008contains\u000astartsWith\u0008endsWith";
const SPACES = "";
const EQ = 0;
const NE = 1;
const CONTAINS = 2;
const ENDS_WITH = 4;

/**
 * What a rule may read of the request. Method, path, headers and query are read from the host only when the rule
 * names them; `claims` is the verified token's payload, set by jwt / oauth2 (null elsewhere: `claims.*` is null).
 */
export class RuleInput {
  claims: JsonValue | null = null;

  get method(): string {
    return pseudoHeader(":method");
  }

  /** `:path` with its query. */
  get fullPath(): string {
    return pseudoHeader(":path");
  }

  /** The path without the query. */
  get path(): string {
    const full = this.fullPath;
    const question = full.indexOf("?");
    return question < 0 ? full : full.substring(0, question);
  }

  /** Request header `lowerName` as the host returns it, or null. */
  header(lowerName: string): string | null {
    return getRequestHeader(lowerName);
  }

  /** The first query parameter `name` (names and values percent-decoded, `+` as space), or null. */
  query(name: string): string | null {
    // One pass over the UTF-8 bytes: each parameter's name is decoded into `out` and compared with `name`'s bytes.
    const bytes = String.UTF8.encode(this.fullPath);
    const wanted = String.UTF8.encode(name);
    const base = changetype<usize>(bytes);
    const end = base + <usize>bytes.byteLength;
    const out = changetype<usize>(new ArrayBuffer(bytes.byteLength));
    let start: usize = 0; // of the current parameter; 0 before the "?"
    let eq: usize = 0; // its "=", 0 until seen
    for (let p = base; p <= end; p++) {
      const c = p < end ? load<u8>(p) : 0x26;
      if (start == 0) {
        if (c == 0x3f) start = p + 1;
      } else if (c == 0x3d) {
        if (eq == 0) eq = p;
      } else if (c == 0x26) {
        if (eq == 0) eq = p;
        const n = percentDecode(start, eq, out);
        if (n == wanted.byteLength && memory.compare(out, changetype<usize>(wanted), <usize>n) == 0) {
          const length = percentDecode(eq + 1, p, out);
          return length < 0 ? null : String.UTF8.decodeUnsafe(out, <usize>length);
        }
        start = p + 1;
        eq = 0;
      }
    }
    return null;
  }
}

function hexValue(c: u32): i32 {
  if (c - 48 < 10) return <i32>(c - 48);
  c |= 32;
  return c - 97 < 6 ? <i32>(c - 87) : -1;
}

/**
 * Decodes the bytes [from, to) into `out`: %XX escapes, `+` as a space (as lib/url.ts decodeQueryComponent).
 * The decoded length, or -1 on a malformed escape.
 */
function percentDecode(from: usize, to: usize, out: usize): i32 {
  let o = out;
  for (let p = from; p < to; p++) {
    let c = <u32>load<u8>(p);
    if (c == 0x25) {
      if (p + 2 >= to) return -1;
      const hi = hexValue(load<u8>(p + 1));
      const lo = hexValue(load<u8>(p + 2));
      if ((hi | lo) < 0) return -1;
      c = <u32>((hi << 4) | lo);
      p += 2;
    } else if (c == 0x2b) {
      c = 0x20;
    }
    store<u8>(o++, c);
  }
  return <i32>(o - out);
}

function pseudoHeader(name: string): string {
  const value = getRequestHeader(name);
  return value === null ? "" : value;
}

/** A selection rule, checked once by parseRule. */
export class Rule {
  constructor(private text: string) {}

  /** Interprets the rule text against the request (rules are short: no tree to build or keep). */
  evaluate(input: RuleInput): bool {
    begin(this.text, input);
    const result = truthy(expression(OR));
    current = null;
    opaqueItems = null;
    return result;
  }
}

function isDigit(c: i32): bool { return c >= 48 && c <= 57; }
function isNameStart(c: i32): bool { return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95; }
function isNameChar(c: i32): bool { return isNameStart(c) || isDigit(c) || c == 45; }

/** ASCII lowercase (String#toLowerCase would pull Unicode case tables into the module). */
export function lowerAscii(text: string): string {
  const size = <usize>text.length << 1;
  const out = changetype<string>(__new(size, idof<string>()));
  const from = changetype<usize>(text);
  const to = changetype<usize>(out);
  for (let i: usize = 0; i < size; i += 2) {
    const c = load<u16>(from + i);
    store<u16>(to + i, c >= 65 && c <= 90 ? c + 32 : c);
  }
  return out;
}

/** A number as rules compare it: integers without a fraction, others in shortest form. */
export function numberText(n: f64): string {
  return Math.floor(n) == n && Math.abs(n) < 9007199254740992 ? (<i64>n).toString() : n.toString();
}

/** The text a JSON scalar compares as (strings as they are, numbers by numberText, true / false); else null. */
export function scalarText(v: JsonValue | null): string | null {
  if (v === null) return null;
  if (v.isString) return v.stringValue;
  if (v.isBool) return v.boolValue ? "true" : "false";
  if (v.isNumber) return numberText(v.numberValue);
  return null;
}

// Values are texts (scalarText), null when absent. An array or object claim has no text: it is OPAQUE (by
// identity), which equals nothing; `opaqueItems` keeps the elements of the last one read when it was an array.
// (Any string object the rule text cannot produce will do: this one already exists.)
const OPAQUE = KEYWORDS;
let opaqueItems: Array<JsonValue> | null = null;

@inline function isOpaque(v: string | null): bool {
  return changetype<usize>(v) == changetype<usize>(OPAQUE);
}

@inline function boolText(b: bool): string {
  return b ? "true" : "false";
}

/** The value of a claim: its text, OPAQUE for an array or object, null when absent or null. */
function claimValue(v: JsonValue | null): string | null {
  if (v === null || v.isNull) return null;
  const text = scalarText(v);
  if (text !== null) return text;
  opaqueItems = v.isArray ? v.items : null;
  return OPAQUE;
}

/** A lone value holds when present and not "", "false", "0" (false, 0) or null; an array when not empty. */
function truthy(v: string | null): bool {
  if (v === null) return false;
  if (isOpaque(v)) {
    const items = opaqueItems;
    return items === null || items.length > 0;
  }
  return v.length > 0 && v != "false" && v != "0";
}

/** `items`: the elements when `left` is an OPAQUE array. */
function compare(op: i32, left: string | null, items: Array<JsonValue> | null, right: string | null): bool {
  if (left === null || right === null) return op <= NE && (left === right) == (op == EQ);
  if (isOpaque(right)) return op == NE;
  if (isOpaque(left)) {
    if (op != CONTAINS || items === null) return op == NE;
    for (let i = 0; i < items.length; i++) {
      if (scalarText(unchecked(items[i])) == right) return true;
    }
    return false;
  }
  if (op <= NE) return (left == right) == (op == EQ);
  // contains: found anywhere; startsWith: first found at 0; endsWith: found at the last possible place.
  const from = op == ENDS_WITH ? left.length - right.length : 0;
  if (from < 0) return false;
  return right.length == 0 || (op == CONTAINS ? left.indexOf(right) >= 0 : left.indexOf(right, from) == from);
}

// The interpreter: a recursive-descent pass over the rule text. Without input it checks the syntax and limits
// (the first error wins); with input it also computes values, fetching only what the live branches name
// (`a || b` skips b's fetches once a holds). Every function returns the value of what it read (null = absent).
// Its state is module-level (modules are single-threaded and a pass never nests): no object to carry around.
let text: string = "";
let length: i32 = 0;
let pos: i32 = 0;
let nodes: i32 = 0;
let depth: i32 = 0;
let errorAt: i32 = -1;
let live: bool = false;
let current: RuleInput | null = null;

function begin(rule: string, input: RuleInput | null): void {
  text = rule;
  length = rule.length;
  pos = 0;
  nodes = 0;
  depth = 0;
  errorAt = -1;
  live = input !== null;
  current = input;
}

/** Records the first error; returns null for the caller to return. */
function fail(at: i32): string | null {
  if (errorAt < 0) errorAt = at;
  return null;
}

/** One more node (operator or value) of the 64 allowed. */
function count(at: i32): void {
  if (++nodes > MAX_RULE_NODES) fail(at);
}

function peek(): i32 {
  return pos < length ? <i32>load<u16>(changetype<usize>(text) + (<usize>pos << 1)) : -1;
}

function peekAt(at: i32): i32 {
  return at < length ? <i32>load<u16>(changetype<usize>(text) + (<usize>at << 1)) : -1;
}

// Where the last eat() found its token (after the spaces it skipped).
let mark: i32 = 0;

/**
 * Skips spaces, then consumes the first word of `list` the text continues with (a word operator or keyword must
 * not be followed by a name character) and returns its index; -1 when none (also after an error). `eat(SPACES)`
 * only skips spaces (the one place that does: a helper called from several places would be copied into each).
 */
function eat(list: string): i32 {
  while (true) {
    const c = peek();
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    pos++;
  }
  mark = pos;
  if (errorAt >= 0) return -1;
  for (let i = 0, k = 0; i < list.length; k++) {
    const n = <i32>load<u16>(changetype<usize>(list) + (<usize>i << 1));
    if (pos + n <= length && compareImpl(text, pos, list, i + 1, n) == 0 && (n <= 2 || !isNameChar(peekAt(pos + n)))) {
      pos += n;
      return k;
    }
    i += n + 1;
  }
  return -1;
}

/** OR: or := and ("||" and)*;  AND: and := unary ("&&" unary)*;  NOT: unary := "!" unary | compare */
function expression(kind: i32): string | null {
  if (kind == NOT) {
    eat(SPACES);
    const at = mark;
    if (peek() != 0x21) return comparison();
    if (++depth > MAX_DEPTH) return fail(at);
    pos++;
    const operand = expression(NOT);
    depth--;
    count(at);
    return boolText(!truthy(operand));
  }
  let left = expression(kind + 1);
  while (true) {
    if (eat(kind == OR ? "\u0002||" : "\u0002&&") < 0) return left;
    const at = mark;
    // OR: a left side that holds decides; AND: one that does not.
    const decided = truthy(left) == (kind == OR);
    const wasLive = live;
    if (decided) live = false;
    const right = expression(kind + 1);
    live = wasLive;
    count(at);
    left = boolText(decided ? kind == OR : truthy(right));
  }
}

function comparison(): string | null {
  const left = value();
  const items = opaqueItems;
  const op = eat(OPERATORS);
  if (op < 0) return left;
  const at = mark;
  const right = value();
  count(at);
  return boolText(compare(op, left, items, right));
}

/** A quoted string at `pos` (on its quote); null after a failure. */
function quoted(): string | null {
  const quote = peek();
  const start = pos++;
  let out = "";
  let run = pos;
  while (true) {
    const c = peek();
    if (c < 0) {
      fail(start);
      return null;
    }
    pos++;
    if (c == quote) return out + text.substring(run, pos - 1);
    if (c != 0x5c) continue;
    const e = peek();
    if (e != 0x22 && e != 0x27 && e != 0x5c) {
      fail(pos - 1);
      return null;
    }
    out += text.substring(run, pos - 1);
    run = pos++;
  }
}

/** "." name | "[" string "]", name := [A-Za-z_][A-Za-z0-9_-]*; null after a failure. */
function selector(): string | null {
  const c = peek();
  const start = ++pos;
  if (c == 0x2e && isNameStart(peek())) {
    while (isNameChar(peek())) pos++;
    return text.substring(start, pos);
  }
  if (c == 0x5b && (peek() == 0x22 || peek() == 0x27)) {
    const key = quoted();
    if (key === null || peek() != 0x5d) return fail(pos);
    pos++;
    return key;
  }
  return fail(c == 0x2e ? pos : --pos);
}

function value(): string | null {
  eat(SPACES);
  const at = mark;
  const c = peek();
  if (c == 0x28) {
    if (++depth > MAX_DEPTH) return fail(at);
    pos++;
    // expression() returns with the spaces after it skipped.
    const inner = expression(OR);
    if (peek() == 0x29) {
      pos++;
      depth--;
      return inner;
    }
    return fail(pos);
  }
  let result: string | null = null;
  if (c == 0x22 || c == 0x27) {
    result = quoted();
  } else if (c == 0x2d || isDigit(c)) {
    pos++; // past the sign or the first digit
    if (c == 0x2d && !isDigit(peek())) return fail(at);
    // Digits, with at most one "." followed by a digit.
    let dot = false;
    while (true) {
      const d = peek();
      if (d == 0x2e && !dot && isDigit(peekAt(pos + 1))) dot = true;
      else if (!isDigit(d)) break;
      pos++;
    }
    result = numberText(parseFloat(text.substring(at, pos)));
  } else {
    const kind = eat(KEYWORDS);
    if (kind < 0) return fail(at);
    const input = live ? current : null;
    if (kind < 2) result = boolText(kind == 0);
    else if (input !== null && kind == METHOD) result = input.method;
    else if (input !== null && kind == PATH) result = input.path;
    else if (kind >= HEADER) {
      let claim = input !== null ? input.claims : null;
      do {
        const key = selector();
        if (key === null) return null;
        if (kind == CLAIMS) {
          if (claim !== null) claim = claim.get(key);
        } else if (input !== null) {
          result = kind == HEADER ? input.header(lowerAscii(key)) : input.query(key);
        }
      } while (kind == CLAIMS && (peek() == 0x2e || peek() == 0x5b));
      if (kind == CLAIMS) result = claimValue(claim);
    }
  }
  count(at);
  return result;
}

/**
 * Checks `rule` (syntax and limits); on an error records `<path>: invalid selection rule at offset <n>` in
 * `problems` (the control plane, which checks rules when they are written, tells what is wrong) and returns null.
 */
export function parseRule(rule: string, problems: Problems, path: string): Rule | null {
  begin(rule, null);
  if (length > MAX_RULE_LENGTH) {
    fail(MAX_RULE_LENGTH);
  } else {
    expression(OR);
    if (pos < length) fail(pos);
  }
  if (errorAt >= 0) {
    problems.add(path, "invalid selection rule at offset " + errorAt.toString());
    return null;
  }
  return new Rule(rule);
}
