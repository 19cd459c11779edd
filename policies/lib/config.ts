// Typed reads from a parsed plugin configuration, collecting every problem with its path
// (e.g. `routes["a/GET/x"].limits[0].requests: must be an integer >= 1`) so a refused configuration is logged
// once with all its faults. A policy whose configuration has problems refuses it and fails closed.
import { JsonValue, parseJson } from "./json";
import { isLogEnabled, log } from "./log";
import { LogLevel } from "./abi";

export class Problems {
  list: Array<string> = new Array<string>(0);

  add(path: string, message: string): void { this.list.push(path + ": " + message); }
  get isEmpty(): bool { return this.list.length == 0; }
  toString(): string { return this.list.join("; "); }
}

/** Parses the configuration bytes into an object; records a problem and returns null otherwise. */
export function parseConfigObject(bytes: ArrayBuffer, problems: Problems): JsonValue | null {
  if (bytes.byteLength == 0) {
    problems.add("$", "configuration is empty");
    return null;
  }
  const parsed = parseJson(bytes);
  if (parsed.value === null) {
    problems.add("$", "invalid JSON: " + parsed.error);
    return null;
  }
  if (!parsed.value!.isObject) {
    problems.add("$", "must be an object");
    return null;
  }
  return parsed.value;
}

/** Member path for messages: `parent.key`. */
export function memberPath(parent: string, key: string): string {
  return parent + "." + key;
}

/** Map-entry path for messages: `parent["key"]`. */
export function entryPath(parent: string, key: string): string {
  return parent + "[\"" + key + "\"]";
}

export function indexPath(parent: string, index: i32): string {
  return parent + "[" + index.toString() + "]";
}

/** Member `key` of `obj` as an object; null (and a problem when required) otherwise. */
export function readObject(obj: JsonValue, key: string, path: string, problems: Problems, required: bool): JsonValue | null {
  const v = obj.get(key);
  if (v === null) {
    if (required) problems.add(memberPath(path, key), "is required");
    return null;
  }
  if (!v.isObject) {
    problems.add(memberPath(path, key), "must be an object");
    return null;
  }
  return v;
}

/** Member `key` as an array; an empty array when absent and not required. */
export function readArray(obj: JsonValue, key: string, path: string, problems: Problems, required: bool): Array<JsonValue> {
  const v = obj.get(key);
  if (v === null) {
    if (required) problems.add(memberPath(path, key), "is required");
    return new Array<JsonValue>(0);
  }
  if (!v.isArray) {
    problems.add(memberPath(path, key), "must be an array");
    return new Array<JsonValue>(0);
  }
  return v.items!;
}

/** Member `key` as a string; `fallback` when absent (a problem when required) or not a string (a problem). */
export function readString(obj: JsonValue, key: string, path: string, problems: Problems, required: bool, fallback: string = ""): string {
  const v = obj.get(key);
  if (v === null || (!required && v.isNull)) {
    if (required) problems.add(memberPath(path, key), "is required");
    return fallback;
  }
  if (!v.isString) {
    problems.add(memberPath(path, key), "must be a string");
    return fallback;
  }
  return v.stringValue;
}

/** Member `key` as a non-empty string, or null when absent or null. */
export function readOptionalString(obj: JsonValue, key: string, path: string, problems: Problems): string | null {
  const v = obj.get(key);
  if (v === null || v.isNull) return null;
  if (!v.isString) {
    problems.add(memberPath(path, key), "must be a string or null");
    return null;
  }
  return v.stringValue;
}

export function readBool(obj: JsonValue, key: string, path: string, problems: Problems, fallback: bool): bool {
  const v = obj.get(key);
  if (v === null) return fallback;
  if (!v.isBool) {
    problems.add(memberPath(path, key), "must be a boolean");
    return fallback;
  }
  return v.boolValue;
}

/** Member `key` as an integer in [min, max]; `fallback` when absent and not required. */
export function readInteger(
  obj: JsonValue, key: string, path: string, problems: Problems, required: bool, fallback: f64, min: f64, max: f64,
): f64 {
  const v = obj.get(key);
  if (v === null || (!required && v.isNull)) {
    if (required) problems.add(memberPath(path, key), "is required");
    return fallback;
  }
  if (!v.isNumber || Math.floor(v.numberValue) != v.numberValue || v.numberValue < min || v.numberValue > max) {
    problems.add(memberPath(path, key), "must be an integer in [" + min.toString() + ", " + max.toString() + "]");
    return fallback;
  }
  return v.numberValue;
}

/**
 * The members of a table object (`$.routes`, `$.plans`, `$.keySets`, ...) in document order, each with its problem
 * path `<path>["<name>"]`. A member of the wrong kind is reported there (`message`) and skipped; a null table (absent,
 * or not an object: `readObject` reported it) has no members. Use:
 *   const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
 *   while (entries.next()) routes.set(entries.name, readRoute(entries.value, entries.path, problems));
 */
export class TableEntries {
  /** The current member's name, problem path and value (valid after `next()` returned true). */
  name: string = "";
  path: string = "";
  private current: JsonValue | null = null;
  private index: i32 = -1;

  constructor(
    private readonly table: JsonValue | null, private readonly tablePath: string, private readonly problems: Problems,
    private readonly wantArray: bool, private readonly message: string,
  ) {}

  get value(): JsonValue { return this.current!; }

  /** Moves to the next member of the wanted kind; false when there is none left. */
  next(): bool {
    const table = this.table;
    if (table === null) return false;
    const names = table.keys!;
    while (++this.index < names.length) {
      const name = unchecked(names[this.index]);
      const path = entryPath(this.tablePath, name);
      const value = table.get(name)!;
      if (this.wantArray ? !value.isArray : !value.isObject) {
        this.problems.add(path, this.message);
        continue;
      }
      this.name = name;
      this.path = path;
      this.current = value;
      return true;
    }
    return false;
  }
}

/** The members of `table` that are objects (see TableEntries); any other member is the problem `message`. */
export function objectEntries(
  table: JsonValue | null, path: string, problems: Problems, message: string = "must be an object",
): TableEntries {
  return new TableEntries(table, path, problems, false, message);
}

/** The members of `table` that are arrays (see TableEntries); any other member is the problem `message`. */
export function arrayEntries(
  table: JsonValue | null, path: string, problems: Problems, message: string = "must be an array",
): TableEntries {
  return new TableEntries(table, path, problems, true, message);
}

/** Logs a refused configuration once, with every problem. */
export function logRefused(policy: string, problems: Problems): void {
  if (isLogEnabled(LogLevel.Error)) log(LogLevel.Error, policy + ": configuration refused: " + problems.toString());
}
