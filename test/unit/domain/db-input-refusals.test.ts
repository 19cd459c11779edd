import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication } from '../../../server/domain/applications.ts';
import { ValidationError } from '../../../server/domain/errors.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

// The database's own refusals, as each driver raises them (translateDatabaseError's mapping: db-errors.test.ts).
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
