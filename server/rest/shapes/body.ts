import type { FieldIssue } from '../../domain/errors.ts';
import { ValidationError } from '../../domain/errors.ts';
import { isRecord } from '../../json/is-record.ts';

/**
 * Reading untyped v0.9 bodies: only JSON types are checked here (a string where a string belongs); every
 * rule about the values is the domain's. Type problems are collected, so one answer lists all of them.
 */


/** The body as an object; an absent body is `{}` when the operation's body is optional. */
export function objectBody(body: unknown, options: { required: boolean }): Record<string, unknown> {
  if (body === undefined || body === null) {
    if (!options.required) return {};
    throw new ValidationError([{ path: 'body', message: 'A request body is required' }]);
  }
  if (!isRecord(body)) throw new ValidationError([{ path: 'body', message: 'The request body must be an object' }]);
  return body;
}

/** Collects type issues while picking fields out of a body. */
export class FieldReader {
  readonly issues: FieldIssue[] = [];

  constructor(private readonly body: Record<string, unknown>) {}

  /** undefined when absent, null when null, else the string (or an issue). */
  string(key: string, options: { required?: boolean } = {}): string | null | undefined {
    return this.typed<string>(key, 'string', 'a string', options.required);
  }

  number(key: string): number | null | undefined {
    return this.typed<number>(key, 'number', 'a number');
  }

  boolean(key: string): boolean | null | undefined {
    return this.typed<boolean>(key, 'boolean', 'true or false');
  }

  private typed<T>(key: string, type: 'string' | 'number' | 'boolean', what: string, required = false): T | null | undefined {
    const value = this.body[key];
    if (value === undefined || value === null) {
      if (required) this.issues.push({ path: key, message: `${key} is required` });
      return value;
    }
    if (typeof value !== type) {
      this.issues.push({ path: key, message: `${key} must be ${what}` });
      return undefined;
    }
    return value as T;
  }

  /** An ISO-8601 instant; YAML may already have turned it into a Date. */
  instant(key: string): Date | null | undefined {
    const value = this.body[key];
    if (value === undefined || value === null) return value;
    const parsed = value instanceof Date ? value : typeof value === 'string' && isIsoInstant(value) ? new Date(value) : null;
    if (parsed === null || Number.isNaN(parsed.getTime())) {
      this.issues.push({ path: key, message: `${key} must be an ISO-8601 instant such as 2026-12-31T23:59:59Z` });
      return undefined;
    }
    return parsed;
  }

  /** One of `values` (mapped), or an issue naming them. */
  oneOf<T extends string, R>(key: string, mapping: Readonly<Record<T, R>>): R | null | undefined {
    const value = this.string(key);
    if (value === undefined || value === null) return value;
    if (!Object.hasOwn(mapping, value)) {
      this.issues.push({ path: key, message: `${key} must be one of ${Object.keys(mapping).join(', ')}` });
      return undefined;
    }
    return mapping[value as T];
  }

  /** Throws a ValidationError listing every type problem found so far. */
  assertValid(): void {
    if (this.issues.length > 0) throw new ValidationError(this.issues);
  }
}

/** Date with time and an explicit zone: `2026-12-31T23:59:59Z`, `2026-12-31T23:59:59.5+02:00`. */
function isIsoInstant(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value);
}
