import type { IrPathMatch, IrRewrite } from '../ir.ts';

/** `$version` substituted, and context + operation path: the same rule the route claims use (server/domain/route-claims.ts). */
export { resolveContext, routePath as fullPath } from '../../domain/route-claims.ts';

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

/**
 * A path without parameters is an exact `path` match; `{param}` segments make an anchored RE2 `safe_regex`.
 * Envoy's safe_regex path match must match the whole path (not the query string) anyway; the anchors make that
 * explicit for readers and for the embedded gateway.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routematch-safe-regex
 */
export function pathMatch(path: string): IrPathMatch {
  let open = path.indexOf('{');
  if (open === -1) return { kind: 'exact', path };
  // Same as splitting on /\{[^}]*\}/: a `{` without a closing `}` stays literal text.
  let regex = '^';
  let from = 0;
  while (open !== -1) {
    const close = path.indexOf('}', open + 1);
    if (close === -1) break;
    regex += escapeRegex(path.slice(from, open)) + segment;
    from = close + 1;
    open = path.indexOf('{', from);
  }
  return { kind: 'regex', regex: `${regex}${escapeRegex(path.slice(from))}$` };
}

/** `/a/b/` -> `/a/b`, `/` and `` -> `` (no prefix). */
export function normaliseBasePath(basePath: string | null): string {
  if (basePath === null) return '';
  const trimmed = basePath.replace(/\/+$/, '');
  return trimmed;
}

/**
 * How the client's path becomes the upstream's: the context is swapped for the upstream's base path.
 * - exact matches use `prefix_rewrite`, which with a `path` match replaces the whole matched path and keeps the
 *   query string (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-prefix-rewrite);
 * - regex matches use `regex_rewrite` on the context alone, since prefix_rewrite would replace the whole
 *   path there (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-regex-rewrite).
 * No rewrite when the upstream base path equals the context.
 */
export function pathRewrite(match: IrPathMatch, resolvedContext: string, operationPath: string, basePath: string): IrRewrite {
  const contextPrefix = resolvedContext === '/' ? '' : resolvedContext;
  if (basePath === contextPrefix) return null;
  if (match.kind === 'exact') return { kind: 'prefix', prefix: `${basePath}${operationPath}` };
  return { kind: 'regex', pattern: contextPattern(contextPrefix), substitution: basePath };
}

// The operations of one API share their context: one entry is enough to escape it once per API.
let lastContext = '';
let lastContextPattern = '^';

function contextPattern(contextPrefix: string): string {
  if (contextPrefix !== lastContext) {
    lastContextPattern = `^${escapeRegex(contextPrefix)}`;
    lastContext = contextPrefix;
  }
  return lastContextPattern;
}

/** Match order inside a virtual host: exact paths first, then regexes with fewer parameters and more literal text. */
export function matchOrderKey(match: IrPathMatch): [number, number, number] {
  if (match.kind === 'exact') return [0, 0, 0];
  return [1, regexParams(match.regex), -match.regex.length];
}

/** How many `{param}` segments a route regex has (occurrences of `[^/]+`). */
export function regexParams(regex: string): number {
  let params = 0;
  for (let at = regex.indexOf(segment); at !== -1; at = regex.indexOf(segment, at + segment.length)) params++;
  return params;
}
