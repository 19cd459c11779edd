// Execution conditions, the gated side (docs/execution-conditions.md): the condition module, first on a route,
// evaluates the route's conditions and sets `x-apip-conditions` to one verdict per condition ("1" holds, "0" does
// not, "E" could not be decided). A module conditional on a route finds its index in its `when` table and runs,
// skips (as if not on the route) or denies: a missing or undecided verdict fails closed.
import { MapType } from "./abi";
import { entryPath, memberPath, Problems, readObject } from "./config";
import { JsonValue } from "./json";
import { getHeaderRaw } from "./headers";
import { sendJsonError } from "./reply";

export const CONDITIONS_HEADER = "x-apip-conditions";
// @ts-ignore: decorator
@lazy export const CONDITIONS_HEADER_BYTES = String.UTF8.encode(CONDITIONS_HEADER);

export const VERDICT_TRUE: u8 = 0x31; // "1"
export const VERDICT_FALSE: u8 = 0x30; // "0"
export const VERDICT_ERROR: u8 = 0x45; // "E"

/** What a conditional module does with this request. */
export const GATE_RUN: i32 = 0;
export const GATE_SKIP: i32 = 1;
export const GATE_DENY: i32 = 2;

/**
 * `when` of a module configuration: the routes where an execution condition gates the module, in ascending order
 * (searched by bisection: a Map<string, i32> would add 2 KB to every module), with their verdict's index.
 */
export class WhenTable {
  constructor(public routes: Array<string>, public indexes: Array<i32>) {}

  /** The verdict index of `route`, or -1 when the module is not conditional there. */
  indexOf(route: string): i32 {
    const routes = this.routes;
    let low = 0;
    let high = routes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const candidate = unchecked(routes[middle]);
      if (candidate == route) return unchecked(this.indexes[middle]);
      if (candidate < route) low = middle + 1;
      else high = middle;
    }
    return -1;
  }
}

/** `when` of a module configuration; null when absent or empty. */
export function readWhen(config: JsonValue, problems: Problems): WhenTable | null {
  const table = readObject(config, "when", "$", problems, false);
  if (table === null) return null;
  const names = table.keys!;
  if (names.length == 0) return null;
  const routes = new Array<string>(0);
  const indexes = new Array<i32>(0);
  for (let i = 0; i < names.length; i++) {
    const name = unchecked(names[i]);
    const v = table.get(name)!;
    const at = entryPath(memberPath("$", "when"), name);
    if (i > 0 && !(unchecked(names[i - 1]) < name)) problems.add(at, "routes must be in ascending order");
    if (!v.isNumber || Math.floor(v.numberValue) != v.numberValue || v.numberValue < 0 || v.numberValue > 1000) {
      problems.add(at, "must be an integer in [0, 1000]");
      continue;
    }
    routes.push(name);
    indexes.push(<i32>v.numberValue);
  }
  return new WhenTable(routes, indexes);
}

/** The gate for verdict `index` of this request (read only on routes where the module is conditional). */
export function gateOf(index: i32): i32 {
  const verdicts = getHeaderRaw(MapType.RequestHeaders, CONDITIONS_HEADER_BYTES);
  if (verdicts === null || index >= verdicts.byteLength) return GATE_DENY;
  const verdict = load<u8>(changetype<usize>(verdicts) + <usize>index);
  if (verdict == VERDICT_TRUE) return GATE_RUN;
  return verdict == VERDICT_FALSE ? GATE_SKIP : GATE_DENY;
}

/** The reply of a module whose condition could not be decided (an evaluation error, or no verdict): fail closed. */
export function sendUndecided(): u32 {
  return sendJsonError(500, "apip_condition_undecided", "The execution condition of a policy on this route could not be evaluated.");
}
