import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { apis } from '../../../server/db/schema/index.ts';
import type { DomainContext } from '../../../server/domain/context.ts';
import { ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import { createPlan, updatePlan } from '../../../server/domain/plans/index.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

// A plan's selection rule checked where plans are written (the grammar itself: selection-rule.test.ts).
describe.each(drivers)('plan selectionRule validation (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let ctx: DomainContext;
  let apiId: string;

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    ctx = domainContext(database);
    apiId = newId('api');
    await database.db.insert(apis).values({ id: apiId, handle: 'rules', displayName: 'rules', version: '1.0', context: '/rules', visibility: 'public' });
  });
  afterAll(async () => {
    await database.drop();
  });

  async function issues(promise: Promise<unknown>): Promise<Array<{ path: string; message: string }>> {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map(({ path, message }) => ({ path, message }));
  }

  it('stores a plan whose selection rule is valid', async () => {
    const plan = await createPlan(ctx, { apiId, name: 'Gold', security: { type: 'API_KEY' }, selectionRule: "claims.tier == 'gold'" });
    expect(plan.selectionRule).toBe("claims.tier == 'gold'");
  });

  it('fails with a VALIDATION issue on selectionRule when the rule has a syntax error', async () => {
    expect(await issues(createPlan(ctx, { apiId, name: 'Silver', security: { type: 'API_KEY' }, selectionRule: "header.x-tier = 'silver'" }))).toEqual([
      { path: 'selectionRule', message: 'Invalid selection rule: unexpected character at offset 14' },
    ]);
  });

  it('fails with a VALIDATION issue on selectionRule when an update brings a rule over the limits', async () => {
    const plan = await createPlan(ctx, { apiId, name: 'Bronze', security: { type: 'API_KEY' } });
    expect(await issues(updatePlan(ctx, plan.id, { selectionRule: '1'.repeat(1025) }))).toEqual([
      { path: 'selectionRule', message: 'Invalid selection rule: longer than 1024 characters at offset 1024' },
    ]);
    expect(await issues(updatePlan(ctx, plan.id, { selectionRule: '  ' }))).toEqual([
      { path: 'selectionRule', message: 'Invalid selection rule: must not be blank at offset 0' },
    ]);
  });
});
