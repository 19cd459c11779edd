// Identity passed between policies as request headers. On every route, the first module that runs strips
// client-supplied `x-apip-*` headers before anything else reads them (its configuration says where:
// `stripIdentityHeaders`, `stripIdentityRoutes`), so a client can never forge them. Each route runs only its own
// modules (the control plane enables them per route), so which module is first depends on the route.
import { MapType } from "./abi";
import { GATE_RUN, gateOf, readWhen, WhenTable } from "./conditions";
import { memberPath, Problems, readArray, readBool } from "./config";
import { getHeaderPairsRaw, removeRequestHeader } from "./headers";
import { JsonValue } from "./json";
import { RouteCache } from "./properties";

export const IDENTITY_PREFIX = "x-apip-";
export const APPLICATION_ID_HEADER = "x-apip-application-id";
export const SUBSCRIPTION_ID_HEADER = "x-apip-subscription-id";
export const PLAN_HEADER = "x-apip-plan";
/** Marks a request let through over its quota because stopOnQuotaReach is false. */
export const QUOTA_EXCEEDED_HEADER = "x-apip-quota-exceeded";

// The same names UTF-8 encoded once, for the *Of / *Raw header functions.
// @ts-ignore: decorator
@lazy export const APPLICATION_ID_HEADER_BYTES = String.UTF8.encode(APPLICATION_ID_HEADER);
// @ts-ignore: decorator
@lazy export const SUBSCRIPTION_ID_HEADER_BYTES = String.UTF8.encode(SUBSCRIPTION_ID_HEADER);
// @ts-ignore: decorator
@lazy export const PLAN_HEADER_BYTES = String.UTF8.encode(PLAN_HEADER);

/** Removes every request header whose name starts with `x-apip-`. Scans the serialized map without decoding. */
export function stripIdentityHeaders(): void {
  stripIdentityHeadersOf(getHeaderPairsRaw(MapType.RequestHeaders));
}

/**
 * `stripIdentityHeaders` over the request header map `raw` the caller already fetched (proxy-wasm serialisation);
 * true when it removed any (then `raw` is stale).
 */
export function stripIdentityHeadersOf(raw: ArrayBuffer): bool {
  const size = <usize>raw.byteLength;
  if (size < 4) return false;
  const base = changetype<usize>(raw);
  const count = <usize>load<u32>(base);
  if (count > (size - 4) / 8) return false;
  let data = base + 4 + count * 8;
  const end = base + size;
  let names: Array<string> | null = null;
  for (let i: usize = 0; i < count; i++) {
    const keyLength = <usize>load<u32>(base + 4 + i * 8);
    const valueLength = <usize>load<u32>(base + 8 + i * 8);
    if (data + keyLength + valueLength + 2 > end) break;
    // "x-apip-" = 78 2d 61 70 69 70 2d; compare the first 7 bytes as one u32 and three u8.
    if (keyLength >= 7 && load<u32>(data) == 0x70612d78 && load<u8>(data + 4) == 0x69
      && load<u8>(data + 5) == 0x70 && load<u8>(data + 6) == 0x2d) {
      if (names === null) names = new Array<string>(0);
      names.push(String.UTF8.decodeUnsafe(data, keyLength));
    }
    data += keyLength + valueLength + 2;
  }
  if (names === null) return false;
  for (let i = 0; i < names.length; i++) removeRequestHeader(unchecked(names[i]));
  return true;
}

/**
 * The route-entry rules every module's configuration carries at its top level: where the module strips client
 * identity headers (on every request, or on the routes where it runs first) and where it is conditional.
 */
export class StripRule {
  /** `stripIdentityHeaders`: the module runs first on every route it runs on. */
  all: bool = false;
  /** `stripIdentityRoutes`: otherwise, the routes where it runs first, sorted (null: none). */
  routes: Array<string> | null = null;
  /** `when`: the routes where an execution condition gates it, with their verdict's index (conditions.ts). */
  when: WhenTable | null = null;
}

/** `stripIdentityHeaders`, `stripIdentityRoutes` and `when` of a module configuration. */
export function readStripRule(config: JsonValue, problems: Problems): StripRule {
  const rule = new StripRule();
  rule.all = readBool(config, "stripIdentityHeaders", "$", problems, false);
  rule.when = readWhen(config, problems);
  const names = readArray(config, "stripIdentityRoutes", "$", problems, false);
  if (names.length == 0) return rule;
  // A sorted array searched by bisection rather than a Set: a Set<string> would add 2 KB to every module.
  const routes = new Array<string>(0);
  for (let i = 0; i < names.length; i++) {
    const name = unchecked(names[i]);
    if (!name.isString || (i > 0 && !(unchecked(routes[i - 1]) < name.stringValue))) {
      problems.add(memberPath("$", "stripIdentityRoutes"), "must be an array of distinct route names in ascending order");
      return rule;
    }
    routes.push(name.stringValue);
  }
  rule.routes = routes;
  return rule;
}

/**
 * The start of a request: strips client identity headers where `rule` makes this module the first to run, and
 * returns this request's route settings (one RouteCache lookup). Afterwards `rule.all || cache.isFirst` tells
 * whether this module is first here: where it is not, an earlier module stripped, so an identity header present
 * was set by an earlier module. Where an execution condition gates the module, `cache.gate` says whether it runs:
 * null with GATE_SKIP (the condition does not hold: as if the module were not on the route) or GATE_DENY (the
 * module must answer `sendUndecided()`).
 */
export function enterRoute<T>(cache: RouteCache<T>, routes: Map<string, T>, rule: StripRule): T | null {
  if (rule.all) stripIdentityHeaders();
  const route = cache.lookup(routes, rule.routes, rule.when);
  if (!rule.all && cache.isFirst) stripIdentityHeaders();
  const condition = cache.condition;
  if (condition < 0) {
    cache.gate = GATE_RUN;
    return route;
  }
  const gate = gateOf(condition);
  cache.gate = gate;
  return gate == GATE_RUN ? route : null;
}
