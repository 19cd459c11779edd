import { type KeyManager, createKeyManager, deleteKeyManager, findKeyManager, listKeyManagers, loadKeyManagers, updateKeyManager } from '../../domain/key-managers.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';
import { connectionQueryField, deletionPayload, nodeById, nodePayload } from '../node-fields.ts';

/** A token issuer and its public keys, named by jwt (v0.9 jwt-auth) policies in `params.issuers`. Admins only. */
export const KeyManagerRef = builder.loadableNode('KeyManager', {
  description: 'A token issuer and the public keys that sign its tokens; jwt (v0.9 jwt-auth) policies name it in params.issuers.',
  ...nodeById('KeyManager', loadKeyManagers),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What policies name in params.issuers; immutable.' }),
    issuer: t.exposeString('issuer', { nullable: true, description: 'The `iss` its tokens must carry; null = any issuer its keys sign for.' }),
    jwksUrl: t.exposeString('jwksUrl', { nullable: true, description: 'JWKS document the control plane fetches (one of jwksUrl, certificate, jwks).' }),
    certificate: t.exposeString('certificate', { nullable: true, description: 'PEM certificate or public key.' }),
    jwks: t.exposeString('jwks', { nullable: true, description: 'Inline JWK Set (JSON), public keys only.' }),
    audiences: t.exposeStringList('audiences', { description: 'Required of tokens by a policy that names this key manager and lists no audiences.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('keyManager', (t) =>
  t.field({
    type: KeyManagerRef,
    nullable: true,
    authScopes: { admin: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }, ctx) => findKeyManager(ctx.domain, name),
  }),
);

connectionQueryField('keyManagers', KeyManagerRef, {
  authScopes: { admin: true },
  description: 'Key managers, oldest first.',
  args: () => ({}),
  list: (ctx, _args, page) => listKeyManagers(ctx, page),
});

const keySourceFields = 'Exactly one of jwksUrl, certificate and jwks.';

builder.mutationField('createKeyManager', (t) =>
  t.fieldWithInput({
    type: nodePayload('CreateKeyManagerPayload', 'keyManager', KeyManagerRef),
    authScopes: { admin: true },
    description: keySourceFields,
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      name: t.input.string({ description: 'Unique; 1-64 letters, digits, dots, hyphens or underscores.' }),
      issuer: t.input.string({ required: false, description: 'The `iss` its tokens must carry; absent = any.' }),
      jwksUrl: t.input.string({ required: false, description: 'http(s) URL of a JWKS document.' }),
      certificate: t.input.string({ required: false, description: 'PEM certificate or public key.' }),
      jwks: t.input.string({ required: false, description: 'Inline JWK Set (JSON), public keys only.' }),
      audiences: t.input.stringList({ required: false, description: 'Default audiences of policies that list none.' }),
    },
    resolve: async (_root, { input }, ctx) => ({ keyManager: await createKeyManager(ctx.domain, input) }),
  }),
);

builder.mutationField('updateKeyManager', (t) =>
  t.fieldWithInput({
    type: nodePayload('UpdateKeyManagerPayload', 'keyManager', KeyManagerRef),
    authScopes: { admin: true },
    description: 'By name. Absent fields keep their value; issuer null clears it; a key source given replaces the current one.',
    errors: { types: [ValidationError, NotFoundError, ForbiddenError] },
    input: {
      name: t.input.string(),
      issuer: t.input.string({ required: false }),
      jwksUrl: t.input.string({ required: false }),
      certificate: t.input.string({ required: false }),
      jwks: t.input.string({ required: false }),
      audiences: t.input.stringList({ required: false }),
    },
    resolve: async (_root, { input: { name, ...changes } }, ctx) => ({ keyManager: await updateKeyManager(ctx.domain, name, changes) }),
  }),
);

builder.mutationField('deleteKeyManager', (t) =>
  t.fieldWithInput({
    type: deletionPayload('DeleteKeyManagerPayload', 'keyManager', 'KeyManager', { field: 'name', of: (km: KeyManager) => km.name }),
    authScopes: { admin: true },
    description: 'By name. Refused with ConflictError while a jwt policy names it.',
    errors: { types: [NotFoundError, ConflictError, ForbiddenError] },
    input: { name: t.input.string() },
    resolve: async (_root, { input }, ctx) => ({ keyManager: await deleteKeyManager(ctx.domain, input.name) }),
  }),
);
