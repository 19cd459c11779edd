import {
  type AuthorizationServer,
  createAuthorizationServer,
  deleteAuthorizationServer,
  getAuthorizationServer,
  listAuthorizationServers,
  loadAuthorizationServers,
  updateAuthorizationServer,
} from '../../domain/authorization-servers.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { builder } from '../builder.ts';
import { authorizationServerId } from '../global-id.ts';
import { connectionQueryField, deletionPayload, idMutationField, nodeById, nodePayload, nodeQueryField } from '../node-fields.ts';

/** OAuth2 authorization server node (RFC 7662 introspection); OAUTH2 plans refer to it. The secret is write-only. */
export const AuthorizationServerRef = builder.loadableNode('AuthorizationServer', {
  description: 'An OAuth2 authorization server whose RFC 7662 introspection endpoint checks the tokens of OAUTH2 plans.',
  ...nodeById('AuthorizationServer', loadAuthorizationServers),
  fields: (t) => ({
    name: t.exposeString('name'),
    introspectionUrl: t.exposeString('introspectionUrl'),
    clientId: t.exposeString('clientId', { description: 'The client the gateway authenticates as (HTTP Basic) when introspecting.' }),
    hasClientSecret: t.exposeBoolean('hasClientSecret', { description: 'The secret itself is write-only.' }),
    tokenTypeHint: t.exposeString('tokenTypeHint', { nullable: true, description: '`token_type_hint` sent with each introspection; null = none.' }),
    timeoutMs: t.exposeInt('timeoutMs', { description: 'Introspection call timeout (the gateway answers 503 past it).' }),
    maxCacheSeconds: t.exposeInt('maxCacheSeconds', { description: 'How long an active answer may be reused, at most; also bounded by the token `exp`. 0 = no cache.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

nodeQueryField('authorizationServer', AuthorizationServerRef, getAuthorizationServer, { manager: true });

connectionQueryField('authorizationServers', AuthorizationServerRef, {
  authScopes: { manager: true },
  description: 'OAuth2 authorization servers, oldest first.',
  args: (arg) => ({ name: arg.string({ required: false }) }),
  list: (ctx, args, page) => listAuthorizationServers(ctx, { name: args.name ?? undefined }, page),
});

const ServerPayload = (name: string) => nodePayload(name, 'authorizationServer', AuthorizationServerRef);

builder.mutationField('createAuthorizationServer', (t) =>
  t.fieldWithInput({
    type: ServerPayload('CreateAuthorizationServerPayload'),
    authScopes: { manager: true },
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      name: t.input.string({ description: 'Unique.' }),
      introspectionUrl: t.input.string({ description: 'http(s) URL of the RFC 7662 introspection endpoint.' }),
      clientId: t.input.string(),
      clientSecret: t.input.string({ description: 'Write-only.' }),
      tokenTypeHint: t.input.string({ required: false, description: 'e.g. access_token; default none.' }),
      timeoutMs: t.input.int({ required: false, description: '100..30000, default 2000.' }),
      maxCacheSeconds: t.input.int({ required: false, description: '0..3600, default 300.' }),
    },
    resolve: async (_root, { input }, ctx) => ({ authorizationServer: await createAuthorizationServer(ctx.domain, input) }),
  }),
);

builder.mutationField('updateAuthorizationServer', (t) =>
  t.fieldWithInput({
    type: ServerPayload('UpdateAuthorizationServerPayload'),
    authScopes: { manager: true },
    description: 'Merges: absent fields keep their value (an omitted clientSecret is kept); tokenTypeHint null clears it.',
    errors: { types: [ValidationError, NotFoundError, ConflictError, ForbiddenError] },
    input: {
      id: t.input.globalID(),
      name: t.input.string({ required: false }),
      introspectionUrl: t.input.string({ required: false }),
      clientId: t.input.string({ required: false }),
      clientSecret: t.input.string({ required: false, description: 'Write-only; omit to keep the current secret.' }),
      tokenTypeHint: t.input.string({ required: false }),
      timeoutMs: t.input.int({ required: false }),
      maxCacheSeconds: t.input.int({ required: false }),
    },
    resolve: async (_root, { input: { id, ...changes } }, ctx) => ({
      authorizationServer: await updateAuthorizationServer(ctx.domain, authorizationServerId(id), changes),
    }),
  }),
);

const DeleteAuthorizationServerPayload = deletionPayload('DeleteAuthorizationServerPayload', 'authorizationServer', 'AuthorizationServer', {
  field: 'name',
  of: (server: AuthorizationServer) => server.name,
});

idMutationField('deleteAuthorizationServer', DeleteAuthorizationServerPayload, {
  manager: true,
  description: 'Refused with ConflictError while an OAUTH2 plan refers to the server.',
  errors: [NotFoundError, ConflictError, ForbiddenError],
  run: async (ctx, id) => ({ authorizationServer: await deleteAuthorizationServer(ctx, authorizationServerId(id)) }),
});
