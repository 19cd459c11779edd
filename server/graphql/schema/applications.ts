import {
  type Application,
  apiKeyModes,
  createApplication,
  deleteApplication,
  listApplications,
  loadApplicationOwners,
  loadApplications,
  updateApplication,
} from '../../domain/applications.ts';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';
import { rawId } from '../global-id.ts';
import { connectionQueryField, loadOne, loadOrNotFound, nodePayload, nodeQueryField } from '../node-fields.ts';
import { UserRef } from './users.ts';

export const ApiKeyModeEnum = builder.enumType('ApiKeyMode', {
  description: 'Chosen at the second API-key subscription (SHARED: one key for all, EXCLUSIVE: one per subscription), then fixed.',
  values: apiKeyModes,
});

export const ApplicationRef = builder.node(builder.objectRef<Application>('Application'), {
  id: { resolve: (application) => application.id },
  loadMany: (ids, ctx) => loadApplications(ctx.domain, ids),
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    clientId: t.exposeString('clientId', { nullable: true, description: 'Matches the client id of JWT / OAuth2 tokens.' }),
    apiKeyMode: t.field({ type: ApiKeyModeEnum, resolve: (a) => a.apiKeyMode }),
    owner: t.loadable({
      type: UserRef,
      load: loadOrNotFound('User', loadApplicationOwners),
      resolve: (a) => a.ownerId,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

nodeQueryField('application', ApplicationRef, loadOne(loadApplications));

connectionQueryField('applications', ApplicationRef, {
  description: 'Applications in creation order; consumers see their own only.',
  args: (arg) => ({
    name: arg.string({ required: false, description: 'Case-insensitive part of the name.' }),
    ownerId: arg.globalID({ required: false }),
  }),
  list: (ctx, args, page) => listApplications(ctx, { name: args.name, ownerId: args.ownerId ? rawId(args.ownerId, 'User') : undefined }, page),
});

const ApplicationPayload = (name: string) => nodePayload(name, 'application', ApplicationRef);

const applicationErrors = [ValidationError, NotFoundError, ForbiddenError, ConflictError, InvalidTransitionError];

builder.mutationField('createApplication', (t) =>
  t.fieldWithInput({
    type: ApplicationPayload('CreateApplicationPayload'),
    errors: { types: applicationErrors },
    input: {
      name: t.input.string(),
      description: t.input.string({ required: false }),
      clientId: t.input.string({ required: false }),
      ownerId: t.input.globalID({ required: false, description: 'Admins only; defaults to the caller.' }),
      apiKeyMode: t.input.field({ type: ApiKeyModeEnum, required: false }),
    },
    resolve: async (_root, { input }, ctx) => ({
      application: await createApplication(ctx.domain, { ...input, ownerId: input.ownerId ? rawId(input.ownerId, 'User') : undefined }),
    }),
  }),
);

builder.mutationField('updateApplication', (t) =>
  t.fieldWithInput({
    type: ApplicationPayload('UpdateApplicationPayload'),
    description: 'Absent fields are kept; null clears description and clientId. apiKeyMode is fixed once chosen.',
    errors: { types: applicationErrors },
    input: {
      id: t.input.globalID(),
      name: t.input.string({ required: false }),
      description: t.input.string({ required: false }),
      clientId: t.input.string({ required: false }),
      ownerId: t.input.globalID({ required: false, description: 'Admins only.' }),
      apiKeyMode: t.input.field({ type: ApiKeyModeEnum, required: false }),
    },
    resolve: async (_root, { input }, ctx) => ({
      application: await updateApplication(ctx.domain, rawId(input.id, 'Application'), {
        ...input,
        ownerId: input.ownerId ? rawId(input.ownerId, 'User') : undefined,
      }),
    }),
  }),
);

const DeleteApplicationPayload = builder.objectRef<{ application: Application }>('DeleteApplicationPayload').implement({
  fields: (t) => ({
    deletedApplicationId: t.globalID({ resolve: (payload) => ({ type: 'Application', id: payload.application.id }) }),
  }),
});

builder.mutationField('deleteApplication', (t) =>
  t.fieldWithInput({
    type: DeleteApplicationPayload,
    description: 'Deletes the application with its subscriptions and keys; refused while a subscription is ACCEPTED unless force.',
    errors: { types: applicationErrors },
    input: {
      id: t.input.globalID(),
      force: t.input.boolean({ required: false }),
    },
    resolve: async (_root, { input }, ctx) => ({
      application: await deleteApplication(ctx.domain, rawId(input.id, 'Application'), { force: input.force ?? false }),
    }),
  }),
);
