import { type AuditEntry, listAuditEntries } from '../../domain/audit.ts';
import { builder } from '../builder.ts';
import { connectionQueryField } from '../node-fields.ts';

const AuditEntryRef = builder.objectRef<AuditEntry>('AuditEntry').implement({
  description: 'One recorded change: who, what, when, and the entity before and after (never secrets).',
  fields: (t) => ({
    id: t.exposeString('id'),
    actorName: t.exposeString('actorName'),
    action: t.exposeString('action', { description: '`<entity>.<verb>`, e.g. `plan.publish`.' }),
    entityType: t.exposeString('entityType'),
    entityId: t.exposeString('entityId'),
    before: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.before }),
    after: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.after }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

connectionQueryField('auditLog', AuditEntryRef, {
  authScopes: { admin: true },
  args: (arg) => ({
    entityType: arg.string({ required: false }),
    entityId: arg.string({ required: false }),
    actorName: arg.string({ required: false }),
  }),
  list: (ctx, args, page) =>
    listAuditEntries(ctx, { entityType: args.entityType ?? undefined, entityId: args.entityId ?? undefined, actorName: args.actorName ?? undefined }, page),
});
