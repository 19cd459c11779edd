import { eq, type SQL } from 'drizzle-orm';
import { auditLog } from '../db/schema/index.ts';
import { requireRole } from './access/index.ts';
import type { DomainContext } from './context.ts';
import { type PageArgs, selectPage } from './pagination.ts';

export interface AuditEntry {
  id: string;
  actorId: string | null;
  actorName: string;
  action: string;
  entityType: string;
  entityId: string;
  before: unknown;
  after: unknown;
  at: Date;
}

export interface AuditFilter {
  entityType?: string | undefined;
  entityId?: string | undefined;
  actorName?: string | undefined;
}

/** The audit trail, oldest first by default (ids sort by time); admins only. */
export async function listAuditEntries(ctx: DomainContext, filter: AuditFilter, page: PageArgs): Promise<AuditEntry[]> {
  requireRole(ctx.actor, 'admin');
  const where: SQL[] = [];
  if (filter.entityType) where.push(eq(auditLog.entityType, filter.entityType));
  if (filter.entityId) where.push(eq(auditLog.entityId, filter.entityId));
  if (filter.actorName) where.push(eq(auditLog.actorName, filter.actorName));
  return selectPage(ctx.db, auditLog, where, page);
}
