import { z } from 'zod';
import { compileGlobal, RegexError } from '../../envoy/re2.ts';
import { fail, ok, paramsIssues, routeAttachments } from '../kind.ts';
import type { RouteActionKind } from './kind.ts';

/**
 * request-rewrite (the reference's `request-rewrite@v1`, docs/policies.md#request-rewrite): `pathRewrite` of the
 * path after the API context, as the route's Envoy rewrite (the upstream base path is still prepended):
 * - `ReplacePrefixMatch`: the operation's path (without `/*`; `{param}` = one segment) becomes `replacePrefixMatch`;
 * - `ReplaceFullPath`: the whole path after the context becomes `replaceFullPath`;
 * - `ReplaceRegexMatch`: an RE2 pattern anchored with `^` at the start of the path after the context, replaced by
 *   `substitution` (`\1`..`\9`). One Envoy regex_rewrite must also swap the context for the base path, which an
 *   unanchored, replace-every-match pattern cannot be combined with: those are refused, not approximated.
 * `queryRewrite`, `methodRewrite` and `match` are refused (no Envoy route field does them without a module).
 * Operation-level replaces API-level (one rewrite per route; the reference applies both in turn).
 */

export type PathRewriteSettings =
  | { type: 'ReplacePrefixMatch'; replacement: string }
  | { type: 'ReplaceFullPath'; path: string }
  | { type: 'ReplaceRegexMatch'; pattern: string; substitution: string };

const unsupported = (what: string) =>
  z.unknown().optional().superRefine((value, ctx) => {
    if (value !== undefined) ctx.addIssue({ code: 'custom', message: `is not supported: ${what}; only pathRewrite is` });
  });

/** `^a|b` is `(^a)|b`: a `|` outside any group makes the pattern unanchored again. */
function hasTopLevelAlternation(pattern: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

const re2Pattern = z.string().min(1).max(1024).superRefine((pattern, ctx) => {
  if (!pattern.startsWith('^') || hasTopLevelAlternation(pattern)) {
    ctx.addIssue({ code: 'custom', message: 'must start with ^ (anchored at the start of the path after the context): an unanchored pattern replacing every match cannot be one Envoy regex_rewrite with the context swap' });
    return;
  }
  try {
    compileGlobal(pattern);
  } catch (error: unknown) {
    ctx.addIssue({ code: 'custom', message: error instanceof RegexError ? error.message : `invalid RE2 pattern: ${String(error)}` });
  }
});

const pathRewrite = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ReplacePrefixMatch'), replacePrefixMatch: z.string().max(2048).regex(/^(?:\/.*)?$/, 'must be empty or start with /') }),
  z.strictObject({ type: z.literal('ReplaceFullPath'), replaceFullPath: z.string().min(1).max(2048).regex(/^\/.*/, 'must start with /') }),
  z.strictObject({
    type: z.literal('ReplaceRegexMatch'),
    replaceRegexMatch: z.strictObject({ pattern: re2Pattern, substitution: z.string().max(2048) }),
  }),
]);

const params = z.strictObject({
  pathRewrite,
  queryRewrite: unsupported('query rewriting needs a module, and a module changing :path re-selects the route in Envoy'),
  methodRewrite: unsupported('method rewriting needs a module, and a module changing :method re-selects the route in Envoy'),
  match: unsupported('match conditions would make the route rewrite depend on the request'),
});

function settings(p: z.output<typeof pathRewrite>): PathRewriteSettings {
  if (p.type === 'ReplacePrefixMatch') return { type: p.type, replacement: p.replacePrefixMatch };
  if (p.type === 'ReplaceFullPath') return { type: p.type, path: p.replaceFullPath };
  return { type: p.type, pattern: p.replaceRegexMatch.pattern, substitution: p.replaceRegexMatch.substitution };
}

export const requestRewriteAction: RouteActionKind<PathRewriteSettings> = {
  definition: {
    name: 'request-rewrite',
    aliases: [],
    description: 'Rewrites the path the upstream receives (pathRewrite: ReplacePrefixMatch, ReplaceFullPath, ReplaceRegexMatch).',
    params,
    attachTo: routeAttachments,
  },
  fromParams(raw) {
    const parsed = params.safeParse(raw);
    return parsed.success ? ok(settings(parsed.data.pathRewrite)) : fail(paramsIssues(parsed.error.issues, 'params', 'request-rewrite'));
  },
};
