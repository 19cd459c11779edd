import {
  createApiKey,
  type IssuedApiKey,
  listApiKeys,
  listApiKeysForApis,
  loadApiKeys,
  loadSharedKeysForApplications,
  renewApiKey,
  revokeApiKey,
} from '../../domain/api-keys/index.ts';
import { loadApplications } from '../../domain/applications.ts';
import { expiryUnits } from '../../domain/api-keys/index.ts';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';
import { ApiRef } from './apis.ts';
import { ApplicationRef } from './applications.ts';
import { rawId } from '../global-id.ts';
import { childListField, connectionQueryField, idMutationField, nodeById, nodePayload, referencedNode } from '../node-fields.ts';

export const ApiKeyStatusEnum = builder.enumType('ApiKeyStatus', {
  description: '`expired` is computed from expiresAt at read time.',
  values: ['active', 'revoked', 'expired'] as const,
});

export const ApiKeyOwnerEnum = builder.enumType('ApiKeyOwner', {
  description: 'subscription: an exclusive key; application: the shared key (seed 000); api: a v0.9 key.',
  values: ['subscription', 'application', 'api'] as const,
});

const ExpiryUnitEnum = builder.enumType('ApiKeyExpiryUnit', { values: expiryUnits });

export const ApiKeyRef = builder.loadableNode('ApiKey', {
  description: 'An API key as stored: masked (`***` + last 5 characters). The value is never readable.',
  ...nodeById('ApiKey', loadApiKeys),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique per API for v0.9 keys.' }),
    displayName: t.exposeString('displayName', { nullable: true }),
    masked: t.exposeString('masked'),
    status: t.field({ type: ApiKeyStatusEnum, resolve: (key) => key.status }),
    owner: t.field({ type: ApiKeyOwnerEnum, resolve: (key) => key.owner }),
    isCustom: t.exposeBoolean('isCustom'),
    source: t.exposeString('source'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdBy: t.exposeString('createdBy', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    api: t.field({
      type: ApiRef,
      nullable: true,
      description: 'The API of a v0.9 key.',
      resolve: (key) => key.apiId,
    }),
    application: t.loadable({ ...referencedNode(ApplicationRef, loadApplications), description: 'The application of a shared key.', resolve: (key) => key.applicationId }),
  }),
});

builder.objectField(ApiKeyRef, 'replacedBy', (t) =>
  t.field({
    type: ApiKeyRef,
    nullable: true,
    description: 'The key that a renewal put in place; this one works until expiresAt.',
    resolve: (key) => key.replacedById,
  }),
);

export const IssuedApiKeyRef = builder.objectRef<IssuedApiKey>('IssuedApiKey').implement({
  description: 'A new key value: shown here once and never again (only its SHA-256 digest is stored).',
  fields: (t) => ({
    key: t.field({ type: ApiKeyRef, resolve: (issued) => issued.key }),
    value: t.exposeString('value'),
  }),
});

const ExpiresInInput = builder.inputType('ApiKeyExpiresInInput', {
  fields: (t) => ({ unit: t.field({ type: ExpiryUnitEnum }), duration: t.int() }),
});

// ---- queries

connectionQueryField('apiKeys', ApiKeyRef, {
  description: 'Keys in creation order, masked; consumers see their own only.',
  args: (arg) => ({
    apiId: arg.globalID({ required: false, description: 'v0.9 keys of the API and keys of its subscriptions.' }),
    subscriptionId: arg.globalID({ required: false }),
    applicationId: arg.globalID({ required: false, description: 'The shared key and the keys of its subscriptions.' }),
    owner: arg({ type: ApiKeyOwnerEnum, required: false }),
    status: arg({ type: ApiKeyStatusEnum, required: false }),
  }),
  list: (ctx, args, page) =>
    listApiKeys(
      ctx,
      {
        apiId: args.apiId ? rawId(args.apiId, 'Api') : undefined,
        subscriptionId: args.subscriptionId ? rawId(args.subscriptionId, 'ApiSubscription') : undefined,
        applicationId: args.applicationId ? rawId(args.applicationId, 'Application') : undefined,
        owner: args.owner ?? undefined,
        status: args.status ?? undefined,
      },
      page,
    ),
});

childListField(ApiRef, 'apiKeys', {
  type: ApiKeyRef,
  description: "The API's v0.9 keys (current ones, any status), masked.",
  load: listApiKeysForApis,
});

builder.objectField(ApplicationRef, 'sharedKey', (t) =>
  t.loadable({
    type: ApiKeyRef,
    nullable: true,
    description: "The application's shared key (SHARED API-key mode), masked.",
    load: (ids: string[], ctx) => loadSharedKeysForApplications(ctx.domain, ids),
    resolve: (application) => application.id,
  }),
);

// ---- mutations

const CreateApiKeyPayload = builder.objectRef<IssuedApiKey & { remainingApiKeyQuota: number }>('CreateApiKeyPayload').implement({
  fields: (t) => ({
    issued: t.field({ type: IssuedApiKeyRef, resolve: (p) => ({ key: p.key, value: p.value }) }),
    remainingApiKeyQuota: t.exposeInt('remainingApiKeyQuota', { description: 'More v0.9 keys the caller may create on this API.' }),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.fieldWithInput({
    type: CreateApiKeyPayload,
    description: 'A v0.9 key on an API; the value is returned once.',
    errors: { types: [ValidationError, NotFoundError, ConflictError, ForbiddenError] },
    input: {
      apiId: t.input.globalID(),
      name: t.input.string({ required: false }),
      displayName: t.input.string({ required: false }),
      apiKey: t.input.string({ required: false, description: 'A custom value (8-64 URL-safe characters).' }),
      expiresAt: t.input.field({ type: 'DateTime', required: false }),
      expiresIn: t.input.field({ type: ExpiresInInput, required: false }),
    },
    resolve: (_root, { input }, ctx) =>
      createApiKey(ctx.domain, {
        apiId: rawId(input.apiId, 'Api'),
        name: input.name,
        displayName: input.displayName,
        apiKey: input.apiKey,
        expiresAt: input.expiresAt,
        expiresIn: input.expiresIn,
      }),
  }),
);

const RenewApiKeyPayload = builder.objectRef<IssuedApiKey>('RenewApiKeyPayload').implement({
  fields: (t) => ({
    issued: t.field({ type: IssuedApiKeyRef, resolve: (p) => p }),
  }),
});

builder.mutationField('renewApiKey', (t) =>
  t.fieldWithInput({
    type: RenewApiKeyPayload,
    description: 'A new value for the key; the old one works until the grace period ends.',
    errors: { types: [ValidationError, NotFoundError, ConflictError, ForbiddenError, InvalidTransitionError] },
    input: {
      id: t.input.globalID(),
      customValue: t.input.string({ required: false }),
      graceSeconds: t.input.int({ required: false, description: 'Defaults to the platform setting.' }),
      expiresAt: t.input.field({ type: 'DateTime', required: false }),
      expiresIn: t.input.field({ type: ExpiresInInput, required: false }),
    },
    resolve: (_root, { input }, ctx) =>
      renewApiKey(ctx.domain, rawId(input.id, 'ApiKey'), {
        customValue: input.customValue,
        graceSeconds: input.graceSeconds,
        expiresAt: input.expiresAt,
        expiresIn: input.expiresIn,
      }),
  }),
);

const RevokeApiKeyPayload = nodePayload('RevokeApiKeyPayload', 'apiKey', ApiKeyRef);

idMutationField('revokeApiKey', RevokeApiKeyPayload, {
  description: 'Stops the key at once; revoking a revoked key succeeds again.',
  errors: [NotFoundError, ForbiddenError],
  run: async (ctx, id) => ({ apiKey: await revokeApiKey(ctx, rawId(id, 'ApiKey')) }),
});
