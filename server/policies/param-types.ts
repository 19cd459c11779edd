import { z } from 'zod';

/**
 * Param types the reference's policy definitions declare (JSON Schema `type: integer`), with the reference's
 * message for a value of another type (`spec.policies[0].params.statusCode`: "Invalid type. Expected: integer, given:
 * string"), so v0.9 clients see the words they know.
 */
export function integerParam(min: number, max: number) {
  return z
    .number({ error: (issue) => (issue.input === undefined ? undefined : `Invalid type. Expected: integer, given: ${jsonType(issue.input)}`) })
    .int({ error: (issue) => `Invalid type. Expected: integer, given: ${jsonType(issue.input)}` })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

/** A JSON value's JSON Schema type name. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
