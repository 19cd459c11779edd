import type { IrPathMatch, IrRewrite } from '../ir.ts';

/** `$version` substituted, as routed (same rule as server/domain/api-routes.ts). */
export function resolveContext(context: string, version: string): string {
  return context.replaceAll('$version', version);
}

/** The path a route matches: context + operation path (a `/` context adds nothing). */
export function fullPath(resolvedContext: string, operationPath: string): string {
  return resolvedContext === '/' ? operationPath : `${resolvedContext}${operationPath}`;
}

/** RE2 metacharacters, escaped so that literal path text matches only itself. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
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
  if (!path.includes('{')) return { kind: 'exact', path };
  const literals = path.split(/\{[^}]*\}/);
  return { kind: 'regex', regex: `^${literals.map(escapeRegex).join(segment)}$` };
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
  return { kind: 'regex', pattern: `^${escapeRegex(contextPrefix)}`, substitution: basePath };
}

/** Match order inside a virtual host: exact paths first, then regexes with fewer parameters and more literal text. */
export function matchOrderKey(match: IrPathMatch): [number, number, number] {
  if (match.kind === 'exact') return [0, 0, 0];
  const params = match.regex.split(segment).length - 1;
  return [1, params, -match.regex.length];
}
