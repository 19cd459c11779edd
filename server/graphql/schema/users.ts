import type { User } from '../../domain/users.ts';
import { createUser, getUser, listUsers } from '../../domain/users.ts';
import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { ConflictError, ForbiddenError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';

export const UserRole = builder.enumType('UserRole', { values: ['admin', 'publisher', 'consumer'] as const });

export const UserRef = builder.node(builder.objectRef<User>('User'), {
  id: { resolve: (user) => user.id },
  loadOne: (id, ctx) => getUser(ctx.domain, id).catch(() => null),
  fields: (t) => ({
    username: t.exposeString('username'),
    role: t.field({ type: UserRole, resolve: (user) => user.role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('me', (t) =>
  t.field({
    type: UserRef,
    description: 'The authenticated user.',
    resolve: (_root, _args, ctx) => getUser(ctx.domain, ctx.actor.userId ?? ''),
  }),
);

builder.queryField('users', (t) =>
  t.connection({
    type: UserRef,
    authScopes: { admin: true },
    resolve: (_root, args, ctx) =>
      resolveCursorConnection({ args, toCursor: (user) => user.id }, (page: ResolveCursorConnectionArgs) =>
        listUsers(ctx.domain, page),
      ),
  }),
);

const CreateUserPayload = builder.objectRef<{ user: User }>('CreateUserPayload').implement({
  fields: (t) => ({ user: t.field({ type: UserRef, resolve: (payload) => payload.user }) }),
});

builder.mutationField('createUser', (t) =>
  t.fieldWithInput({
    type: CreateUserPayload,
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      username: t.input.string(),
      password: t.input.string(),
      role: t.input.field({ type: UserRole }),
    },
    resolve: async (_root, { input }, ctx) => ({ user: await createUser(ctx.domain, input) }),
  }),
);
