// Shared by the embedded gateway (route matching and rewriting) and the control plane (RE2 params checked at write time).
// RE2 (the regex engine of Envoy's `safe_regex` / google_re2) translated to a JavaScript RegExp.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/matcher/v3/regex.proto
// https://github.com/google/re2/wiki/Syntax
// RE2 is a subset of what JS accepts except for a few spellings, translated here: `(?P<name>`, `\A`, `\z`,
// `\Q...\E`, POSIX classes `[[:alpha:]]`, leading flag groups `(?i)`. What RE2 refuses (backreferences,
// lookaround) is refused here too, so a pattern Envoy would reject never works in the embedded gateway.

export class RegexError extends Error {
  constructor(pattern: string, reason: string) {
    super(`invalid RE2 pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'RegexError';
  }
}

const posixClasses: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-/:-@[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

const metaCharacters = /[\\^$.*+?()[\]{}|/-]/g;

function escapeLiteral(text: string): string {
  return text.replace(metaCharacters, '\\$&');
}

/** Translates an RE2 pattern to a JS source and flags; throws RegexError on what RE2 refuses. */
export function translateRe2(pattern: string): { source: string; flags: string } {
  let flags = '';
  let rest = pattern;
  const leading = /^\(\?([imsU]+)\)/.exec(rest);
  if (leading?.[1] !== undefined) {
    for (const flag of leading[1]) {
      if (flag === 'U') throw new RegexError(pattern, 'ungreedy mode (?U) is not supported');
      if (!flags.includes(flag)) flags += flag;
    }
    rest = rest.slice(leading[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < rest.length; i++) {
    const char = rest[i] as string;
    const next = rest[i + 1];
    if (char === '\\') {
      if (next === undefined) throw new RegexError(pattern, 'trailing backslash');
      if (next === 'Q') {
        const end = rest.indexOf('\\E', i + 2);
        const literal = rest.slice(i + 2, end < 0 ? rest.length : end);
        out += escapeLiteral(literal);
        i = end < 0 ? rest.length : end + 1;
        continue;
      }
      if (/[1-9]/.test(next)) throw new RegexError(pattern, 'backreferences are not supported');
      if (next === 'A' && !inClass) { out += '^'; i++; continue; }
      if (next === 'z' && !inClass) { out += '$'; i++; continue; }
      if (next === 'C') throw new RegexError(pattern, '\\C is not supported');
      if (next === 'p' || next === 'P') {
        const name = rest[i + 2] === '{' ? rest.slice(i + 3, rest.indexOf('}', i + 3)) : rest[i + 2] ?? '';
        out += `\\${next}{${name}}`;
        i += rest[i + 2] === '{' ? name.length + 3 : 2;
        flags += flags.includes('u') ? '' : 'u';
        continue;
      }
      out += char + next;
      i++;
      continue;
    }
    if (inClass) {
      if (char === '[' && next === ':') {
        const end = rest.indexOf(':]', i + 2);
        const name = end < 0 ? '' : rest.slice(i + 2, end);
        const negated = name.startsWith('^');
        const expansion = posixClasses[negated ? name.slice(1) : name];
        if (expansion === undefined) throw new RegexError(pattern, `unknown POSIX class [:${name}:]`);
        if (negated) throw new RegexError(pattern, 'negated POSIX classes are not supported');
        out += expansion;
        i = end + 1;
        continue;
      }
      if (char === '[') { out += '\\['; continue; }
      if (char === ']') inClass = false;
      out += char;
      continue;
    }
    if (char === '[') {
      inClass = true;
      out += char;
      if (next === '^') { out += '^'; i++; }
      if (rest[i + 1] === ']') { out += '\\]'; i++; }
      continue;
    }
    if (char === '(' && next === '?') {
      const group = rest.slice(i, i + 4);
      if (group.startsWith('(?P<')) { out += '(?<'; i += 3; continue; }
      if (group.startsWith('(?:')) { out += '(?:'; i += 2; continue; }
      if (group.startsWith('(?<') || group.startsWith('(?')) {
        throw new RegexError(pattern, `group syntax ${group} is not supported (lookaround and inline flags are not RE2)`);
      }
    }
    out += char;
  }
  if (inClass) throw new RegexError(pattern, 'missing ]');
  return { source: out, flags };
}

/** An anchored, full-match RegExp (Envoy's safe_regex route match must match the whole path). */
export function compileFullMatch(pattern: string): RegExp {
  const { source, flags } = translateRe2(pattern);
  try {
    return new RegExp(`^(?:${source})$`, flags);
  } catch (error: unknown) {
    throw new RegexError(pattern, error instanceof Error ? error.message : String(error));
  }
}

/** A global RegExp for substitutions (Envoy's regex_rewrite replaces every non-overlapping match). */
export function compileGlobal(pattern: string): RegExp {
  const { source, flags } = translateRe2(pattern);
  try {
    return new RegExp(source, `${flags}g`);
  } catch (error: unknown) {
    throw new RegexError(pattern, error instanceof Error ? error.message : String(error));
  }
}

/** RE2 substitution (`\0`..`\9` are groups, `\\` a backslash) applied with a JS global RegExp. */
export function re2Replace(input: string, regex: RegExp, substitution: string): string {
  regex.lastIndex = 0;
  return input.replace(regex, (...args: unknown[]) => {
    // Arguments are the match, each group (string or undefined), then the offset (the first number).
    const groups: unknown[] = [];
    for (const arg of args) {
      if (typeof arg === 'number') break;
      groups.push(arg);
    }
    return substitution.replace(/\\(\d|\\)/g, (_, ref: string) => {
      if (ref === '\\') return '\\';
      const value = groups[Number(ref)];
      return typeof value === 'string' ? value : '';
    });
  });
}

/**
 * The literal text every full match of `pattern` starts with ('' when none can be told): lets a route table skip a
 * regex whose path cannot match with one `startsWith` (routes are regexes `^/ctx/v1/books/?$`, tested in order).
 * Conservative: any alternation, flag group or class escape ends the prefix, and a quantified last character is
 * dropped (`^/a/?$` -> `/a`).
 */
export function literalPrefixOf(pattern: string): string {
  if (pattern.includes('|')) return '';
  let at = pattern.startsWith('^') ? 1 : 0;
  let prefix = '';
  while (at < pattern.length) {
    const c = pattern[at]!;
    let literal: string;
    let next: number;
    if (c === '\\') {
      const escaped = pattern[at + 1];
      if (escaped === undefined || /[A-Za-z0-9]/.test(escaped)) break;
      literal = escaped;
      next = at + 2;
    } else if ('^$.[]()?*+{}'.includes(c)) {
      break;
    } else {
      literal = c;
      next = at + 1;
    }
    const after = pattern[next];
    if (after === '?' || after === '*' || after === '+' || after === '{') break;
    prefix += literal;
    at = next;
  }
  return prefix;
}
