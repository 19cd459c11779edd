import { type AuditEntry, listAuditEntries } from '../../domain/audit.ts';
import { builder } from '../builder.ts';
import { connectionById } from '../connections.ts';

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

builder.queryField('auditLog', (t) =>
  t.connection({
    type: AuditEntryRef,
    authScopes: { admin: true },
    args: {
      entityType: t.arg.string({ required: false }),
      entityId: t.arg.string({ required: false }),
      actorName: t.arg.string({ required: false }),
    },
    resolve: (_root, args, ctx) =>
      connectionById(args, (page) =>
        listAuditEntries(
          ctx.domain,
          { entityType: args.entityType ?? undefined, entityId: args.entityId ?? undefined, actorName: args.actorName ?? undefined },
          page,
        ),
      ),
  }),
);
