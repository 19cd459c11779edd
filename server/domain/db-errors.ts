import { and, eq, ne } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Executor } from '../db/client.ts';
import { ConflictError, type DomainError, ValidationError } from './errors.ts';

/** The SQLSTATE of a Postgres error, however deep drizzle and the driver nested it (PGlite and postgres.js alike). */
export function databaseErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const concurrentChange = 'A concurrent change conflicts with this one; retry';

/**
 * The one mapping of a unique violation that raced past a domain pre-check: runs `work` and turns that violation
 * (and, with `alsoForeignKey`, a foreign-key one) into ConflictError(message), so the caller answers 409, never 500.
 */
export async function conflictOnUniqueViolation<T>(work: () => Promise<T>, message = concurrentChange, alsoForeignKey = false): Promise<T> {
  try {
    return await work();
  } catch (error: unknown) {
    const code = databaseErrorCode(error);
    if (code === '23505' || (alsoForeignKey && code === '23503')) throw new ConflictError(message, { cause: error });
    throw error;
  }
}

/**
 * Database refusals caused by the caller's input, as domain errors, so they answer 400/409 and never 500.
 * Domain validation catches these first; this is the net for what slips through (a NUL character in any
 * text, a number beyond a column's range, a race past a uniqueness pre-check). Anything else stays a bug.
 */
export function translateDatabaseError(error: unknown): DomainError | null {
  const code = databaseErrorCode(error);
  switch (code) {
    // character_not_in_repertoire / untranslatable_character: Postgres text cannot hold U+0000.
    case '22021':
    case '22P05':
      return new ValidationError([{ path: 'input', message: 'Text must not contain NUL (\\u0000) characters' }], 'Invalid input', { cause: error });
    case '22001':
      return new ValidationError([{ path: 'input', message: 'A value is longer than allowed' }], 'Invalid input', { cause: error });
    case '22003':
      return new ValidationError([{ path: 'input', message: 'A number is out of range' }], 'Invalid input', { cause: error });
    case '22007':
    case '22008':
      return new ValidationError([{ path: 'input', message: 'A date or time is out of range' }], 'Invalid input', { cause: error });
    case '23505':
      return new ConflictError(concurrentChange, { cause: error });
    case '23503':
      return new ConflictError('The change refers to, or is referred to by, something that does not allow it', { cause: error });
    default:
      return null;
  }
}

/** Driver error codes meaning "no usable connection" (postgres.js names them; Node's socket errors besides). */
const unavailableCodes = new Set([
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
]);

/**
 * True when the database could not be reached or went away mid-request (connection refused or timed out,
 * SQLSTATE class 08, or an administrator shutdown, 57P01-57P03). Not the caller's fault and not a bug:
 * the edges answer 503 so clients retry, instead of a masked 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (unavailableCodes.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The pre-check of a unique column: ConflictError(message) when a row other than `selfId` (null on create)
 * already holds `value`. conflictOnUniqueViolation covers a race past it.
 */
export async function assertUniqueFree(
  db: Executor,
  table: PgTable,
  columns: { id: PgColumn; unique: PgColumn },
  value: string,
  selfId: string | null,
  message: string,
): Promise<void> {
  const cond = selfId ? and(eq(columns.unique, value), ne(columns.id, selfId)) : eq(columns.unique, value);
  const [row] = await db.select({ id: columns.id }).from(table).where(cond).limit(1);
  if (row) throw new ConflictError(message);
}
