// A Pike VM (Thompson NFA simulation) running the RE2-subset programs the control plane compiles
// (server/domain/conditions/regex.ts; docs/execution-conditions.md): linear in the input, no backtracking, so a
// pattern cannot make a request slow. The control plane is the one parser; this side checks the program's shape.
import { indexPath, Problems } from "./config";
import { JsonValue } from "./json";

const OP_SET: i32 = 0;
const OP_SPLIT: i32 = 1;
const OP_JUMP: i32 = 2;
const OP_BEGIN: i32 = 3;
const OP_END: i32 = 4;
const OP_MATCH: i32 = 5;
const MAX_PROGRAM: i32 = 1000;

class Instruction {
  op: i32 = 0;
  x: i32 = 0;
  y: i32 = 0;
  negated: bool = false;
  /** Sorted [lo, hi] code point pairs of a set. */
  ranges: StaticArray<i32> = new StaticArray<i32>(0);
}

@inline function isIndex(v: JsonValue, length: i32): bool {
  return v.isNumber && Math.floor(v.numberValue) == v.numberValue && v.numberValue >= 0 && v.numberValue < <f64>length;
}

export class Regex {
  program: Array<Instruction> = new Array<Instruction>(0);
  /** The program starts with `^`: a match can only start at the beginning, so no thread starts later. */
  anchored: bool = false;
  // Thread lists and their generation marks, reused by every match (a module serves one request at a time).
  private current: Int32Array = new Int32Array(0);
  private next: Int32Array = new Int32Array(0);
  private stack: Int32Array = new Int32Array(0);
  private marks: Int32Array = new Int32Array(0);
  private generation: i32 = 0;

  /** The program from its JSON form, or null after reporting what is wrong at `path`. */
  static read(json: JsonValue, path: string, problems: Problems): Regex | null {
    const items = json.items;
    if (items === null || items.length == 0 || items.length > MAX_PROGRAM) {
      problems.add(path, "must be a regex program of 1 to " + MAX_PROGRAM.toString() + " instructions");
      return null;
    }
    const n = items.length;
    const regex = new Regex();
    for (let i = 0; i < n; i++) {
      const at = indexPath(path, i);
      const parts = unchecked(items[i]).items;
      if (parts === null || parts.length == 0 || !unchecked(parts[0]).isNumber) {
        problems.add(at, "must be an instruction");
        return null;
      }
      const ins = new Instruction();
      ins.op = <i32>unchecked(parts[0]).numberValue;
      const count = parts.length;
      let ok = false;
      if (ins.op == OP_SET) {
        ok = count >= 2 && (count & 1) == 0 && unchecked(parts[1]).isNumber;
        ins.negated = ok && unchecked(parts[1]).numberValue != 0;
        const ranges = new StaticArray<i32>(count - 2);
        for (let j = 2; ok && j < count; j++) {
          const v = unchecked(parts[j]);
          ok = isIndex(v, 0x110000);
          if (ok) ranges[j - 2] = <i32>v.numberValue;
        }
        ins.ranges = ranges;
      } else if (ins.op == OP_SPLIT) {
        ok = count == 3 && isIndex(unchecked(parts[1]), n) && isIndex(unchecked(parts[2]), n);
        if (ok) {
          ins.x = <i32>unchecked(parts[1]).numberValue;
          ins.y = <i32>unchecked(parts[2]).numberValue;
        }
      } else if (ins.op == OP_JUMP) {
        ok = count == 2 && isIndex(unchecked(parts[1]), n);
        if (ok) ins.x = <i32>unchecked(parts[1]).numberValue;
      } else {
        ok = count == 1 && (ins.op == OP_BEGIN || ins.op == OP_END || ins.op == OP_MATCH);
      }
      // Every path must end in a match or fall off a consuming instruction: a non-final last instruction that
      // falls through would run past the program.
      if (ok && i == n - 1) ok = ins.op == OP_MATCH || ins.op == OP_JUMP || ins.op == OP_SPLIT;
      if (!ok) {
        problems.add(at, "is not a valid instruction");
        return null;
      }
      regex.program.push(ins);
    }
    regex.anchored = unchecked(regex.program[0]).op == OP_BEGIN;
    regex.current = new Int32Array(n);
    regex.next = new Int32Array(n);
    regex.stack = new Int32Array(2 * n + 2);
    regex.marks = new Int32Array(n);
    return regex;
  }

  /**
   * Follows jumps, splits and assertions from `start` at input position `at` (`atEnd`: no input left), adding
   * the consuming instructions reached to `list`; true when a match is reached.
   */
  private addThread(list: Int32Array, count: i32, start: i32, atStart: bool, atEnd: bool): i32 {
    const program = this.program;
    const stack = this.stack;
    const marks = this.marks;
    const generation = this.generation;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const pc = unchecked(stack[--top]);
      if (unchecked(marks[pc]) == generation) continue;
      unchecked(marks[pc] = generation);
      const ins = unchecked(program[pc]);
      const op = ins.op;
      if (op == OP_JUMP) stack[top++] = ins.x;
      else if (op == OP_SPLIT) {
        stack[top++] = ins.y;
        stack[top++] = ins.x;
      } else if (op == OP_BEGIN) {
        if (atStart) stack[top++] = pc + 1;
      } else if (op == OP_END) {
        if (atEnd) stack[top++] = pc + 1;
      } else if (op == OP_MATCH) return -1;
      else unchecked(list[count++] = pc);
    }
    return count;
  }

  /** Whether the pattern matches somewhere in `text` (RE2's partial match, over code points). */
  matches(text: string): bool {
    const program = this.program;
    // `current`: the threads alive before this position; `next`: their closure at it, then consumed back into `current`.
    const current = this.current;
    const next = this.next;
    let count = 0;
    const length = text.length;
    let i = 0;
    for (;;) {
      const atEnd = i >= length;
      // New generation per position: threads reaching the same instruction at one position are one thread.
      this.generation++;
      let nextCount = 0;
      for (let t = 0; t < count; t++) {
        nextCount = this.addThread(next, nextCount, unchecked(current[t]), i == 0, atEnd);
        if (nextCount < 0) return true;
      }
      if (i == 0 || !this.anchored) {
        nextCount = this.addThread(next, nextCount, 0, i == 0, atEnd);
        if (nextCount < 0) return true;
      } else if (nextCount == 0) return false;
      if (atEnd) return false;
      // One code point (a surrogate pair is one).
      let c = text.charCodeAt(i++);
      if (c >= 0xd800 && c < 0xdc00 && i < length) {
        const low = text.charCodeAt(i);
        if (low >= 0xdc00 && low < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          i++;
        }
      }
      count = 0;
      for (let t = 0; t < nextCount; t++) {
        const pc = unchecked(next[t]);
        const ins = unchecked(program[pc]);
        const ranges = ins.ranges;
        let inside = false;
        for (let r = 0; r < ranges.length; r += 2) {
          if (c >= unchecked(ranges[r]) && c <= unchecked(ranges[r + 1])) {
            inside = true;
            break;
          }
        }
        if (inside != ins.negated) unchecked(current[count++] = pc + 1);
      }
    }
    return false; // unreachable: the loop returns at the end of the input
  }
}
