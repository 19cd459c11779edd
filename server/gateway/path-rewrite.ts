// Path rewrites of a RouteAction, applied to the path without its query string (the query is kept).
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-routeaction-prefix-rewrite
// prefix_rewrite swaps "the matched prefix (or path)": the route's prefix for a prefix match, the whole path
// for a path or safe_regex match. regex_rewrite substitutes every match of its pattern (RE2::GlobalReplace).
import { ConfigError, type JsonObject, objectAt, stringAt } from './json-fields.ts';
import { compileGlobal, re2Replace } from '../envoy/re2.ts';

/** `pathOnly` is the request path without query; `matchedPrefixLength` is what the route's match consumed. */
export type PathRewriter = (pathOnly: string, matchedPrefixLength: number) => string;

export function compilePathRewrite(action: JsonObject, where: string): PathRewriter | null {
  const prefixRewrite = stringAt(action, 'prefixRewrite', where);
  const regexRewrite = objectAt(action, 'regexRewrite', where);
  if (prefixRewrite !== undefined && regexRewrite !== undefined) {
    throw new ConfigError(`${where}: only one of prefixRewrite and regexRewrite may be set`);
  }
  if (prefixRewrite !== undefined) {
    return (pathOnly, matchedPrefixLength) => prefixRewrite + pathOnly.slice(matchedPrefixLength);
  }
  if (regexRewrite !== undefined) {
    const pattern = objectAt(regexRewrite, 'pattern', `${where}.regexRewrite`);
    const regex = pattern === undefined ? undefined : stringAt(pattern, 'regex', `${where}.regexRewrite.pattern`);
    const substitution = stringAt(regexRewrite, 'substitution', `${where}.regexRewrite`) ?? '';
    if (regex === undefined) throw new ConfigError(`${where}.regexRewrite.pattern.regex is required`);
    const compiled = compileGlobal(regex);
    return (pathOnly) => re2Replace(pathOnly, compiled, substitution);
  }
  return null;
}

/** Applies a rewrite to a full `:path`, keeping its query string. */
export function rewritePath(path: string, rewriter: PathRewriter, matchedPrefixLength: number): string {
  const queryAt = path.indexOf('?');
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
  const rewritten = rewriter(pathOnly, matchedPrefixLength);
  return queryAt < 0 ? rewritten : rewritten + path.slice(queryAt);
}
