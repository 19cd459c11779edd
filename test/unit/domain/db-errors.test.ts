import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../server/domain/errors.ts';
import { translateDatabaseError } from '../../../server/domain/db-errors.ts';

describe('translateDatabaseError', () => {
  it('turns a nested unique violation into a ConflictError and keeps the cause', () => {
    const pg = Object.assign(new Error('duplicate key'), { code: '23505' });
    const wrapped = Object.assign(new Error('Failed query'), { cause: pg });
    const translated = translateDatabaseError(wrapped);
    expect(translated).toBeInstanceOf(ConflictError);
    expect(translated?.cause).toBe(wrapped);
  });

  it('leaves errors that are not the caller’s fault alone', () => {
    expect(translateDatabaseError(Object.assign(new Error('connection lost'), { code: '08006' }))).toBeNull();
    expect(translateDatabaseError(new Error('boom'))).toBeNull();
  });
});
