// Selection rules (docs/selection-rules.md): the control plane's twin of policies/lib/selection-rule.ts. Plans are
// checked with parseSelectionRule when written; evaluateSelectionRule gives the same answers as the gateway
// modules (test/fixtures/selection-rules.json drives both implementations, so they cannot drift). Same grammar,
// same limits, same error offsets; the modules only log "invalid selection rule at offset <n>", this side says
// what is wrong.

export const MAX_SELECTION_RULE_LENGTH = 1024;
export const MAX_SELECTION_RULE_NODES = 64;
/** Parentheses and `!` nest at most this deep. */
export const MAX_SELECTION_RULE_DEPTH = 32;

export type SelectionRuleCheck = { ok: true } | { ok: false; message: string; offset: number };

/** What a rule reads: `path` with its query; header names lowercase; `claims` a token payload (null: none). */
export interface SelectionRuleRequest {
  method: string;
  path: string;
  headers?: Readonly<Record<string, string>>;
  claims?: unknown;
}

class RuleSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** An array or object claim: no text, equal to nothing; `contains` looks into an array's elements. */
class Opaque {
  constructor(readonly items: readonly unknown[] | null) {}
}

type Value = string | null | Opaque;

const KEYWORDS = ['true', 'false', 'null', 'method', 'path', 'header', 'query', 'claims'] as const;
const OPERATORS = ['==', '!=', 'contains', 'startsWith', 'endsWith'] as const;
type Operator = (typeof OPERATORS)[number];

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isNameStart = (c: string | undefined): boolean => c !== undefined && /[A-Za-z_]/.test(c);
const isNameChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_-]/.test(c);

/** A number as rules compare it: integers without a fraction, others in shortest form. */
export function numberText(n: number): string {
  return String(Math.floor(n) === n && Math.abs(n) < 2 ** 53 ? n + 0 : n);
}

function scalarText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return numberText(v);
  return null;
}

function claimValue(v: unknown): Value {
  if (v === null || v === undefined) return null;
  const text = scalarText(v);
  if (text !== null) return text;
  return new Opaque(Array.isArray(v) ? v : null);
}

function truthy(v: Value): boolean {
  if (v === null) return false;
  if (v instanceof Opaque) return v.items === null || v.items.length > 0;
  return v !== '' && v !== 'false' && v !== '0';
}

function compare(op: Operator, left: Value, right: Value): boolean {
  if (op === '==' || op === '!=') {
    const equal = left === null || right === null ? left === right : typeof left === 'string' && typeof right === 'string' && left === right;
    return equal !== (op === '!=');
  }
  if (left === null || typeof right !== 'string') return false;
  if (left instanceof Opaque) return op === 'contains' && left.items !== null && left.items.some((item) => scalarText(item) === right);
  if (op === 'contains') return left.includes(right);
  return op === 'startsWith' ? left.startsWith(right) : left.endsWith(right);
}

function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The bytes of a query component with %XX and `+` (as space) decoded; null on a malformed escape. */
function decodeQueryBytes(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x25) {
      if (i + 2 >= bytes.length) return null;
      const hex = String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(c === 0x2b ? 0x20 : c);
    }
  }
  return Buffer.from(out);
}

/** The first query parameter `name` of `fullPath` (names and values percent-decoded, compared as UTF-8), or null. */
function queryParam(fullPath: string, name: string): string | null {
  const wanted = Buffer.from(name, 'utf8');
  let i = fullPath.indexOf('?');
  if (i < 0) return null;
  while (i < fullPath.length) {
    const start = i + 1;
    let end = fullPath.indexOf('&', start);
    if (end < 0) end = fullPath.length;
    let eq = fullPath.indexOf('=', start);
    if (eq < 0 || eq > end) eq = end;
    const decodedName = decodeQueryBytes(fullPath.substring(start, eq));
    if (decodedName !== null && decodedName.equals(wanted)) {
      const value = decodeQueryBytes(fullPath.substring(eq + 1 < end ? eq + 1 : end, end));
      return value === null ? null : new TextDecoder().decode(value);
    }
    i = end;
  }
  return null;
}

/**
 * A recursive-descent pass over the rule text, step for step the module's: without a request it checks syntax
 * and limits; with one it also computes values, reading only what the live branches name.
 */
class Interpreter {
  private pos = 0;
  private nodes = 0;
  private depth = 0;
  private live: boolean;

  constructor(
    private readonly text: string,
    private readonly request: SelectionRuleRequest | null,
  ) {
    this.live = request !== null;
  }

  run(): Value {
    if (this.text.length > MAX_SELECTION_RULE_LENGTH) {
      throw new RuleSyntaxError(`longer than ${MAX_SELECTION_RULE_LENGTH} characters`, MAX_SELECTION_RULE_LENGTH);
    }
    const result = this.expression('or');
    if (this.skipSpace() < this.text.length) throw new RuleSyntaxError('unexpected character', this.pos);
    return result;
  }

  private peek(at = this.pos): string | undefined {
    return this.text[at];
  }

  private skipSpace(): number {
    while (' \t\n\r'.includes(this.peek() ?? 'x')) this.pos++;
    return this.pos;
  }

  private count(at: number): void {
    if (++this.nodes > MAX_SELECTION_RULE_NODES) throw new RuleSyntaxError(`more than ${MAX_SELECTION_RULE_NODES} nodes`, at);
  }

  private eat(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    if (word.length > 2 && isNameChar(this.peek(this.pos + word.length))) return false;
    this.pos += word.length;
    return true;
  }

  private deeper(at: number): void {
    if (++this.depth > MAX_SELECTION_RULE_DEPTH) throw new RuleSyntaxError('nested too deeply', at);
  }

  private expression(kind: 'or' | 'and' | 'not'): Value {
    if (kind === 'not') {
      const at = this.skipSpace();
      if (this.peek() !== '!') return this.comparison();
      this.deeper(at);
      this.pos++;
      const operand = this.expression('not');
      this.depth--;
      this.count(at);
      return String(!truthy(operand));
    }
    const next = kind === 'or' ? 'and' : 'not';
    let left = this.expression(next);
    for (;;) {
      const at = this.skipSpace();
      if (!this.eat(kind === 'or' ? '||' : '&&')) return left;
      // or: a left side that holds decides; and: one that does not.
      const decided = truthy(left) === (kind === 'or');
      const wasLive = this.live;
      if (decided) this.live = false;
      const right = this.expression(next);
      this.live = wasLive;
      this.count(at);
      left = String(decided ? kind === 'or' : truthy(right));
    }
  }

  private comparison(): Value {
    const left = this.value();
    const at = this.skipSpace();
    for (const op of OPERATORS) {
      if (!this.eat(op)) continue;
      const right = this.value();
      this.count(at);
      return String(compare(op, left, right));
    }
    return left;
  }

  private quoted(): string {
    const quote = this.peek();
    const start = this.pos++;
    let out = '';
    let run = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new RuleSyntaxError('unterminated string', start);
      this.pos++;
      if (c === quote) return out + this.text.substring(run, this.pos - 1);
      if (c !== '\\') continue;
      const e = this.peek();
      if (e !== '"' && e !== "'" && e !== '\\') throw new RuleSyntaxError('invalid escape', this.pos - 1);
      out += this.text.substring(run, this.pos - 1);
      run = this.pos++;
    }
  }

  private name(): string {
    const start = this.pos;
    if (isNameStart(this.peek())) while (isNameChar(this.peek())) this.pos++;
    return this.text.substring(start, this.pos);
  }

  private selector(): string {
    const c = this.peek();
    if (c === '.') {
      this.pos++;
      const word = this.name();
      if (word.length > 0) return word;
      throw new RuleSyntaxError('expected a name', this.pos);
    }
    if (c === '[' && (this.peek(this.pos + 1) === '"' || this.peek(this.pos + 1) === "'")) {
      this.pos++;
      const key = this.quoted();
      if (this.peek() === ']') {
        this.pos++;
        return key;
      }
      throw new RuleSyntaxError('expected "]"', this.pos);
    }
    throw new RuleSyntaxError('expected .name or ["name"]', this.pos);
  }

  private value(): Value {
    const at = this.skipSpace();
    const c = this.peek();
    if (c === '(') {
      this.deeper(at);
      this.pos++;
      const inner = this.expression('or');
      if (this.skipSpace() < this.text.length && this.peek() === ')') {
        this.pos++;
        this.depth--;
        return inner;
      }
      throw new RuleSyntaxError('expected ")"', this.pos);
    }
    let result: Value = null;
    if (c === '"' || c === "'") {
      result = this.quoted();
    } else if (c === '-' || isDigit(c)) {
      if (c === '-') this.pos++;
      if (!isDigit(this.peek())) throw new RuleSyntaxError('expected a value', at);
      while (isDigit(this.peek())) this.pos++;
      if (this.peek() === '.' && isDigit(this.peek(this.pos + 1))) {
        this.pos += 2;
        while (isDigit(this.peek())) this.pos++;
      }
      result = numberText(parseFloat(this.text.substring(at, this.pos)));
    } else {
      const word = this.name();
      const kind = (KEYWORDS as readonly string[]).indexOf(word);
      if (kind < 0) throw new RuleSyntaxError(word.length === 0 ? 'expected a value' : `unknown reference "${word}"`, at);
      const request = this.live ? this.request : null;
      if (word === 'true' || word === 'false') result = word;
      else if (word === 'method') result = request !== null ? request.method : null;
      else if (word === 'path') result = request !== null ? request.path.split('?')[0]! : null;
      else if (word === 'header' || word === 'query') {
        const key = this.selector();
        if (request !== null) {
          const headers = request.headers ?? {};
          const name = lowerAscii(key);
          result = word === 'header' ? (Object.hasOwn(headers, name) ? headers[name]! : null) : queryParam(request.path, key);
        }
      } else if (word === 'claims') {
        let claim: unknown = request !== null ? (request.claims ?? null) : null;
        do {
          const key = this.selector();
          claim = claim !== null && typeof claim === 'object' && !Array.isArray(claim) && Object.hasOwn(claim, key)
            ? (claim as Record<string, unknown>)[key]
            : null;
        } while (this.peek() === '.' || this.peek() === '[');
        result = claimValue(claim);
      }
    }
    this.count(at);
    return result;
  }
}

/** Checks a selection rule's syntax and limits; on error, what is wrong and where (UTF-16 offset). */
export function parseSelectionRule(text: string): SelectionRuleCheck {
  try {
    new Interpreter(text, null).run();
    return { ok: true };
  } catch (error) {
    if (error instanceof RuleSyntaxError) return { ok: false, message: error.message, offset: error.offset };
    throw error;
  }
}

/** Whether `text` holds for `request`, as the gateway modules decide it. Throws when the rule is invalid. */
export function evaluateSelectionRule(text: string, request: SelectionRuleRequest): boolean {
  const check = parseSelectionRule(text);
  if (!check.ok) throw new Error(`invalid selection rule: ${check.message} at offset ${check.offset}`);
  return truthy(new Interpreter(text, request).run());
}
