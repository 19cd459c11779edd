/**
 * The domain's one error vocabulary. Both transports (GraphQL, REST) map these
 * codes in a single module each; anything that is not a DomainError is a bug
 * and is masked as "Unexpected error." at the edge.
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'VALIDATION'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'PASSWORD_CHANGE_REQUIRED'
  | 'INVALID_TRANSITION';

/** One problem with one input field; `path` is dotted with [i] for arrays, e.g. `spec.policies[0].params.key`. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * A finding about configuration that was accepted but cannot be (fully) served: what translation reports and the
 * deployment status shows. `error`: that API is left out of the snapshot; `warning`: translated anyway.
 */
export interface Problem extends FieldIssue {
  severity: 'error' | 'warning';
  /** The API's handle, or null for a finding about the snapshot as a whole. */
  api: string | null;
}

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  readonly issues: readonly FieldIssue[];

  constructor(message: string, options: { issues?: readonly FieldIssue[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.issues = options.issues ?? [];
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly entity: string,
    readonly ref: string,
    message = `${entity} '${ref}' not found`,
  ) {
    super(message);
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}

/** A ValidationError's message when the thrower gave none: the issues say what is wrong. */
export const genericValidationMessage = 'Configuration validation failed';

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION';
  constructor(issues: readonly FieldIssue[], message = genericValidationMessage, options: { cause?: unknown } = {}) {
    super(message, { issues, cause: options.cause });
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'Not allowed') {
    super(message);
  }
}

/** The actor must change its password (forced reset) before anything but `changeOwnPassword` works. */
export class PasswordChangeRequiredError extends DomainError {
  readonly code = 'PASSWORD_CHANGE_REQUIRED';
  constructor(message = 'Password change required: change your password (changeOwnPassword) before anything else') {
    super(message);
  }
}

/** A lifecycle rule forbids the change in the entity's current state (e.g. editing a published plan). */
export class InvalidTransitionError extends DomainError {
  readonly code = 'INVALID_TRANSITION';
  constructor(
    message: string,
    readonly from?: string,
    readonly to?: string,
  ) {
    super(message);
  }
}

/** Throws a ValidationError when any issue was collected; validators gather all problems first. */
export function assertNoIssues(issues: readonly FieldIssue[]): void {
  if (issues.length > 0) throw new ValidationError(issues);
}

/** `['a', 0, 'b']` -> `a[0].b` under a prefix. */
export function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
