// Host properties by path. Envoy splits a property path on NUL bytes only, so "request.path" is NotFound there:
// paths are given as segments and joined with "\0" here, once.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes
import { proxy_get_current_time_nanoseconds, proxy_get_property, Status } from "./abi";
import { WhenTable } from "./conditions";
import { clearReturn, RETURN_PTR, RETURN_SIZE, RETURN_U64, takeReturned } from "./memory";

/** The NUL-joined UTF-8 encoding of a property path, e.g. ["xds", "route_name"] -> "xds\0route_name". */
export function propertyPath(segments: Array<string>): ArrayBuffer {
  return String.UTF8.encode(segments.join("\0"));
}

/** Raw bytes of a property, or null when the host has no such property. `path` from propertyPath(). */
export function getPropertyBytes(path: ArrayBuffer): ArrayBuffer | null {
  clearReturn();
  const status = proxy_get_property(changetype<usize>(path), <usize>path.byteLength, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturned();
}

/** A string property, or null when absent. */
export function getPropertyString(path: ArrayBuffer): string | null {
  const bytes = getPropertyBytes(path);
  if (bytes === null) return null;
  return String.UTF8.decode(bytes);
}

// @ts-ignore: decorator
@lazy const ROUTE_NAME_PATH = propertyPath(["xds", "route_name"]);

/**
 * The name of the route this request matched (`<api-id>/<METHOD>/<path-template>`), or "" when there is none.
 * Policies key their per-route settings on it, so one module instance serves every route.
 */
export function routeName(): string {
  const name = getPropertyString(ROUTE_NAME_PATH);
  return name === null ? "" : name;
}

/** Whether sorted `names` holds `name` (bisection; strings compare by UTF-16 code units, as the translator sorts). */
export function includesSorted(names: Array<string>, name: string): bool {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const candidate = unchecked(names[middle]);
    if (candidate == name) return true;
    if (candidate < name) low = middle + 1;
    else high = middle;
  }
  return false;
}

// @ts-ignore: decorator
@lazy const NO_BYTES = new ArrayBuffer(0);

/**
 * routes.get(routeName()) with a one-entry cache: consecutive requests of the same route (the usual case) skip
 * decoding the name and hashing it twice. The cache holds the route table it was filled from, so a table replaced
 * by a new configuration is never answered from it; tables must not be mutated after configure.
 */
export class RouteCache<T> {
  private routes: Map<string, T> | null = null;
  private bytes: ArrayBuffer | null = null;
  private value: T | null = null;
  private firstRoutes: Array<string> | null = null;
  private when: WhenTable | null = null;
  /** Whether this request's route is in the `firstRoutes` of the last lookup (identity.ts `enterRoute`). */
  isFirst: bool = false;
  /** The index of this route's verdict in the last lookup's `when` (conditions.ts), -1 when unconditional. */
  condition: i32 = -1;
  /** What the module does with this request (conditions.ts GATE_*), set by identity.ts `enterRoute`. */
  gate: i32 = 0;

  /** The settings of this request's route in `routes`, or null when the route is not there. */
  lookup(routes: Map<string, T>, firstRoutes: Array<string> | null = null, when: WhenTable | null = null): T | null {
    let bytes = getPropertyBytes(ROUTE_NAME_PATH);
    if (bytes === null) bytes = NO_BYTES;
    const last = this.bytes;
    const length = <usize>bytes.byteLength;
    if (this.routes === routes && this.firstRoutes === firstRoutes && this.when === when && last !== null && <usize>last.byteLength == length
      && memory.compare(changetype<usize>(last), changetype<usize>(bytes), length) == 0) {
      return this.value;
    }
    const name = String.UTF8.decode(bytes);
    const value: T | null = routes.has(name) ? routes.get(name) : null;
    this.routes = routes;
    this.firstRoutes = firstRoutes;
    this.isFirst = firstRoutes !== null && includesSorted(firstRoutes, name);
    this.when = when;
    this.condition = when !== null ? when.indexOf(name) : -1;
    this.bytes = bytes;
    this.value = value;
    return value;
  }
}

/** The API id part of a route name (everything before the first "/"). */
export function apiIdOfRoute(route: string): string {
  const slash = route.indexOf("/");
  return slash < 0 ? route : route.substring(0, slash);
}

/** The host's current time in nanoseconds since the Unix epoch. */
export function nowNanos(): u64 {
  store<u64>(RETURN_U64, 0);
  proxy_get_current_time_nanoseconds(RETURN_U64);
  return load<u64>(RETURN_U64);
}

/** The host's current time in milliseconds since the Unix epoch. */
export function nowMillis(): u64 {
  return nowNanos() / 1_000_000;
}
