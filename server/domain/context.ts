import type { Database, Transaction } from '../db/client.ts';
import { auditLog } from '../db/schema/index.ts';
import type { DataPlaneCertificateIssuer } from './certificate-issuer.ts';
import { translateDatabaseError } from './db-errors.ts';
import { redactSecrets } from './audit-redaction.ts';
import { newId } from './ids.ts';
import type { SecretBox } from './secret-box.ts';

export type Role = 'admin' | 'publisher' | 'consumer';

/** Who is acting. Every domain call carries one; the system actor is used for start-up tasks. */
export interface Actor {
  userId: string | null;
  username: string;
  role: Role;
  /** The user must change its password before anything else works (see access.ts). */
  mustChangePassword?: boolean;
}

export const systemActor: Actor = { userId: null, username: 'system', role: 'admin' };

/** A committed change, published after its transaction commits so data planes rebuild from the new state. */
export interface ChangeEvent {
  entityType: string;
  entityId: string;
  action: string;
}

export type ChangeListener = (events: readonly ChangeEvent[]) => void;

/** In-process fan-out of committed changes (xDS snapshots subscribe here). */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(events: readonly ChangeEvent[]): void {
    if (events.length === 0) return;
    for (const listener of this.listeners) listener(events);
  }
}

export interface DomainContext {
  db: Database;
  actor: Actor;
  changes: ChangeFeed;
  /** Injectable for expiry and lifecycle tests. */
  now: () => Date;
  settings: DomainSettings;
  /** Signs data planes' xDS client certificates (the platform CA); absent where no CA is open. */
  dataPlaneCertificates?: DataPlaneCertificateIssuer | undefined;
  keys: PlatformKeys;
}

/** Key material held outside the database (server/platform-keys.ts loads it at the edge). */
export interface PlatformKeys {
  /** HMAC key of API-key and subscription-token digests (secrets.ts `keyDigest`). */
  digestKey: Buffer;
  /** Seals the secrets kept in recoverable form (OAuth2 client secrets, HMAC JWT keys). */
  box: SecretBox;
}

export interface DomainSettings {
  /** v0.9 keys one user may hold per API. @default 10 */
  apiKeyQuotaPerUser: number;
  /** How long a renewed key's predecessor keeps working. @default 0 (stops at once) */
  apiKeyRenewGraceSeconds: number;
}

export const defaultSettings: DomainSettings = { apiKeyQuotaPerUser: 10, apiKeyRenewGraceSeconds: 0 };

/** What a write step gets: the open transaction and a recorder for audit entries and change events. */
export interface WriteScope {
  tx: Transaction;
  actor: Actor;
  now: Date;
  keys: PlatformKeys;
  audit(entry: AuditEntry): Promise<void>;
}

export interface AuditEntry {
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
}

/**
 * Runs one domain write: one transaction holding the change and its audit entries; the change
 * events are published only after the commit, so no data plane sees a change that rolled back.
 */
export async function write<T>(ctx: DomainContext, work: (scope: WriteScope) => Promise<T>): Promise<T> {
  const events: ChangeEvent[] = [];
  const now = ctx.now();
  const result = await runTransaction(ctx, async (tx) => {
    const scope: WriteScope = {
      tx,
      actor: ctx.actor,
      now,
      keys: ctx.keys,
      audit: async (entry) => {
        // One place keeps secrets and hashes out of the audit trail, whatever a caller passes (audit-redaction.ts).
        const { before, after } = redactSecrets(entry.before ?? null, entry.after ?? null);
        await tx.insert(auditLog).values({
          id: newId('audit'),
          actorId: ctx.actor.userId,
          actorName: ctx.actor.username,
          action: entry.action,
          entityType: entry.entityType,
          entityId: entry.entityId,
          before,
          after,
          at: now,
        });
        events.push({ entityType: entry.entityType, entityId: entry.entityId, action: entry.action });
      },
    };
    return work(scope);
  });
  ctx.changes.publish(events);
  return result;
}

/** The transaction, with database refusals of the caller's input turned into domain errors (see db-errors.ts). */
async function runTransaction<T>(ctx: DomainContext, work: (tx: Transaction) => Promise<T>): Promise<T> {
  try {
    return await ctx.db.transaction(work);
  } catch (error: unknown) {
    throw translateDatabaseError(error) ?? error;
  }
}

export function withActor(ctx: DomainContext, actor: Actor): DomainContext {
  return { ...ctx, actor };
}
