// Envoy's StringMatcher, HeaderMatcher and QueryParameterMatcher, compiled to predicates.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/matcher/v3/string.proto
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-headermatcher
import { booleanAt, ConfigError, type JsonObject, objectAt, stringAt } from './json-fields.ts';
import { compileFullMatch } from '../envoy/re2.ts';

export type StringPredicate = (value: string) => boolean;

function regexPredicate(spec: JsonObject | undefined, where: string): StringPredicate {
  const regex = spec === undefined ? undefined : stringAt(spec, 'regex', where);
  if (regex === undefined) throw new ConfigError(`${where}.regex is required`);
  const compiled = compileFullMatch(regex);
  return (value) => compiled.test(value);
}

/** A StringMatcher (`exact`, `prefix`, `suffix`, `contains`, `safeRegex`, with `ignoreCase`). */
export function compileStringMatcher(spec: JsonObject, where: string): StringPredicate {
  const ignoreCase = booleanAt(spec, 'ignoreCase', where) === true;
  const norm = (text: string): string => (ignoreCase ? text.toLowerCase() : text);
  const exact = stringAt(spec, 'exact', where);
  if (exact !== undefined) { const want = norm(exact); return (value) => norm(value) === want; }
  const prefix = stringAt(spec, 'prefix', where);
  if (prefix !== undefined) { const want = norm(prefix); return (value) => norm(value).startsWith(want); }
  const suffix = stringAt(spec, 'suffix', where);
  if (suffix !== undefined) { const want = norm(suffix); return (value) => norm(value).endsWith(want); }
  const contains = stringAt(spec, 'contains', where);
  if (contains !== undefined) { const want = norm(contains); return (value) => norm(value).includes(want); }
  const safeRegex = objectAt(spec, 'safeRegex', where);
  if (safeRegex !== undefined) return regexPredicate(safeRegex, `${where}.safeRegex`);
  throw new ConfigError(`${where} has no supported match (exact, prefix, suffix, contains, safeRegex)`);
}

/** Reads a header from the request (repeated values joined with ",", as Envoy's matcher sees them). */
export type HeaderLookup = (name: string) => string | undefined;

export interface HeaderMatcher {
  readonly name: string;
  matches(lookup: HeaderLookup): boolean;
}

/** A HeaderMatcher; `:method`, `:path`, `:authority` are matched as pseudo-headers, as in Envoy. */
export function compileHeaderMatcher(spec: JsonObject, where: string): HeaderMatcher {
  const name = stringAt(spec, 'name', where)?.toLowerCase();
  if (name === undefined || name === '') throw new ConfigError(`${where}.name is required`);
  const invert = booleanAt(spec, 'invertMatch', where) === true;
  const missingAsEmpty = booleanAt(spec, 'treatMissingHeaderAsEmpty', where) === true;
  const present = booleanAt(spec, 'presentMatch', where);
  let test: StringPredicate | undefined;
  const exact = stringAt(spec, 'exactMatch', where);
  const prefix = stringAt(spec, 'prefixMatch', where);
  const suffix = stringAt(spec, 'suffixMatch', where);
  const contains = stringAt(spec, 'containsMatch', where);
  const regex = objectAt(spec, 'safeRegexMatch', where);
  const stringMatch = objectAt(spec, 'stringMatch', where);
  if (exact !== undefined) test = (value) => value === exact;
  else if (prefix !== undefined) test = (value) => value.startsWith(prefix);
  else if (suffix !== undefined) test = (value) => value.endsWith(suffix);
  else if (contains !== undefined) test = (value) => value.includes(contains);
  else if (regex !== undefined) test = regexPredicate(regex, `${where}.safeRegexMatch`);
  else if (stringMatch !== undefined) test = compileStringMatcher(stringMatch, `${where}.stringMatch`);
  else if (spec.rangeMatch !== undefined) throw new ConfigError(`${where}.rangeMatch is not supported`);
  return {
    name,
    matches(lookup) {
      let value = lookup(name);
      if (value === undefined && missingAsEmpty) value = '';
      if (test === undefined) {
        // present_match (or no match specifier at all): the header's presence is the test.
        const isPresent = value !== undefined;
        const result = present === false ? !isPresent : isPresent;
        return invert ? !result : result;
      }
      // A missing header never matches a value matcher, inverted or not (Envoy's HeaderUtility::matchHeaders).
      if (value === undefined) return false;
      const result = test(value);
      return invert ? !result : result;
    },
  };
}

export interface QueryMatcher {
  matches(query: URLSearchParams): boolean;
}

export function compileQueryMatcher(spec: JsonObject, where: string): QueryMatcher {
  const name = stringAt(spec, 'name', where);
  if (name === undefined) throw new ConfigError(`${where}.name is required`);
  const stringMatch = objectAt(spec, 'stringMatch', where);
  const test = stringMatch === undefined ? undefined : compileStringMatcher(stringMatch, `${where}.stringMatch`);
  return {
    matches(query) {
      const value = query.get(name);
      if (value === null) return false;
      return test === undefined ? true : test(value);
    },
  };
}
