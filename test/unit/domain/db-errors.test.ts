import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication } from '../../../server/domain/applications.ts';
import { ConflictError, ValidationError } from '../../../server/domain/errors.ts';
import { translateDatabaseError } from '../../../server/domain/db-errors.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';
import { sql } from 'drizzle-orm';

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

describe.each(drivers)('database input refusals through the domain (%s)', (driver) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase(driver);
  });
  afterAll(async () => {
    await database.drop();
  });

  it('rejects a NUL character as a ValidationError and writes nothing', async () => {
    const ctx = domainContext(database);
    const before = await database.db.execute(sql`select count(*)::int as n from applications`);
    const error = await createApplication(ctx, { name: 'bad\u0000name' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const after = await database.db.execute(sql`select count(*)::int as n from applications`);
    expect(JSON.stringify(after)).toBe(JSON.stringify(before));
  });
});
