// Execution conditions (docs/execution-conditions.md): a CEL subset over the request, parsed and type-checked with
// cel-js, then walked here: anything outside the subset is refused with its offset, and what is accepted becomes the
// compact tree the condition module evaluates (policies/condition). This walk is the one owner of the subset.
import { type ASTNode, Environment } from '@marcbachmann/cel-js';
import { compileRegex, RegexSyntaxError } from './regex.ts';

export const MAX_CONDITION_LENGTH = 1024;
/** Nodes of the compiled tree (each operator, literal and `request.X` counts one). */
export const MAX_CONDITION_NODES = 64;
export const MAX_CONDITION_DEPTH = 32;

/**
 * The compiled tree, JSON arrays headed by an operator: `["s", text]`, `["i", n]`, `["b", bool]`, `["list", ...items]`,
 * `["method"]`, `["path"]`, `["headers"]`, `["query"]`, `["==" | "!=" | "in" | "&&" | "||" | "[]" | "startsWith" |
 * "endsWith" | "contains", a, b]`, `["!", a]`, `["matches", a, program]` (program: policies/lib/regex-vm.ts).
 */
export type CompiledCondition = unknown[];

export type ConditionCheck = { ok: true; compiled: CompiledCondition } | { ok: false; message: string; offset: number };

type Scalar = 'string' | 'int' | 'bool';
type Type = Scalar | 'map' | { list: Scalar | 'empty' };

class ConditionError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

// The reference's request fields (its evaluator.go `request.*` variables), Query added (docs/execution-conditions.md).
const environment = new Environment({ unlistedVariablesAreDyn: false })
  .registerType('Request', {
    fields: { Method: 'string', Path: 'string', Headers: 'map<string, list<string>>', Query: 'map<string, list<string>>' },
  })
  .registerVariable('request', 'Request');

const fields: Record<string, [string, Type]> = { Method: ['method', 'string'], Path: ['path', 'string'], Headers: ['headers', 'map'], Query: ['query', 'map'] };
const stringMethods = new Set(['startsWith', 'endsWith', 'contains', 'matches']);
const names: Partial<Record<string, string>> = {
  '+': 'arithmetic', '-': 'arithmetic', '*': 'arithmetic', '/': 'arithmetic', '%': 'arithmetic', '-_': 'arithmetic',
  '<': 'ordering', '<=': 'ordering', '>': 'ordering', '>=': 'ordering', '?:': 'the conditional operator', map: 'map literals',
  '.?': 'optional selection', '[?]': 'optional indexing',
};

const isScalar = (t: Type): t is Scalar => t === 'string' || t === 'int' || t === 'bool';
const show = (t: Type) => (typeof t === 'string' ? t : t.list === 'empty' ? 'list' : `list<${t.list}>`);

class Walker {
  nodes = 0;

  walk(node: ASTNode, depth: number): [CompiledCondition, Type] {
    if (++this.nodes > MAX_CONDITION_NODES) throw new ConditionError(`more than ${MAX_CONDITION_NODES} nodes`, node.start);
    if (depth > MAX_CONDITION_DEPTH) throw new ConditionError(`nested more than ${MAX_CONDITION_DEPTH} levels deep`, node.start);
    const fail = (message: string, at: ASTNode = node): never => {
      throw new ConditionError(message, at === node ? offsetOf(node) : at.start);
    };
    const expect = (child: ASTNode, want: Type): CompiledCondition => {
      const [compiled, type] = this.walk(child, depth + 1);
      if (show(type) !== show(want)) fail(`expected ${show(want)}, found ${show(type)}`, child);
      return compiled;
    };
    switch (node.op) {
      case 'value': {
        const v = node.args;
        if (typeof v === 'string') return [['s', v], 'string'];
        if (typeof v === 'boolean') return [['b', v], 'bool'];
        if (typeof v === 'bigint') {
          if (v > 2147483647n || v < -2147483648n) fail('integer literals are limited to 32 bits');
          return [['i', Number(v)], 'int'];
        }
        return fail('only string, integer and boolean literals are supported');
      }
      case 'id':
        return fail(node.args === 'request' ? 'use a field of request: Method, Path, Headers or Query' : `unknown name '${node.args}'`);
      case '.': {
        const [target, field] = node.args;
        const known = fields[field];
        if (target.op !== 'id' || target.args !== 'request' || known === undefined) return fail(`unsupported field '${field}'; request has Method, Path, Headers and Query`);
        this.nodes--; // `request` and its field count as one node
        return [[known[0]], known[1]];
      }
      case 'list': {
        const items: CompiledCondition[] = [];
        let element: Scalar | 'empty' = 'empty';
        for (const item of node.args) {
          const [compiled, type] = this.walk(item, depth + 1);
          if (!isScalar(type)) return fail('list elements must be strings, integers or booleans', item);
          if (element !== 'empty' && element !== type) fail('list elements must all have one type', item);
          element = type;
          items.push(compiled);
        }
        return [['list', ...items], { list: element }];
      }
      case '==':
      case '!=': {
        const [a, at] = this.walk(node.args[0], depth + 1);
        if (!isScalar(at)) fail(`${node.op} compares strings, integers or booleans`);
        return [[node.op, a, expect(node.args[1], at)], 'bool'];
      }
      case 'in': {
        const [a, at] = this.walk(node.args[0], depth + 1);
        const [b, bt] = this.walk(node.args[1], depth + 1);
        if (bt === 'map') {
          if (at !== 'string') fail('a key of a map is a string', node.args[0]);
        } else if (typeof bt === 'object') {
          if (!isScalar(at) || (bt.list !== 'empty' && bt.list !== at)) fail(`expected ${bt.list === 'empty' ? 'a string, integer or boolean' : bt.list}, found ${show(at)}`, node.args[0]);
        } else fail('in needs a list or a map on its right', node.args[1]);
        return [['in', a, b], 'bool'];
      }
      case '&&':
      case '||':
        return [[node.op, expect(node.args[0], 'bool'), expect(node.args[1], 'bool')], 'bool'];
      case '!_':
        return [['!', expect(node.args, 'bool')], 'bool'];
      case '[]': {
        const [a, at] = this.walk(node.args[0], depth + 1);
        if (at === 'map') return [['[]', a, expect(node.args[1], 'string')], { list: 'string' }];
        if (typeof at === 'object' && at.list !== 'empty') return [['[]', a, expect(node.args[1], 'int')], at.list];
        return fail('only Headers, Query and their lists can be indexed', node.args[0]);
      }
      case 'rcall': {
        const [name, receiver, args] = node.args;
        if (!stringMethods.has(name)) return fail(`unsupported function '${name}'; supported: startsWith, endsWith, contains, matches`);
        if (args.length !== 1) return fail(`${name} takes one argument`);
        const target = expect(receiver, 'string');
        const arg = args[0]!;
        if (name !== 'matches') return [[name, target, expect(arg, 'string')], 'bool'];
        if (arg.op !== 'value' || typeof arg.args !== 'string') return fail('matches takes a string literal pattern', arg);
        this.nodes++;
        try {
          return [['matches', target, compileRegex(arg.args)], 'bool'];
        } catch (error) {
          if (error instanceof RegexSyntaxError) return fail(`invalid RE2 pattern: ${error.message} (pattern offset ${error.offset})`, arg);
          throw error;
        }
      }
      case 'call':
        return fail(`unsupported function '${node.args[0]}'; supported: startsWith, endsWith, contains, matches`);
      default:
        return fail(`${names[node.op] ?? `'${node.op}'`} is not supported in execution conditions`);
    }
  }
}

/**
 * Where a node's problem is: its operator (after the left operand, or the method name after the receiver's dot)
 * rather than its first character, so `request.Method == 1` points at `==`.
 */
function offsetOf(node: ASTNode): number {
  const op = node.op as string;
  const binary = ['==', '!=', 'in', '&&', '||', '+', '-', '*', '/', '%', '<', '<=', '>', '>=', '?:'].includes(op);
  const left = binary ? (node.args as ASTNode[])[0] : op === 'rcall' ? (node.args as [string, ASTNode])[1] : null;
  if (left === null || left === undefined || typeof left.end !== 'number') return node.pos;
  const input = node.input;
  let at = left.end;
  while (at < input.length && /[\s)]/.test(input[at]!)) at++;
  if (op === 'rcall' && input[at] === '.') at++;
  while (op === 'rcall' && at < input.length && /\s/.test(input[at]!)) at++;
  return at;
}

/** cel-js errors carry the node or range they are about. */
function errorOffset(error: unknown): number {
  const e = error as { range?: { start: number }; node?: ASTNode | { pos?: number } };
  if (e.node !== undefined && 'op' in e.node && typeof e.node.input === 'string') return offsetOf(e.node);
  return e.node?.pos ?? e.range?.start ?? 0;
}

function errorSummary(error: unknown): string {
  const e = error as { summary?: string; message?: string };
  const text = e.summary ?? e.message ?? String(error);
  return text.split('\n')[0]!.replace(/\.$/, '');
}

/** Parses, type-checks and compiles a condition; a refusal says what and where (UTF-16 offset into the text). */
export function compileCondition(text: string): ConditionCheck {
  if (text.length > MAX_CONDITION_LENGTH) return { ok: false, message: `longer than ${MAX_CONDITION_LENGTH} characters`, offset: MAX_CONDITION_LENGTH };
  let ast: ASTNode;
  try {
    const parsed = environment.parse(text);
    const checked = parsed.check();
    if (!checked.valid) return { ok: false, message: errorSummary(checked.error), offset: errorOffset(checked.error) };
    if (checked.type !== 'bool') return { ok: false, message: `a condition is a bool, not ${checked.type}`, offset: 0 };
    ast = parsed.ast;
  } catch (error) {
    return { ok: false, message: errorSummary(error), offset: errorOffset(error) };
  }
  try {
    const [compiled, type] = new Walker().walk(ast, 0);
    if (type !== 'bool') return { ok: false, message: `a condition is a bool, not ${show(type)}`, offset: 0 };
    return { ok: true, compiled };
  } catch (error) {
    if (error instanceof ConditionError) return { ok: false, message: error.message, offset: error.offset };
    throw error;
  }
}

/** The message of a refused condition, as the domain reports it on `<attachment>.executionCondition`. */
export function conditionMessage(check: Extract<ConditionCheck, { ok: false }>): string {
  return `Invalid execution condition: ${check.message} at offset ${check.offset}`;
}
