import { ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import {
  apiKeyLocations,
  jwtAlgorithms,
  jwtKeyResolvers,
  type PlanSecurity,
  type PlanSecurityInput,
  planSecurityTypes,
} from '../../domain/plan-security.ts';
import {
  closePlan,
  createPlan,
  createPlanVersion,
  deletePlan,
  deprecatePlan,
  loadPlans,
  listPlans,
  listPlansForApis,
  type Plan,
  type PlanPolicy,
  planStatuses,
  planValidations,
  publishPlan,
  updatePlan,
} from '../../domain/plans/index.ts';
import type { InputFieldBuilder } from '@pothos/core';
import { builder } from '../builder.ts';
import { ApiRef, policyInputType, toPolicyInputs } from './apis.ts';
import { AuthorizationServerRef } from './authorization-servers.ts';
import { rawId } from '../global-id.ts';
import { childListField, connectionQueryField, idMutationField, loadOne, nodePayload, nodeQueryField, type Types } from '../node-fields.ts';

export const PlanStatusEnum = builder.enumType('PlanStatus', {
  description: 'One-way lifecycle: STAGING -> PUBLISHED -> DEPRECATED -> CLOSED (STAGING may also close directly).',
  values: planStatuses,
});
export const PlanSecurityTypeEnum = builder.enumType('PlanSecurityType', { values: planSecurityTypes });
export const PlanValidationEnum = builder.enumType('PlanValidation', {
  description: 'AUTO accepts subscriptions at once; MANUAL waits for a publisher to approve or reject.',
  values: planValidations,
});
const JwtAlgorithmEnum = builder.enumType('JwtAlgorithm', { values: jwtAlgorithms });
const JwtKeyResolverEnum = builder.enumType('JwtKeyResolver', { values: jwtKeyResolvers });
const ApiKeyLocationEnum = builder.enumType('ApiKeyLocation', { values: apiKeyLocations });

type ApiKeySecurity = NonNullable<PlanSecurity['apiKey']>;
type JwtSecurity = NonNullable<PlanSecurity['jwt']>;
type OAuth2Security = NonNullable<PlanSecurity['oauth2']>;

const ApiKeySecurityRef = builder.objectRef<ApiKeySecurity>('ApiKeyPlanSecurity').implement({
  fields: (t) => ({
    keyLocation: t.field({ type: ApiKeyLocationEnum, resolve: (o) => o.keyLocation }),
    keyName: t.exposeString('keyName', { description: 'Header or query parameter holding the key.' }),
    propagateKey: t.exposeBoolean('propagateKey', { description: 'Whether the key is kept on the upstream request.' }),
  }),
});

const ClaimHeaderRef = builder.objectRef<{ claim: string; header: string }>('JwtClaimHeader').implement({
  fields: (t) => ({ claim: t.exposeString('claim'), header: t.exposeString('header') }),
});

const JwtSecurityRef = builder.objectRef<JwtSecurity>('JwtPlanSecurity').implement({
  fields: (t) => ({
    signatureAlgorithms: t.field({ type: [JwtAlgorithmEnum], resolve: (o) => o.signatureAlgorithms }),
    keyResolver: t.field({ type: JwtKeyResolverEnum, resolve: (o) => o.keyResolver }),
    givenKey: t.string({
      nullable: true,
      description: 'The GIVEN_KEY public key (PEM, JWK or ssh-rsa); null for other resolvers and for symmetric (oct) keys.',
      resolve: (o) => o.givenKey,
    }),
    jwksUrl: t.string({ nullable: true, resolve: (o) => o.jwksUrl ?? null }),
    clientIdClaim: t.string({ nullable: true, description: 'null: azp, then aud, then client_id.', resolve: (o) => o.clientIdClaim }),
    userClaim: t.exposeString('userClaim'),
    requiredScopes: t.exposeStringList('requiredScopes'),
    strictScopes: t.exposeBoolean('strictScopes', { description: 'All required scopes (true) or at least one (false).' }),
    extractClaims: t.field({ type: [ClaimHeaderRef], resolve: (o) => o.extractClaims }),
    propagateAuthHeader: t.exposeBoolean('propagateAuthHeader'),
    leewaySeconds: t.exposeInt('leewaySeconds'),
    requireExpiration: t.exposeBoolean('requireExpiration', { description: 'Tokens without an exp claim are refused (401).' }),
    maxTokenLifetime: t.exposeString('maxTokenLifetime', {
      nullable: true,
      description: 'The longest token lifetime (exp - iat) admitted, a duration such as 24h; null: no bound.',
    }),
  }),
});

const OAuth2SecurityRef = builder.objectRef<OAuth2Security>('OAuth2PlanSecurity').implement({
  fields: (t) => ({
    authorizationServer: t.field({
      type: AuthorizationServerRef,
      nullable: true,
      description: 'The authorization server introspecting tokens; null for a plan with inline introspection settings.',
      resolve: (o) => o.authorizationServerId,
    }),
    introspectionUrl: t.string({ nullable: true, description: 'Inline form only.', resolve: (o) => o.introspectionUrl }),
    clientId: t.string({ nullable: true, description: 'Inline form only.', resolve: (o) => o.clientId }),
    hasClientSecret: t.exposeBoolean('hasClientSecret', { description: 'Inline form only; the secret itself is write-only.' }),
    cacheTtlSeconds: t.int({ nullable: true, description: 'Inline form only.', resolve: (o) => o.cacheTtlSeconds }),
    requiredScopes: t.exposeStringList('requiredScopes'),
    strictScopes: t.exposeBoolean('strictScopes'),
    clientIdClaim: t.string({ nullable: true, description: 'Introspection member holding the client id; null: client_id.', resolve: (o) => o.clientIdClaim }),
    extractClaims: t.field({ type: [ClaimHeaderRef], resolve: (o) => o.extractClaims }),
    propagateAuthHeader: t.exposeBoolean('propagateAuthHeader'),
  }),
});

const PlanSecurityRef = builder.objectRef<PlanSecurity>('PlanSecurity').implement({
  description: 'The security type and the options of that type; the other types\u2019 fields are null.',
  fields: (t) => ({
    type: t.field({ type: PlanSecurityTypeEnum, resolve: (s) => s.type }),
    apiKey: t.field({ type: ApiKeySecurityRef, nullable: true, resolve: (s) => s.apiKey }),
    jwt: t.field({ type: JwtSecurityRef, nullable: true, resolve: (s) => s.jwt }),
    oauth2: t.field({ type: OAuth2SecurityRef, nullable: true, resolve: (s) => s.oauth2 }),
  }),
});

const PlanPolicyRef = builder.objectRef<PlanPolicy>('PlanPolicy').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    executionCondition: t.exposeString('executionCondition', { nullable: true }),
    params: t.field({ type: 'JSON', nullable: true, resolve: (p) => p.params }),
  }),
});

export const PlanRef = builder.node(builder.objectRef<Plan>('Plan'), {
  id: { resolve: (plan) => plan.id },
  loadMany: (ids, ctx) => loadPlans(ctx.domain, ids),
  fields: (t) => ({
    api: t.field({ type: ApiRef, resolve: (plan) => plan.apiId }),
    lineageId: t.exposeString('lineageId', { description: 'Shared by every version of this plan.' }),
    version: t.exposeInt('version'),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    security: t.field({ type: PlanSecurityRef, resolve: (p) => p.security }),
    policies: t.field({ type: [PlanPolicyRef], description: 'In execution order.', resolve: (p) => p.policies }),
    selectionRule: t.exposeString('selectionRule', { nullable: true }),
    validation: t.field({ type: PlanValidationEnum, resolve: (p) => p.validation }),
    status: t.field({ type: PlanStatusEnum, resolve: (p) => p.status }),
    position: t.exposeInt('position'),
    publishedAt: t.expose('publishedAt', { type: 'DateTime', nullable: true }),
    deprecatedAt: t.expose('deprecatedAt', { type: 'DateTime', nullable: true }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

childListField(ApiRef, 'plans', {
  type: PlanRef,
  description: 'Plans by position; consumers see PUBLISHED and DEPRECATED ones. Batched across APIs in one load.',
  load: listPlansForApis,
});

// Inputs: one object per security type, all under PlanSecurityInput (GraphQL has no input unions). Optional
// fields take the domain's defaults; requiredness per type is checked by the domain, with field paths.
const ApiKeySecurityInput = builder.inputType('ApiKeyPlanSecurityInput', {
  fields: (t) => ({
    keyLocation: t.field({ type: ApiKeyLocationEnum, required: false }),
    keyName: t.string({ required: false }),
    propagateKey: t.boolean({ required: false }),
  }),
});

const ClaimHeaderInput = builder.inputType('JwtClaimHeaderInput', {
  fields: (t) => ({ claim: t.string(), header: t.string() }),
});

/** What JWT and OAUTH2 plans ask of a token; the schema sorts fields, so where they are spread is free. */
const tokenRuleInputs = (t: InputFieldBuilder<Types, 'InputObject'>) => ({
  requiredScopes: t.stringList({ required: false }),
  strictScopes: t.boolean({ required: false }),
  clientIdClaim: t.string({ required: false }),
  extractClaims: t.field({ type: [ClaimHeaderInput], required: false }),
  propagateAuthHeader: t.boolean({ required: false }),
});

const JwtSecurityInput = builder.inputType('JwtPlanSecurityInput', {
  fields: (t) => ({
    signatureAlgorithms: t.field({ type: [JwtAlgorithmEnum], required: false }),
    keyResolver: t.field({ type: JwtKeyResolverEnum }),
    givenKey: t.string({ required: false }),
    jwksUrl: t.string({ required: false }),
    userClaim: t.string({ required: false }),
    leewaySeconds: t.int({ required: false }),
    requireExpiration: t.boolean({ required: false, description: 'Refuse tokens without an exp claim. Default: true.' }),
    maxTokenLifetime: t.string({
      required: false,
      description: 'The longest token lifetime (exp - iat) admitted, a duration such as 15m or 24h (1s..8760h). Omitted: 24h when '
        + 'requireExpiration, else none; null: no bound.',
    }),
    ...tokenRuleInputs(t),
  }),
});

const OAuth2SecurityInput = builder.inputType('OAuth2PlanSecurityInput', {
  description: 'Either `authorizationServerId`, or the inline `introspectionUrl` + `clientId` + `clientSecret`.',
  fields: (t) => ({
    authorizationServerId: t.globalID({ required: false }),
    introspectionUrl: t.string({ required: false }),
    clientId: t.string({ required: false }),
    clientSecret: t.string({ required: false, description: 'Write-only; omit on update to keep the current secret.' }),
    cacheTtlSeconds: t.int({ required: false }),
    ...tokenRuleInputs(t),
  }),
});

const SecurityInput = builder.inputType('PlanSecurityInput', {
  fields: (t) => ({
    type: t.field({ type: PlanSecurityTypeEnum }),
    apiKey: t.field({ type: ApiKeySecurityInput, required: false }),
    jwt: t.field({ type: JwtSecurityInput, required: false }),
    oauth2: t.field({ type: OAuth2SecurityInput, required: false }),
  }),
});

const PolicyInput = policyInputType('PlanPolicyInput');

/** Null means "not given": drop such keys so the domain's defaults apply, except `nullable` ones, where null is a value. */
function compact(value: object | null | undefined, nullable: readonly string[] = []): Record<string, unknown> | null {
  if (value == null) return null;
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => v != null || (v === null && nullable.includes(k))));
}

function toSecurityInput(input: {
  type: PlanSecurityInput['type'];
  apiKey?: object | null;
  jwt?: object | null;
  oauth2?: { authorizationServerId?: { typename: string; id: string } | null } | null;
}): PlanSecurityInput {
  const oauth2 = compact(input.oauth2);
  const server = input.oauth2?.authorizationServerId;
  if (oauth2 && server) oauth2.authorizationServerId = rawId(server, 'AuthorizationServer');
  // An explicit null maxTokenLifetime turns the default bound off.
  return { type: input.type, apiKey: compact(input.apiKey), jwt: compact(input.jwt, ['maxTokenLifetime']), oauth2 };
}


nodeQueryField('plan', PlanRef, loadOne(loadPlans));

connectionQueryField('plans', PlanRef, {
  description: 'Plans of one API, in creation order. Consumers see PUBLISHED and DEPRECATED plans only.',
  args: (arg) => ({
    apiId: arg.globalID({ required: true }),
    status: arg({ type: [PlanStatusEnum], required: false }),
    security: arg({ type: PlanSecurityTypeEnum, required: false }),
  }),
  list: (ctx, args, page) => listPlans(ctx, rawId(args.apiId, 'Api'), { status: args.status, security: args.security }, page),
});

const PlanPayload = (name: string) => nodePayload(name, 'plan', PlanRef);

const planErrors = [ValidationError, NotFoundError, ForbiddenError, InvalidTransitionError];

builder.mutationField('createPlan', (t) =>
  t.fieldWithInput({
    type: PlanPayload('CreatePlanPayload'),
    authScopes: { manager: true },
    errors: { types: planErrors },
    input: {
      apiId: t.input.globalID(),
      name: t.input.string(),
      description: t.input.string({ required: false }),
      security: t.input.field({ type: SecurityInput }),
      policies: t.input.field({ type: [PolicyInput], required: false }),
      selectionRule: t.input.string({ required: false }),
      validation: t.input.field({ type: PlanValidationEnum, required: false }),
      position: t.input.int({ required: false }),
    },
    resolve: async (_root, { input }, ctx) => ({
      plan: await createPlan(ctx.domain, {
        ...input,
        apiId: rawId(input.apiId, 'Api'),
        security: toSecurityInput(input.security),
        policies: toPolicyInputs(input.policies),
      }),
    }),
  }),
);

builder.mutationField('updatePlan', (t) =>
  t.fieldWithInput({
    type: PlanPayload('UpdatePlanPayload'),
    description: 'A PUBLISHED, DEPRECATED or CLOSED plan takes only name and description; anything else needs createPlanVersion.',
    authScopes: { manager: true },
    errors: { types: planErrors },
    input: {
      id: t.input.globalID(),
      name: t.input.string({ required: false }),
      description: t.input.string({ required: false }),
      security: t.input.field({ type: SecurityInput, required: false }),
      policies: t.input.field({ type: [PolicyInput], required: false }),
      selectionRule: t.input.string({ required: false }),
      validation: t.input.field({ type: PlanValidationEnum, required: false }),
      position: t.input.int({ required: false }),
    },
    resolve: async (_root, { input }, ctx) => ({
      plan: await updatePlan(ctx.domain, rawId(input.id, 'Plan'), {
        ...input,
        security: input.security ? toSecurityInput(input.security) : undefined,
        policies: toPolicyInputs(input.policies),
      }),
    }),
  }),
);

const transitions = [
  ['publishPlan', 'PublishPlanPayload', publishPlan],
  ['deprecatePlan', 'DeprecatePlanPayload', deprecatePlan],
  ['closePlan', 'ClosePlanPayload', closePlan],
  ['createPlanVersion', 'CreatePlanVersionPayload', createPlanVersion],
] as const;

for (const [field, payload, run] of transitions) {
  idMutationField(field, PlanPayload(payload), {
    manager: true,
    errors: planErrors,
    run: async (ctx, id) => ({ plan: await run(ctx, rawId(id, 'Plan')) }),
  });
}

const DeletePlanPayload = builder.objectRef<{ plan: Plan }>('DeletePlanPayload').implement({
  fields: (t) => ({
    deletedPlanId: t.globalID({ resolve: (payload) => ({ type: 'Plan', id: payload.plan.id }) }),
  }),
});

idMutationField('deletePlan', DeletePlanPayload, {
  manager: true,
  description: 'Only a STAGING plan without subscriptions; close the others.',
  errors: planErrors,
  run: async (ctx, id) => ({ plan: await deletePlan(ctx, rawId(id, 'Plan')) }),
});
