import { isSealed } from './secret-box.ts';

/**
 * Fields that hold a secret or a hash/digest of one, wherever they appear in an audited snapshot (plan security,
 * policy params, keys, subscriptions, authorization servers). The policy registry's write-only param fields are
 * among them (policy-registry.ts `secretParamFields`).
 */
const secretFields = new Set(['clientSecret', 'password', 'passwordHash', 'digest', 'tokenHash', 'subscriptionToken', 'secret']);

/** What an audit entry shows in place of a secret: that it is set, or that this change set it anew. */
export const SECRET_SET = '(set)';
export const SECRET_CHANGED = '(changed)';

/**
 * `before` and `after` with every secret value replaced: the audit trail says that a secret changed, never its value
 * or hash (sealed values included: their ciphertext changes with every write and names the key).
 */
export function redactSecrets(before: unknown, after: unknown): { before: unknown; after: unknown } {
  return { before: redact(before, undefined, false), after: redact(after, before, true) };
}

function isSecret(name: string | null, value: unknown): boolean {
  return (name !== null && secretFields.has(name) && value !== null && value !== undefined) || (typeof value === 'string' && isSealed(value));
}

function redact(value: unknown, previous: unknown, isAfter: boolean, name: string | null = null): unknown {
  if (isSecret(name, value)) {
    const unchanged = !isAfter || JSON.stringify(previous) === JSON.stringify(value);
    return unchanged ? SECRET_SET : SECRET_CHANGED;
  }
  if (Array.isArray(value)) {
    const prev = Array.isArray(previous) ? previous : [];
    return value.map((item, i) => redact(item, prev[i], isAfter));
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const prev = typeof previous === 'object' && previous !== null ? (previous as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, prev[k], isAfter, k)]));
  }
  return value;
}
