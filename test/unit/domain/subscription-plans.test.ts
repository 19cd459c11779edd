import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../server/db/client.ts';
import { auditLog, subscriptionPlans, subscriptions } from '../../../server/db/schema/index.ts';
import { createApi } from '../../../server/domain/apis/index.ts';
import type { ChangeEvent, DomainContext } from '../../../server/domain/context.ts';
import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from '../../../server/domain/errors.ts';
import { newId } from '../../../server/domain/ids.ts';
import { allRows } from '../../../server/domain/pagination.ts';
import {
  createSubscriptionPlan,
  deleteSubscriptionPlan,
  getSubscriptionPlan,
  getSubscriptionPlanByName,
  listSubscriptionPlans,
  loadSubscriptionPlans,
  type SubscriptionPlanInput,
  updateSubscriptionPlan,
} from '../../../server/domain/subscription-plans.ts';
import { createUser } from '../../../server/domain/users.ts';
import { drivers, openTestDatabase } from '../../helpers/database.ts';
import { domainContext } from '../../helpers/domain.ts';

async function caught(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

let seq = 0;
const gold = (extra: SubscriptionPlanInput = {}): SubscriptionPlanInput => ({
  planName: `Gold-${++seq}`,
  billingPlan: 'COMMERCIAL',
  stopOnQuotaReach: true,
  throttleLimitCount: 1000,
  throttleLimitUnit: 'Hour',
  expiryTime: new Date('2026-12-31T23:59:59Z'),
  status: 'ACTIVE',
  ...extra,
});

describe.each(drivers)('subscription plans domain (%s)', (driver) => {
  let database: DatabaseHandle & { drop(): Promise<void> };
  let admin: DomainContext;
  let publisher: DomainContext;
  let consumer: DomainContext;

  async function planRows(): Promise<{ plans: number; audit: number }> {
    const [p] = await database.db.select({ n: count() }).from(subscriptionPlans);
    const [a] = await database.db.select({ n: count() }).from(auditLog);
    return { plans: p!.n, audit: a!.n };
  }

  beforeAll(async () => {
    database = await openTestDatabase(driver);
    admin = domainContext(database);
    const pub = await createUser(admin, { username: 'pub', password: 'password-123', role: 'publisher' });
    publisher = domainContext(database, { userId: pub.id, username: 'pub', role: 'publisher' });
    const con = await createUser(admin, { username: 'con', password: 'password-123', role: 'consumer' });
    consumer = domainContext(database, { userId: con.id, username: 'con', role: 'consumer' });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('creates the seed plan with every field and audits it', async () => {
    const events: ChangeEvent[] = [];
    publisher.changes.subscribe((batch) => events.push(...batch));
    const input = gold({ gatewayId: 'gw-1' });
    const plan = await createSubscriptionPlan(publisher, input);
    expect(plan).toMatchObject({ ...input, id: expect.stringMatching(/^spl_/) });
    expect(events).toEqual([{ entityType: 'subscription-plan', entityId: plan.id, action: 'subscription-plan.create' }]);
    const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.entityId, plan.id));
    expect(entry?.action).toBe('subscription-plan.create');
    expect(await getSubscriptionPlan(consumer, plan.id)).toEqual(plan);
    expect(await getSubscriptionPlanByName(consumer, plan.planName!)).toEqual(plan);
  });

  it('defaults stopOnQuotaReach to true and status to ACTIVE when only planName is given', async () => {
    const plan = await createSubscriptionPlan(admin, { planName: `Free-${++seq}` });
    expect(plan).toMatchObject({ stopOnQuotaReach: true, status: 'ACTIVE', throttleLimitCount: null, throttleLimitUnit: null, billingPlan: null });
  });

  const invalid: [string, SubscriptionPlanInput, string, string][] = [
    ['planName is missing', { planName: undefined }, 'planName', 'planName is required'],
    ['planName is blank', { planName: '  ' }, 'planName', 'planName is required'],
    ['count is 0', { throttleLimitCount: 0 }, 'throttleLimitCount', 'throttleLimitCount must be an integer greater than 0'],
    ['count is negative', { throttleLimitCount: -5 }, 'throttleLimitCount', 'throttleLimitCount must be an integer greater than 0'],
    ['count is fractional', { throttleLimitCount: 1.5 }, 'throttleLimitCount', 'throttleLimitCount must be an integer greater than 0'],
    ['unit is Week', { throttleLimitUnit: 'Week' as never }, 'throttleLimitUnit', 'throttleLimitUnit must be one of Min, Hour, Day, Month'],
    ['count comes without unit', { throttleLimitUnit: null }, 'throttleLimitUnit', 'throttleLimitUnit is required when throttleLimitCount is set'],
    ['unit comes without count', { throttleLimitCount: null }, 'throttleLimitCount', 'throttleLimitCount is required when throttleLimitUnit is set'],
    ['status is REVOKED', { status: 'REVOKED' as never }, 'status', 'status must be one of ACTIVE, INACTIVE'],
    ['expiryTime is not a date', { expiryTime: new Date('nope') }, 'expiryTime', 'expiryTime must be an ISO-8601 instant'],
    ['stopOnQuotaReach is a string', { stopOnQuotaReach: 'yes' as never }, 'stopOnQuotaReach', 'stopOnQuotaReach must be true or false'],
  ];

  it.each(invalid)('reports %s at its path, writing nothing', async (_name, edit, path, message) => {
    const before = await planRows();
    const error = await caught(createSubscriptionPlan(admin, gold(edit)));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues).toEqual([{ path, message }]);
    expect(await planRows()).toEqual(before);
  });

  it('accepts every unit and INACTIVE', async () => {
    for (const unit of ['Min', 'Hour', 'Day', 'Month'] as const) {
      const plan = await createSubscriptionPlan(admin, gold({ throttleLimitUnit: unit, throttleLimitCount: 1, status: 'INACTIVE' }));
      expect(plan.throttleLimitUnit).toBe(unit);
    }
  });

  it('returns ConflictError when the planName exists, writing nothing', async () => {
    const plan = await createSubscriptionPlan(admin, gold());
    const before = await planRows();
    const error = await caught(createSubscriptionPlan(admin, gold({ planName: plan.planName })));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe(`subscription plan '${plan.planName}' already exists`);
    expect(await planRows()).toEqual(before);
  });

  it('merges an update: absent fields stay, null clears, the merged result is validated', async () => {
    const plan = await createSubscriptionPlan(admin, gold());
    const updated = await updateSubscriptionPlan(publisher, plan.id, { billingPlan: null, status: 'INACTIVE' });
    expect(updated).toMatchObject({ planName: plan.planName, billingPlan: null, status: 'INACTIVE', throttleLimitCount: 1000, throttleLimitUnit: 'Hour' });
    const cleared = await updateSubscriptionPlan(publisher, plan.id, { throttleLimitCount: null, throttleLimitUnit: null });
    expect(cleared).toMatchObject({ throttleLimitCount: null, throttleLimitUnit: null });
    const error = await caught(updateSubscriptionPlan(publisher, plan.id, { throttleLimitCount: 10 }));
    expect(error.issues).toEqual([{ path: 'throttleLimitUnit', message: 'throttleLimitUnit is required when throttleLimitCount is set' }]);
    const [entry] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'subscription-plan.update'));
    expect(entry?.entityId).toBe(plan.id);
  });

  it('refuses renaming onto another plan’s name and answers NotFound for an unknown id', async () => {
    const a = await createSubscriptionPlan(admin, gold());
    const b = await createSubscriptionPlan(admin, gold());
    expect(await caught(updateSubscriptionPlan(admin, b.id, { planName: a.planName }))).toBeInstanceOf(ConflictError);
    expect(await caught(updateSubscriptionPlan(admin, 'spl_missing', { status: 'ACTIVE' }))).toBeInstanceOf(NotFoundError);
    expect((await updateSubscriptionPlan(admin, b.id, { planName: b.planName })).planName).toBe(b.planName);
  });

  it('refuses to delete a plan while a subscription uses it, then deletes it once unused', async () => {
    const plan = await createSubscriptionPlan(admin, gold());
    const api = await createApi(admin, {
      metadata: { name: `plan-user-${seq}` },
      spec: { displayName: `Plan-User-${seq}`, version: 'v1', context: `/plan-user-${seq}`, upstream: { main: { url: 'http://up' } }, operations: [{ method: 'GET', path: '/' }] },
    });
    const subscriptionId = newId('subscription');
    await database.db.insert(subscriptions).values({ id: subscriptionId, apiId: api.id, subscriptionPlanId: plan.id, status: 'ACCEPTED', tokenHash: 'f'.repeat(64) });
    const before = await planRows();
    const error = await caught(deleteSubscriptionPlan(admin, plan.id));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe(`subscription plan '${plan.planName}' is used by 1 subscription(s) and cannot be deleted`);
    expect(await planRows()).toEqual(before);
    await database.db.delete(subscriptions).where(eq(subscriptions.id, subscriptionId));
    const deleted = await deleteSubscriptionPlan(admin, plan.id);
    expect(deleted.id).toBe(plan.id);
    expect(await caught(getSubscriptionPlan(admin, plan.id))).toBeInstanceOf(NotFoundError);
    expect(await caught(deleteSubscriptionPlan(admin, plan.id))).toBeInstanceOf(NotFoundError);
  });

  it('forbids consumers every write, writing nothing', async () => {
    const plan = await createSubscriptionPlan(admin, gold());
    const before = await planRows();
    expect(await caught(createSubscriptionPlan(consumer, gold()))).toBeInstanceOf(ForbiddenError);
    expect(await caught(updateSubscriptionPlan(consumer, plan.id, { status: 'INACTIVE' }))).toBeInstanceOf(ForbiddenError);
    expect(await caught(deleteSubscriptionPlan(consumer, plan.id))).toBeInstanceOf(ForbiddenError);
    expect(await planRows()).toEqual(before);
  });

  it('lists with status and name filters in id order and loads in the order asked', async () => {
    const inactive = await createSubscriptionPlan(admin, gold({ status: 'INACTIVE' }));
    const all = await listSubscriptionPlans(consumer, {}, allRows);
    expect(all.map((p) => p.id)).toEqual([...all.map((p) => p.id)].sort());
    expect((await listSubscriptionPlans(admin, { status: 'INACTIVE' }, allRows)).map((p) => p.id)).toContain(inactive.id);
    expect((await listSubscriptionPlans(admin, { status: 'ACTIVE' }, allRows)).map((p) => p.id)).not.toContain(inactive.id);
    expect((await listSubscriptionPlans(admin, { planName: inactive.planName }, allRows)).map((p) => p.id)).toEqual([inactive.id]);
    const page = await listSubscriptionPlans(admin, {}, { limit: 2, inverted: false });
    expect(page).toHaveLength(2);
    expect((await loadSubscriptionPlans(admin, [inactive.id, 'spl_x'])).map((p) => p?.id ?? null)).toEqual([inactive.id, null]);
  });
});
