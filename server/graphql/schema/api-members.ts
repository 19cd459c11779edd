import { addApiMember, listMembersForApis, loadApiOwners, removeApiMember, transferApiOwnership, viewerCanManage } from '../../domain/apis/index.ts';
import { getApi, type Api } from '../../domain/apis/index.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { User } from '../../domain/users.ts';
import { builder } from '../builder.ts';
import { ApiRef } from './apis.ts';
import { UserRef } from './users.ts';
import { apiId, userId } from '../global-id.ts';

/** An API's team: owner and members (publishers who manage it besides the owner). */

builder.objectFields(ApiRef, (t) => ({
  owner: t.loadable({
    type: UserRef,
    nullable: true,
    description: 'The user who owns the API (its creator unless transferred); null for consumers.',
    load: (ids: string[], ctx) => loadApiOwners(ctx.domain, ids),
    resolve: (api: Api) => api.ownerId,
  }),
  members: t.loadableList({
    type: UserRef,
    description: 'Publishers who manage the API besides its owner; empty for consumers.',
    load: (ids: string[], ctx) => listMembersForApis(ctx.domain, ids),
    resolve: (api: Api) => api.id,
  }),
  viewerCanManage: t.boolean({
    description: 'Whether the authenticated user may change this API, its plans, keys and subscriptions.',
    resolve: (api, _args, ctx) => viewerCanManage(ctx.domain, api.id),
  }),
}));

const memberErrors = [ValidationError, NotFoundError, ConflictError, ForbiddenError];

const ApiMemberPayload = (name: string) =>
  builder.objectRef<{ apiId: string; user: User }>(name).implement({
    fields: (t) => ({
      api: t.field({ type: ApiRef, resolve: (payload, _args, ctx) => getApi(ctx.domain, payload.apiId) }),
      user: t.field({ type: UserRef, resolve: (payload) => payload.user }),
    }),
  });

// add and remove: an API and a user in, both out.
for (const [field, act, description] of [
  ['addApiMember', addApiMember, "Adds a publisher to the API's members (the owner or an admin)."],
  ['removeApiMember', removeApiMember, 'Removes a member (the owner or an admin).'],
] as const) {
  builder.mutationField(field, (t) =>
    t.fieldWithInput({
      type: ApiMemberPayload(`${field[0]!.toUpperCase()}${field.slice(1)}Payload`),
      description,
      errors: { types: memberErrors },
      input: { apiId: t.input.globalID(), userId: t.input.globalID() },
      resolve: async (_root, { input }, ctx) => {
        const id = apiId(input.apiId);
        return { apiId: id, user: await act(ctx.domain, id, userId(input.userId)) };
      },
    }),
  );
}

const TransferApiOwnershipPayload = builder.objectRef<{ id: string }>('TransferApiOwnershipPayload').implement({
  fields: (t) => ({ api: t.field({ type: ApiRef, resolve: (payload, _args, ctx) => getApi(ctx.domain, payload.id) }) }),
});

builder.mutationField('transferApiOwnership', (t) =>
  t.fieldWithInput({
    type: TransferApiOwnershipPayload,
    description: 'Gives the API to another publisher or admin (the owner or an admin); a publisher owner stays on as a member.',
    errors: { types: memberErrors },
    input: { apiId: t.input.globalID(), newOwnerId: t.input.globalID() },
    resolve: (_root, { input }, ctx) => transferApiOwnership(ctx.domain, apiId(input.apiId), userId(input.newOwnerId)),
  }),
);
