import { isDatabaseUnavailable, translateDatabaseError } from '../domain/db-errors.ts';
import { DomainError, type ErrorCode } from '../domain/errors.ts';

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

/** The one place REST picks a status for a failure. Anything not a DomainError is a bug: 500, masked. */
export function errorResponse(thrown: unknown): ErrorResponse {
  const error = thrown instanceof DomainError ? thrown : (translateDatabaseError(thrown) ?? thrown);
  if (error instanceof DomainError) {
    const body: ErrorBody = { status: 'error', message: error.message };
    if (error.issues.length > 0) body.errors = error.issues.map((i) => ({ field: i.path, message: i.message }));
    return { status: statusByCode[error.code], body, unexpected: false };
  }
  if (isDatabaseUnavailable(error)) return { status: 503, body: { status: 'error', message: 'Service unavailable: the database cannot be reached. Retry later.' }, unexpected: false, retryAfterSeconds: 5 };
  return { status: 500, body: { status: 'error', message: 'Unexpected error.' }, unexpected: true };
}

export function errorBody(message: string, errors?: { field: string; message: string }[]): ErrorBody {
  return errors ? { status: 'error', message, errors } : { status: 'error', message };
}
