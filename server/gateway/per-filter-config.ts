// `typed_per_filter_config` of a route configuration, virtual host or route, as far as it turns HTTP filters on
// or off. An entry is keyed by the filter's name in the connection manager and holds an
// `envoy.config.route.v3.FilterConfig`: `disabled: true` turns the filter off there; `disabled` false with no
// `config` turns on a filter the connection manager disables by default. The most specific level with an entry
// for a filter decides (route, then virtual host, then route configuration), as Envoy's route entries do.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_filters#route-based-filter-chain
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-filterconfig
// Filter-specific per-route configuration (a `config`, or an Any of the filter's own type) is not supported: our
// filters are wasm modules, whose per-route settings live in their plugin configuration; it is refused, as Envoy
// refuses it for a filter that has none, unless the entry is `is_optional` (then it is ignored).
import { extensionTypeUrls } from '../envoy/resources.ts';
import { booleanAt, ConfigError, isObject, type JsonObject, objectAt } from './json-fields.ts';

/** Filter name → enabled (true) or disabled (false) at one level; null when the level has no entry. */
export type FilterStates = ReadonlyMap<string, boolean> | null;

/** The filter states of one level's `typedPerFilterConfig`. */
export function readFilterStates(spec: JsonObject, where: string): FilterStates {
  const map = objectAt(spec, 'typedPerFilterConfig', where);
  if (map === undefined) return null;
  const states = new Map<string, boolean>();
  for (const [name, entry] of Object.entries(map)) {
    const at = `${where}.typedPerFilterConfig[${JSON.stringify(name)}]`;
    if (!isObject(entry)) throw new ConfigError(`${at} must be an object`);
    if (entry['@type'] !== extensionTypeUrls.filterConfig) {
      throw new ConfigError(`${at}: per-route configuration of type ${String(entry['@type'])} is not supported (FilterConfig without config)`);
    }
    const disabled = booleanAt(entry, 'disabled', at) === true;
    // A disabled entry ignores its config (FilterConfig.disabled).
    if (!disabled && objectAt(entry, 'config', at) !== undefined) {
      if (booleanAt(entry, 'isOptional', at) === true) continue;
      throw new ConfigError(`${at}.config: filter-specific per-route configuration is not supported`);
    }
    states.set(name, !disabled);
  }
  return states.size === 0 ? null : states;
}

/** `inner` over `outer`: the more specific level's entries win. */
export function mergeFilterStates(outer: FilterStates, inner: FilterStates): FilterStates {
  if (outer === null) return inner;
  if (inner === null) return outer;
  return new Map([...outer, ...inner]);
}
