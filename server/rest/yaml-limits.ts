import { Lexer } from 'yaml';
import { ValidationError } from '../domain/errors.ts';

/** Bracket nesting allowed in a YAML body. */
const maxFlowDepth = 64;
/** Column at which a block node may start; block nesting needs a deeper column per level, so this bounds it. */
const maxBlockColumn = 128;

/** The lexer's markers that stand for no source text (document, scalar, flow-error-end, byte-order mark). */
const markers = new Set(['\x02', '\x1f', '\x18', '\u{FEFF}']);

/**
 * Refuses YAML nested deeper than the limits before the `yaml` parser sees it: its composer recurses per level,
 * and deep nesting costs superlinear time (1,000 brackets took 112 ms; 10,000 exhausted the heap). Uses the
 * package's own lexer (linear, and it stops at the first excess), so quoting and block scalars are read as the
 * parser reads them.
 */
export function assertYamlNesting(text: string): void {
  let depth = 0;
  let column = 0;
  let lineStart = true;
  for (const token of new Lexer().lex(text)) {
    if (markers.has(token)) continue;
    const start = column;
    const newline = token.lastIndexOf('\n');
    column = newline >= 0 ? token.length - newline - 1 : column + token.length;
    if (token === '[' || token === '{') depth += 1;
    else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
    const blockStart = token === '-' || token === '?' || (lineStart && token[0] !== ' ' && token[0] !== '\t' && newline < 0);
    if (depth > maxFlowDepth || (blockStart && start > maxBlockColumn)) {
      throw new ValidationError([{ path: 'body', message: `YAML nested too deeply (at most ${maxFlowDepth} brackets, block nodes within column ${maxBlockColumn})` }], 'Invalid request body');
    }
    if (newline >= 0) lineStart = true;
    else if (token[0] !== ' ' && token[0] !== '\t') lineStart = false;
  }
}
