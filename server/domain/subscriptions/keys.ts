import { and, asc, eq, inArray, ne } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { applications, plans, subscriptions } from '../../db/schema/index.ts';
import { hasLiveSharedKey, type IssuedApiKey, issueApiKey, shareSubscriptionKey, subscriptionsWithLiveKey } from '../api-keys/index.ts';
import { setApiKeyMode } from '../applications.ts';
import type { WriteScope } from '../context.ts';
import { ValidationError } from '../errors.ts';
import { liveStatuses, type PlanRow, type SubscribeInput, type SubscriptionRow, update } from './model.ts';

// ---------------------------------------------------------------------------------------------------------------
// Keys of API-key plan subscriptions (seed 000: generated, custom, shared).

/** The application's other live subscriptions through API-key plans. */
async function liveKeySubscriptions(tx: Executor, applicationId: string, exceptId: string | null): Promise<(SubscriptionRow & { hasOwnKey: boolean })[]> {
  const rows = await tx
    .select({ sub: subscriptions })
    .from(subscriptions)
    .innerJoin(plans, eq(plans.id, subscriptions.planId))
    .where(
      and(
        eq(subscriptions.applicationId, applicationId),
        inArray(subscriptions.status, liveStatuses),
        eq(plans.security, 'API_KEY'),
        exceptId ? ne(subscriptions.id, exceptId) : undefined,
      ),
    )
    .orderBy(asc(subscriptions.id));
  if (rows.length === 0) return [];
  const owned = await subscriptionsWithLiveKey(tx, rows.map((r) => r.sub.id));
  return rows.map((r) => ({ ...r.sub, hasOwnKey: owned.has(r.sub.id) }));
}

/**
 * Seed 000: at the application's second API-key subscription the caller picks SHARED or EXCLUSIVE
 * (default EXCLUSIVE); when every other one is on the same API there is no choice (EXCLUSIVE). Choosing
 * SHARED turns the first subscription's key into the application's shared key. The mode never changes.
 */
export async function settleKeyMode(
  scope: WriteScope,
  application: typeof applications.$inferSelect,
  apiId: string,
  requested: SubscribeInput['apiKeyMode'],
): Promise<void> {
  if (application.apiKeyMode !== 'UNSPECIFIED') {
    if (requested && requested !== application.apiKeyMode) {
      throw new ValidationError([
        { path: 'apiKeyMode', message: `The application's API key mode is ${application.apiKeyMode} and cannot be changed` },
      ]);
    }
    return;
  }
  const others = await liveKeySubscriptions(scope.tx, application.id, null);
  if (others.length === 0) return; // First API-key subscription: nothing to choose yet.
  const distinctApis = others.some((o) => o.apiId !== apiId);
  if (!distinctApis) {
    if (requested === 'SHARED') {
      throw new ValidationError([{ path: 'apiKeyMode', message: 'A shared API key can only be used across distinct APIs' }]);
    }
    await setApiKeyMode(scope, application.id, 'EXCLUSIVE');
    return;
  }
  const mode = requested ?? 'EXCLUSIVE';
  await setApiKeyMode(scope, application.id, mode);
  if (mode !== 'SHARED') return;
  const first = others.find((o) => o.hasOwnKey);
  if (!first) return; // No key yet (all pending): the first accepted one issues the shared key.
  await shareSubscriptionKey(scope, first.id, application.id);
  await update(scope, first, { usesSharedKey: true }, 'subscription.use-shared-key');
}

/**
 * Gives an accepted API-key subscription its key: the shared one (SHARED mode, not yet used on this API),
 * a new shared one (SHARED mode, none live), or an exclusive one. Returns the clear value when one was made.
 */
export async function provisionKey(scope: WriteScope, sub: SubscriptionRow, plan: PlanRow, customValue: string | null | undefined): Promise<IssuedApiKey | null> {
  if (plan.security !== 'API_KEY') return null;
  if ((await subscriptionsWithLiveKey(scope.tx, [sub.id])).has(sub.id)) {
    if (customValue != null) throw new ValidationError([{ path: 'customApiKey', message: 'This subscription already has its custom API key' }]);
    return null;
  }
  const applicationId = sub.applicationId!;
  const [application] = await scope.tx.select().from(applications).where(eq(applications.id, applicationId)).limit(1);
  if (application?.apiKeyMode === 'SHARED') {
    const [usedHere] = await scope.tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.applicationId, applicationId),
          eq(subscriptions.apiId, sub.apiId),
          eq(subscriptions.usesSharedKey, true),
          inArray(subscriptions.status, liveStatuses),
          ne(subscriptions.id, sub.id),
        ),
      )
      .limit(1);
    if (!usedHere) {
      const shared = await hasLiveSharedKey(scope.tx, applicationId);
      if (shared && customValue != null) {
        throw new ValidationError([{ path: 'customApiKey', message: "This application shares one API key; this subscription reuses it and takes no custom value" }]);
      }
      await update(scope, sub, { usesSharedKey: true }, 'subscription.use-shared-key');
      if (shared) return null;
      return issueApiKey(scope, { applicationId }, { customValue });
    }
  }
  return issueApiKey(scope, { subscriptionId: sub.id }, { customValue, expiresAt: sub.endingAt });
}
