import type { CreatedUser, User } from '../../domain/users.ts';
import { createUser, getUser, listUsers } from '../../domain/users.ts';
import {
  changeOwnPassword,
  deleteUser,
  disableUser,
  enableUser,
  forcePasswordReset,
  updateUserRole,
} from '../../domain/user-management.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';
import { userId } from '../global-id.ts';
import { connectionById } from '../connections.ts';

export const UserRole = builder.enumType('UserRole', { values: ['admin', 'publisher', 'consumer'] as const });

export const UserRef = builder.node(builder.objectRef<User>('User'), {
  id: { resolve: (user) => user.id },
  loadOne: (id, ctx) => getUser(ctx.domain, id).catch(() => null),
  fields: (t) => ({
    username: t.exposeString('username'),
    role: t.field({ type: UserRole, resolve: (user) => user.role }),
    disabled: t.boolean({ description: 'A disabled user cannot authenticate.', resolve: (user) => user.disabledAt !== null }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true }),
    passwordChangeRequired: t.exposeBoolean('passwordChangeRequired', {
      description: 'The user must change its password (changeOwnPassword) before anything else works.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

// `viewer` (Relay's name) and `me` (kept for existing clients): both answer while a password change is required.
for (const name of ['viewer', 'me'] as const) {
  builder.queryField(name, (t) =>
    t.field({
      type: UserRef,
      description: 'The authenticated user.',
      skipTypeScopes: true,
      resolve: (_root, _args, ctx) => getUser(ctx.domain, ctx.actor.userId ?? ''),
    }),
  );
}

builder.queryField('users', (t) =>
  t.connection({
    type: UserRef,
    authScopes: { admin: true },
    resolve: (_root, args, ctx) =>
      connectionById(args, (page) =>
        listUsers(ctx.domain, page),
      ),
  }),
);

const CreateUserPayload = builder.objectRef<CreatedUser>('CreateUserPayload').implement({
  fields: (t) => ({
    user: t.field({ type: UserRef, resolve: (created) => created }),
    generatedPassword: t.string({
      nullable: true,
      description: 'The generated password when none was given: shown here once, never again.',
      resolve: (created) => created.generatedPassword,
    }),
  }),
});

builder.mutationField('createUser', (t) =>
  t.fieldWithInput({
    type: CreateUserPayload,
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      username: t.input.string(),
      password: t.input.string({ required: false, description: 'Absent: one is generated, returned once, and must be changed at first use.' }),
      role: t.input.field({ type: UserRole }),
    },
    resolve: (_root, { input }, ctx) => createUser(ctx.domain, input),
  }),
);

const UserPayload = (name: string) =>
  builder.objectRef<User>(name).implement({ fields: (t) => ({ user: t.field({ type: UserRef, resolve: (user) => user }) }) });

const userErrors = [ValidationError, NotFoundError, ConflictError, ForbiddenError];

builder.mutationField('updateUserRole', (t) =>
  t.fieldWithInput({
    type: UserPayload('UpdateUserRolePayload'),
    errors: { types: userErrors },
    input: { userId: t.input.globalID(), role: t.input.field({ type: UserRole }) },
    resolve: (_root, { input }, ctx) => updateUserRole(ctx.domain, userId(input.userId), input.role),
  }),
);

/** The admin mutations that take one user and nothing else. */
const oneUserMutations = [
  ['disableUser', disableUser, 'Disables the user: it cannot authenticate until enabled; its cached credentials stop at once.'],
  ['enableUser', enableUser, 'Lets a disabled user authenticate again.'],
  ['deleteUser', deleteUser, 'Deletes a user who owns no API and no application (ConflictError names them otherwise).'],
  ['forcePasswordReset', forcePasswordReset, 'The user must change its password before anything else works.'],
] as const;

for (const [name, run, description] of oneUserMutations) {
  const payload = `${name.charAt(0).toUpperCase()}${name.slice(1)}Payload`;
  builder.mutationField(name, (t) =>
    t.fieldWithInput({
      type: UserPayload(payload),
      description,
      errors: { types: userErrors },
      input: { userId: t.input.globalID() },
      resolve: (_root, { input }, ctx) => run(ctx.domain, userId(input.userId)),
    }),
  );
}

builder.mutationField('changeOwnPassword', (t) =>
  t.fieldWithInput({
    type: UserPayload('ChangeOwnPasswordPayload'),
    description: 'Anyone changes its own password, giving the current one; the one operation allowed while a change is required.',
    skipTypeScopes: true,
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: { currentPassword: t.input.string(), newPassword: t.input.string() },
    resolve: (_root, { input }, ctx) => changeOwnPassword(ctx.domain, input),
  }),
);
