import { randomBytes } from 'node:crypto';
import type { FieldIssue } from '../errors.ts';

/**
 * Pure rules for API key values, names and expiry (no database): custom values (seed 000), v0.9 key
 * names and `expiresIn` / `expiresAt` (seed 002). Beside api-keys.ts (conventions: big validators in `<x>-validation.ts`).
 */

/** Seed 000: "`^ # % @ \ / ; = ? | ~ ,` and the 'space' character are invalid". */
export const forbiddenCustomKeyCharacters = ['^', '#', '%', '@', '\\', '/', ';', '=', '?', '|', '~', ',', ' '] as const;

/** Not URL-compliant either (RFC 3986 never allows them unescaped), besides the seed's list. */
const notUrlSafe = new Set(['"', '<', '>', '`', '{', '}', '[', ']']);

export const customKeyMinLength = 8;
export const customKeyMaxLength = 64;

/** Every problem with a custom key value, reported at `path` (never echoing the value: it is a secret). */
export function customApiKeyIssues(value: string, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (value.length < customKeyMinLength || value.length > customKeyMaxLength) {
    issues.push({ path, message: `A custom API key must have between ${customKeyMinLength} and ${customKeyMaxLength} characters` });
  }
  const forbidden = forbiddenCustomKeyCharacters.filter((c) => value.includes(c));
  if (forbidden.length > 0) {
    const shown = forbidden.map((c) => (c === ' ' ? 'space' : `'${c}'`)).join(', ');
    issues.push({ path, message: `A custom API key must not contain ${shown}` });
  }
  const listed = new Set<string>(forbiddenCustomKeyCharacters);
  const other = [...value].some((c) => !listed.has(c) && (notUrlSafe.has(c) || c < '!' || c > '~'));
  if (other) {
    issues.push({ path, message: 'A custom API key must be URL-compliant (printable ASCII without reserved characters)' });
  }
  return issues;
}

/** v0.9 key names: 3-63 characters, lowercase alphanumerics separated by single `-` or `_`. */
export const apiKeyNamePattern = /^[a-z0-9]+([_-][a-z0-9]+)*$/;

export function apiKeyNameIssues(name: string, path = 'name'): FieldIssue[] {
  if (name.length < 3 || name.length > 63 || !apiKeyNamePattern.test(name)) {
    return [{ path, message: 'Name must be 3-63 characters of lowercase letters and digits, separated by single - or _' }];
  }
  return [];
}

/** A name from the display name when it makes a valid one, else `key-` + 8 random hex characters. */
export function generateApiKeyName(displayName: string | null | undefined): string {
  const slug = (displayName ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return apiKeyNameIssues(slug).length === 0 ? slug : randomKeyName();
}

export function randomKeyName(): string {
  return `key-${randomBytes(4).toString('hex')}`;
}

export const expiryUnits = ['seconds', 'minutes', 'hours', 'days', 'weeks', 'months'] as const;
export type ExpiryUnit = (typeof expiryUnits)[number];

export interface ExpiresIn {
  unit: ExpiryUnit;
  duration: number;
}

export interface ExpiryInput {
  /** An instant in the future. */
  expiresAt?: Date | null | undefined;
  /** Or a duration from now; not both. */
  expiresIn?: ExpiresIn | null | undefined;
}

const unitSeconds: Record<Exclude<ExpiryUnit, 'months'>, number> = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86_400,
  weeks: 604_800,
};

/** The expiry instant of `input` relative to `now` (null = never); problems are pushed to `issues`. */
export function resolveExpiry(now: Date, input: ExpiryInput, issues: FieldIssue[]): Date | null {
  const { expiresAt, expiresIn } = input;
  if (expiresAt && expiresIn) {
    issues.push({ path: 'expiresIn', message: 'Give either expiresAt or expiresIn, not both' });
    return null;
  }
  if (expiresAt) {
    if (Number.isNaN(expiresAt.getTime())) {
      issues.push({ path: 'expiresAt', message: 'expiresAt must be a valid instant' });
    } else if (expiresAt.getTime() <= now.getTime()) {
      issues.push({ path: 'expiresAt', message: 'expiresAt must be in the future' });
    }
    return expiresAt;
  }
  if (!expiresIn) return null;
  let valid = true;
  if (!(expiryUnits as readonly string[]).includes(expiresIn.unit)) {
    issues.push({ path: 'expiresIn.unit', message: `unit must be one of ${expiryUnits.join(', ')}` });
    valid = false;
  }
  if (!Number.isInteger(expiresIn.duration) || expiresIn.duration <= 0) {
    issues.push({ path: 'expiresIn.duration', message: 'duration must be a positive integer (an expiry must be in the future)' });
    valid = false;
  }
  if (!valid) return null;
  if (expiresIn.unit === 'months') {
    const at = new Date(now.getTime());
    at.setUTCMonth(at.getUTCMonth() + expiresIn.duration);
    return at;
  }
  const at = new Date(now.getTime() + expiresIn.duration * unitSeconds[expiresIn.unit] * 1000);
  if (Number.isNaN(at.getTime())) {
    issues.push({ path: 'expiresIn.duration', message: 'duration is too large' });
    return null;
  }
  return at;
}
