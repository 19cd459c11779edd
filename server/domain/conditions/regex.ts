// The RE2 subset of `matches` in execution conditions (docs/execution-conditions.md), compiled here into the
// instruction list the condition module runs (policies/lib/regex-vm.ts, a Pike VM): the control plane is the one
// parser, so the module implements exactly what is accepted here and cannot disagree about the syntax. Every
// construct accepted means what it means in RE2 (https://github.com/google/re2/wiki/Syntax); the rest is refused.

/** One instruction: `[0, negated, lo, hi, ...]` one code point in (or, negated, outside) the ranges; `[1, x, y]` split
 *  (both), `[2, x]` jump, `[3]` start of text, `[4]` end of text, `[5]` match. */
export type RegexInstruction = number[];
export const OP_SET = 0;
export const OP_SPLIT = 1;
export const OP_JUMP = 2;
export const OP_BEGIN = 3;
export const OP_END = 4;
export const OP_MATCH = 5;

export const MAX_PATTERN_LENGTH = 256;
export const MAX_REPEAT = 100;
export const MAX_PROGRAM = 1000;

export class RegexSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

type Ranges = number[];
type Node =
  | { kind: 'set'; negated: boolean; ranges: Ranges }
  | { kind: 'begin' | 'end' | 'empty' }
  | { kind: 'concat' | 'alt'; items: Node[] }
  | { kind: 'repeat'; item: Node; min: number; max: number };

const digit: Ranges = [48, 57];
const word: Ranges = [48, 57, 65, 90, 95, 95, 97, 122];
const space: Ranges = [9, 10, 12, 13, 32, 32];
const controls: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11 };

class Parser {
  private pos = 0;
  private readonly chars: string[];
  private readonly offsets: number[] = [];

  constructor(pattern: string) {
    this.chars = [...pattern];
    let at = 0;
    for (const c of this.chars) {
      this.offsets.push(at);
      at += c.length;
    }
    this.offsets.push(at);
  }

  private fail(message: string, pos = this.pos): never {
    throw new RegexSyntaxError(message, this.offsets[Math.min(pos, this.offsets.length - 1)]!);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  parse(): Node {
    const node = this.alternation(0);
    if (this.pos < this.chars.length) this.fail(`unexpected '${this.peek()}'`);
    return node;
  }

  private alternation(depth: number): Node {
    if (depth > 32) this.fail('groups nest too deeply');
    const items = [this.concatenation(depth)];
    while (this.peek() === '|') {
      this.pos++;
      items.push(this.concatenation(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'alt', items };
  }

  private concatenation(depth: number): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) items.push(this.repetition(depth));
    return items.length === 1 ? items[0]! : items.length === 0 ? { kind: 'empty' } : { kind: 'concat', items };
  }

  private repetition(depth: number): Node {
    const start = this.pos;
    let item = this.atom(depth);
    let quantified = false;
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, -1];
      else if (c === '+') [min, max] = [1, -1];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') [min, max] = this.braces();
      else return item;
      if (c !== '{') this.pos++;
      // `a**` is refused as by RE2 ("bad repetition operator"); `(a*)*` is fine.
      if (quantified) this.fail('a repetition cannot be repeated', start);
      quantified = true;
      if (item.kind === 'begin' || item.kind === 'end' || item.kind === 'empty') this.fail('nothing to repeat', start);
      // A lazy quantifier finds the same matches (only the extent differs), and `matches` asks only whether one exists.
      if (this.peek() === '?') this.pos++;
      item = { kind: 'repeat', item, min, max };
    }
  }

  private braces(): [number, number] {
    const open = this.pos;
    const text = this.chars.slice(this.pos).join('');
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(text);
    if (!m) this.fail("'{' must start a repetition {n}, {n,} or {n,m} (write \\{ for a literal brace)");
    this.pos += [...m[0]].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT) this.fail(`a repetition count is at most ${MAX_REPEAT}`, open);
    if (max !== -1 && max < min) this.fail('a repetition {n,m} needs n <= m', open);
    return [min, max];
  }

  private atom(depth: number): Node {
    const c = this.peek()!;
    const at = this.pos;
    this.pos++;
    switch (c) {
      case '(': {
        if (this.peek() === '?') {
          if (this.chars[this.pos + 1] !== ':') this.fail('only (?:...) groups are supported (no flags, names or lookaround)', at);
          this.pos += 2;
        }
        const inner = this.alternation(depth + 1);
        if (this.peek() !== ')') this.fail("missing ')'", at);
        this.pos++;
        return inner;
      }
      case '[':
        return this.characterClass(at);
      case '.':
        return { kind: 'set', negated: true, ranges: [10, 10] };
      case '^':
        return { kind: 'begin' };
      case '$':
        return { kind: 'end' };
      case '\\':
        return this.escape(at, false);
      case '*':
      case '+':
      case '?':
        return this.fail('nothing to repeat', at);
      case '{':
        return this.fail("'{' must follow what it repeats (write \\{ for a literal brace)", at);
      default: {
        const code = c.codePointAt(0)!;
        return { kind: 'set', negated: false, ranges: [code, code] };
      }
    }
  }

  /** After a backslash; `inClass` refuses the negated shorthands there. */
  private escape(at: number, inClass: boolean): Node & { kind: 'set' } {
    const c = this.peek();
    if (c === undefined) this.fail('trailing backslash', at);
    this.pos++;
    if (c === 'd' || c === 'w' || c === 's') return { kind: 'set', negated: false, ranges: c === 'd' ? digit : c === 'w' ? word : space };
    if (c === 'D' || c === 'W' || c === 'S') {
      if (inClass) this.fail(`\\${c} is not supported inside a class`, at);
      return { kind: 'set', negated: true, ranges: c === 'D' ? digit : c === 'W' ? word : space };
    }
    if (controls[c] !== undefined) return { kind: 'set', negated: false, ranges: [controls[c], controls[c]] };
    if (c === 'x') {
      const hex = /^[0-9A-Fa-f]{2}/.exec(this.chars.slice(this.pos, this.pos + 2).join(''));
      if (!hex) this.fail('\\x takes two hex digits', at);
      this.pos += 2;
      const code = parseInt(hex[0], 16);
      return { kind: 'set', negated: false, ranges: [code, code] };
    }
    // RE2 escapes any ASCII punctuation to itself; letters and digits are classes or refused.
    if (/^[!-/:-@[-`{-~]$/.test(c)) {
      const code = c.codePointAt(0)!;
      return { kind: 'set', negated: false, ranges: [code, code] };
    }
    return this.fail(`\\${c} is not supported`, at);
  }

  private characterClass(open: number): Node {
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    const ranges: Ranges = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail("missing ']'", open);
      if (c === ']' && !first) break;
      first = false;
      if (c === '[' && this.chars[this.pos + 1] === ':') this.fail('POSIX classes [:name:] are not supported');
      const lo = this.classAtom();
      if (typeof lo !== 'number') {
        ranges.push(...lo);
        continue;
      }
      if (this.peek() === '-' && this.chars[this.pos + 1] !== ']' && this.chars[this.pos + 1] !== undefined) {
        const dash = this.pos;
        this.pos++;
        const hi = this.classAtom();
        if (typeof hi !== 'number') this.fail('a class range must end in a character', dash);
        if (hi < lo) this.fail('a class range must not be reversed', dash);
        ranges.push(lo, hi);
      } else ranges.push(lo, lo);
    }
    this.pos++;
    return { kind: 'set', negated, ranges: normalize(ranges) };
  }

  /** One character of a class (its code point) or a shorthand class (its ranges). */
  private classAtom(): number | Ranges {
    const at = this.pos;
    const c = this.peek()!;
    this.pos++;
    if (c !== '\\') return c.codePointAt(0)!;
    const set = this.escape(at, true);
    return set.ranges.length === 2 && set.ranges[0] === set.ranges[1] && !/[dws]/.test(this.chars[this.pos - 1]!) ? set.ranges[0]! : set.ranges;
  }
}

/** Sorted, merged ranges. */
function normalize(ranges: Ranges): Ranges {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

/** Thompson construction into `program`. */
function emit(node: Node, program: RegexInstruction[]): void {
  if (program.length > MAX_PROGRAM) throw new RegexSyntaxError(`the pattern compiles to more than ${MAX_PROGRAM} instructions`, 0);
  switch (node.kind) {
    case 'set':
      program.push([OP_SET, node.negated ? 1 : 0, ...node.ranges]);
      return;
    case 'begin':
      program.push([OP_BEGIN]);
      return;
    case 'end':
      program.push([OP_END]);
      return;
    case 'empty':
      return;
    case 'concat':
      for (const item of node.items) emit(item, program);
      return;
    case 'alt': {
      // split L1, next; L1: a; jmp end; next: split ... ; last alternative falls through.
      const jumps: RegexInstruction[] = [];
      node.items.forEach((item, i) => {
        if (i === node.items.length - 1) return emit(item, program);
        const split: RegexInstruction = [OP_SPLIT, program.length + 1, 0];
        program.push(split);
        emit(item, program);
        const jump: RegexInstruction = [OP_JUMP, 0];
        program.push(jump);
        jumps.push(jump);
        split[2] = program.length;
      });
      for (const jump of jumps) jump[1] = program.length;
      return;
    }
    case 'repeat': {
      for (let i = 0; i < node.min; i++) emit(node.item, program);
      if (node.max === -1) {
        const split: RegexInstruction = [OP_SPLIT, program.length + 1, 0];
        program.push(split);
        const loop = program.length - 1;
        emit(node.item, program);
        program.push([OP_JUMP, loop]);
        split[2] = program.length;
        return;
      }
      const splits: RegexInstruction[] = [];
      for (let i = node.min; i < node.max; i++) {
        const split: RegexInstruction = [OP_SPLIT, program.length + 1, 0];
        program.push(split);
        splits.push(split);
        emit(node.item, program);
      }
      for (const split of splits) split[2] = program.length;
    }
  }
}

/** The program of an RE2-subset pattern, or RegexSyntaxError (offset in UTF-16 units of the pattern). */
export function compileRegex(pattern: string): RegexInstruction[] {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new RegexSyntaxError(`a pattern is at most ${MAX_PATTERN_LENGTH} characters`, MAX_PATTERN_LENGTH);
  const program: RegexInstruction[] = [];
  emit(new Parser(pattern).parse(), program);
  program.push([OP_MATCH]);
  if (program.length > MAX_PROGRAM) throw new RegexSyntaxError(`the pattern compiles to more than ${MAX_PROGRAM} instructions`, 0);
  return program;
}
