// Claims of a bearer credential (a JWT payload, an RFC 7662 introspection answer) as the authentication policies
// read them: member strings, scope checks, and claim values as identity header values.
import { JsonValue } from "./json";
import { scalarText } from "./selection-rule";

/** True when `list` holds `value`. */
export function hasString(list: Array<string>, value: string): bool {
  for (let i = 0; i < list.length; i++) if (unchecked(list[i]) == value) return true;
  return false;
}

/** The scopes a route or plan wants against the held ones: all of them when strict, else any one (none: satisfied). */
export function scopesSatisfied(wanted: Array<string>, strict: bool, held: Array<string>): bool {
  if (wanted.length == 0) return true;
  for (let i = 0; i < wanted.length; i++) {
    const has = hasString(held, unchecked(wanted[i]));
    if (strict && !has) return false;
    if (!strict && has) return true;
  }
  return strict;
}

/** Member `name` of `claims` when it is a string; null otherwise. */
export function claimString(claims: JsonValue, name: string): string | null {
  const value = claims.get(name);
  if (value === null || !value.isString) return null;
  return value.stringValue;
}

/** A claim as a header value: strings as they are, numbers and booleans printed, string arrays comma-joined. */
export function claimText(value: JsonValue): string | null {
  if (value.isArray) {
    const items = value.items;
    const parts = new Array<string>(0);
    // A null check rather than `!`: an assertion costs the modules its abort message.
    for (let i = 0; items !== null && i < items.length; i++) {
      const item = unchecked(items[i]);
      if (!item.isString) return null;
      parts.push(item.stringValue);
    }
    return parts.join(",");
  }
  return scalarText(value);
}
