import { isDatabaseUnavailable, translateDatabaseError } from '../domain/db-errors.ts';
import { DomainError, type ErrorCode, type FieldIssue, genericValidationMessage } from '../domain/errors.ts';

/** The v0.9 ErrorResponse body. */
export interface ErrorBody {
  status: 'error';
  message: string;
  errors?: { field: string; message: string }[];
}

const statusByCode: Record<ErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PASSWORD_CHANGE_REQUIRED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // v0.9 has no 412/422; a lifecycle refusal is the client's error, reported like a conflict of state.
  INVALID_TRANSITION: 409,
};

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  unexpected: boolean;
  /** Set with 503: when a retry is worth it. */
  retryAfterSeconds?: number;
}

/**
 * How a validation failure's `message` reads. `configuration`: the reference's RestApi answer, "Configuration
 * validation failed" with the fields only in `errors[]`. `field`: the message itself names each field and what is
 * wrong (`throttleLimitCount must be an integer greater than 0`), as the reference's keys, plans and subscriptions
 * answer, whose clients show only the message; `errors[]` is kept.
 */
export type ValidationMessageStyle = 'configuration' | 'field';

/** One issue as a sentence that names its field: as written when it already starts with it, else `field: message`. */
function describeIssue(issue: FieldIssue): string {
  if (issue.path === 'body') return `Invalid request body: ${issue.message}`;
  const named = issue.message.startsWith(`${issue.path} `) || issue.message.startsWith(`${issue.path}:`);
  return named ? issue.message : `${issue.path}: ${issue.message}`;
}

function messageOf(error: DomainError, style: ValidationMessageStyle): string {
  if (style === 'configuration' || error.code !== 'VALIDATION' || error.message !== genericValidationMessage || error.issues.length === 0) return error.message;
  return error.issues.map(describeIssue).join('; ');
}

/** The one place REST picks a status for a failure. Anything not a DomainError is a bug: 500, masked. */
export function errorResponse(thrown: unknown, style: ValidationMessageStyle = 'field'): ErrorResponse {
  const error = thrown instanceof DomainError ? thrown : (translateDatabaseError(thrown) ?? thrown);
  if (error instanceof DomainError) {
    const body: ErrorBody = { status: 'error', message: messageOf(error, style) };
    if (error.issues.length > 0) body.errors = error.issues.map((i) => ({ field: i.path, message: i.message }));
    return { status: statusByCode[error.code], body, unexpected: false };
  }
  if (isDatabaseUnavailable(error)) return { status: 503, body: { status: 'error', message: 'Service unavailable: the database cannot be reached. Retry later.' }, unexpected: false, retryAfterSeconds: 5 };
  return { status: 500, body: { status: 'error', message: 'Unexpected error.' }, unexpected: true };
}

export function errorBody(message: string, errors?: { field: string; message: string }[]): ErrorBody {
  return errors ? { status: 'error', message, errors } : { status: 'error', message };
}
