import type { IrPathMatch, IrRewrite } from '../ir.ts';
import type { PathRewriteSettings } from '../../policies/route-actions/index.ts';

/** `$version` substituted: the same rule the route claims use (server/domain/route-claims.ts). */
export { resolveContext } from '../../domain/route-claims.ts';

/** RE2 metacharacters (`\\^$.|?*+()[]{}`) by char code. */
const metachar = new Uint8Array(128);
for (const c of '\\^$.|?*+()[]{}') metachar[c.charCodeAt(0)] = 1;

/**
 * RE2 metacharacters, escaped so that literal path text matches only itself. A scan instead of a global
 * `replace`: it runs for every route of a catalogue and most text has at most a `.` or two.
 */
export function escapeRegex(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 128 && metachar[code] === 1) {
      out += `${text.slice(from, i)}\\`;
      from = i;
    }
  }
  return out === '' ? text : out + text.slice(from);
}

/** One path segment value: what a `{param}` stands for. */
const segment = '[^/]+';

/** A path template as unanchored RE2: literal text escaped, each `{param}` one segment. */
export function templateRegex(path: string): string {
  let open = path.indexOf('{');
  if (open === -1) return escapeRegex(path);
  // Same as splitting on /\{[^}]*\}/: a `{` without a closing `}` stays literal text.
  let regex = '';
  let from = 0;
  while (open !== -1) {
    const close = path.indexOf('}', open + 1);
    if (close === -1) break;
    regex += escapeRegex(path.slice(from, open)) + segment;
    from = close + 1;
    open = path.indexOf('{', from);
  }
  return regex + escapeRegex(path.slice(from));
}

/** An operation path ending `/*` is a prefix operation (the reference's wildcard). */
export function isWildcard(operationPath: string): boolean {
  return operationPath.endsWith('/*');
}

/** `/*` removed from a wildcard operation path (`/data/*` -> `/data`, `/*` -> ``). */
export function wildcardPrefix(operationPath: string): string {
  return operationPath.slice(0, -2);
}

/** The context as a path prefix: a `/` context adds nothing. */
export function contextPrefix(resolvedContext: string): string {
  return resolvedContext === '/' ? '' : resolvedContext;
}

/**
 * How an operation matches, as the reference gateway routes it (docs/xds.md, "Route matching"): always an
 * anchored RE2 `safe_regex` on the path (Envoy matches it against the whole path without the query string):
 * - `/*` at the end: the prefix with a segment boundary, `^<prefix>(?:/.*)?$` (`/ctx/v1.0` and `/ctx/v1.0/a`,
 *   not `/ctx/v1.0beta`);
 * - `{param}` segments: `[^/]+` each, the rest literal;
 * - `/`: the context with and without a trailing slash, `^<ctx>/?$`;
 * - any other path: itself with one optional trailing slash, `^<path>/?$`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routematch-safe-regex
 */
export function pathMatch(resolvedContext: string, operationPath: string): IrPathMatch {
  const ctx = contextPrefix(resolvedContext);
  if (isWildcard(operationPath)) {
    const prefix = `${ctx}${wildcardPrefix(operationPath)}`;
    return { kind: 'prefix', regex: `^${templateRegex(prefix)}(?:/.*)?$` };
  }
  if (operationPath === '/') return { kind: 'exact', regex: `^${escapeRegex(ctx)}/?$` };
  const path = `${ctx}${operationPath}`;
  if (path.includes('{')) {
    const regex = templateRegex(path);
    if (regex !== escapeRegex(path)) return { kind: 'template', regex: `^${regex}$` };
  }
  return { kind: 'exact', regex: `^${escapeRegex(path)}/?$` };
}

/** `/a/b/` -> `/a/b`, `/` and `` -> `` (no prefix). */
export function normaliseBasePath(basePath: string | null): string {
  if (basePath === null) return '';
  const trimmed = basePath.replace(/\/+$/, '');
  return trimmed;
}

/**
 * How the client's path becomes the upstream's (`regex_rewrite` on the path; Envoy keeps the query string):
 * the context is swapped for the upstream's base path, the operation path and a trailing slash are kept.
 * The reference's two special cases: a root operation `/` becomes `<base>/` with or without the client's
 * trailing slash, and a root wildcard `/*` on a root upstream never sends an empty path (`/ctx` -> `/`).
 * No rewrite when nothing would change.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-regex-rewrite
 */
export function pathRewrite(resolvedContext: string, operationPath: string, basePath: string): IrRewrite {
  const ctx = contextPrefix(resolvedContext);
  if (operationPath === '/') return { kind: 'regex', pattern: `^${escapeRegex(ctx)}/?$`, substitution: `${basePath}/` };
  if (operationPath === '/*' && basePath === '') return { kind: 'regex', pattern: `^${escapeRegex(ctx)}/?(.*)$`, substitution: '/\\1' };
  if (basePath === ctx) return null;
  return { kind: 'regex', pattern: contextPattern(ctx), substitution: basePath };
}

// The operations of one API share their context: one entry is enough to escape it once per API.
let lastContext = '';
let lastContextPattern = '^';

function contextPattern(ctx: string): string {
  if (ctx !== lastContext) {
    lastContextPattern = `^${escapeRegex(ctx)}`;
    lastContext = ctx;
  }
  return lastContextPattern;
}

/** Match order rank inside a virtual host: literal paths, then templates, then wildcard prefixes. */
const rank: Record<IrPathMatch['kind'], number> = { exact: 0, template: 1, prefix: 2 };

/**
 * Match order inside a virtual host (Envoy takes the first route that matches): literal paths first, then
 * templates with fewer parameters, then wildcard prefixes; within a rank the longer regex (more literal text,
 * the more specific path) first. As the reference sorts (Exact > Regex > Prefix, then specificity).
 */
export function matchOrderKey(match: IrPathMatch): [number, number, number] {
  return [rank[match.kind], match.kind === 'template' ? regexParams(match.regex) : 0, -match.regex.length];
}

/** How many `{param}` segments a route regex has (occurrences of `[^/]+`). */
export function regexParams(regex: string): number {
  let params = 0;
  for (let at = regex.indexOf(segment); at !== -1; at = regex.indexOf(segment, at + segment.length)) params++;
  return params;
}

/** Literal text in an RE2 substitution: only `\` is special there. */
function escapeSubstitution(text: string): string {
  return text.replaceAll('\\', '\\\\');
}

/**
 * A request-rewrite policy's `pathRewrite` (route-actions/request-rewrite.ts) as the route's rewrite: the path
 * after the context is rewritten, then the upstream base path prepended, in one Envoy rewrite.
 * - ReplacePrefixMatch: `^<ctx><operation prefix>` -> `<base><replacement>`, the rest (sub-path, trailing slash) kept;
 * - ReplaceFullPath: `prefix_rewrite` of the whole path (a regex-matched route's matched path) to `<base><path>`;
 * - ReplaceRegexMatch: `^<ctx>(?:<pattern without ^>)` -> `<base><substitution>`; the route is guarded by the
 *   pattern (api-routes.ts), so a path the pattern does not match takes the API's plain route instead.
 */
export function policyPathRewrite(rewrite: PathRewriteSettings, resolvedContext: string, operationPath: string, basePath: string): IrRewrite {
  const ctx = escapeRegex(contextPrefix(resolvedContext));
  const base = escapeSubstitution(basePath);
  if (rewrite.type === 'ReplaceFullPath') return { kind: 'prefix', prefix: `${basePath}${rewrite.path}` };
  if (rewrite.type === 'ReplaceRegexMatch') return { kind: 'regex', pattern: `^${ctx}(?:${rewrite.pattern.slice(1)})`, substitution: `${base}${rewrite.substitution}` };
  const replacement = `${base}${escapeSubstitution(rewrite.replacement)}`;
  if (operationPath === '/') return { kind: 'regex', pattern: `^${ctx}/?$`, substitution: replacement };
  const prefix = isWildcard(operationPath) ? wildcardPrefix(operationPath) : operationPath;
  return { kind: 'regex', pattern: `^${ctx}${templateRegex(prefix)}`, substitution: replacement };
}

/** The guard of a ReplaceRegexMatch route: the path after the context matches the pattern (which starts with `^`). */
export function policyPathGuard(rewrite: PathRewriteSettings, resolvedContext: string): string | null {
  if (rewrite.type !== 'ReplaceRegexMatch') return null;
  return `^${escapeRegex(contextPrefix(resolvedContext))}(?:${rewrite.pattern.slice(1)}).*$`;
}

/**
 * A route regex (built above) as a regex on the `:path` header, which carries the query string: a segment never
 * spans a `?`, and an optional query may follow the path. Used where the path match itself is taken by a guard.
 */
export function withQuery(regex: string): string {
  const body = regex.slice(0, -1).replaceAll(segment, '[^/?]+').replace(/\(\?:\/\.\*\)\?$/, '(?:/[^?]*)?');
  return `${body}(?:\\?.*)?$`;
}
