import { httpMethods } from '../../domain/apis/index.ts';
import {
  type Api,
  type ApiSpecInput,
  createApi,
  deleteApi,
  deployApi,
  getApi,
  getApiByHandle,
  listApis,
  loadApiReachability,
  loadApis,
  type Operation,
  type PolicyAttachment,
  resolvedContext,
  undeployApi,
  updateApi,
  type Upstream,
  type UpstreamDefinition,
  type UpstreamTarget,
} from '../../domain/apis/index.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { accessModes, reachabilities } from '../../domain/reachability.ts';
import { canonicalPolicyName } from '../../domain/policy-registry.ts';
import { builder } from '../builder.ts';
import { apiId } from '../global-id.ts';
import { toUpstreamResilienceInput, UpstreamResilienceInputRef, UpstreamResilienceRef } from './upstream-resilience.ts';
import { connectionQueryField, deletionPayload, idMutationField, nodeById, nodePayload, nodeQueryField } from '../node-fields.ts';

export const ApiVisibilityEnum = builder.enumType('ApiVisibility', { values: ['public', 'private'] as const });
export const DeploymentStateEnum = builder.enumType('DeploymentState', { values: ['deployed', 'undeployed'] as const });
export const HttpMethodEnum = builder.enumType('HttpMethod', { values: httpMethods });
export const HostRewriteEnum = builder.enumType('HostRewrite', { values: ['auto', 'manual'] as const });
export const ApiAccessModeEnum = builder.enumType('ApiAccessMode', {
  description:
    'How an API admits traffic while none of its plans is PUBLISHED or DEPRECATED. Serving plans govern traffic in both modes (docs/plan-selection.md, "Who can reach an API").',
  values: {
    PLANS: { value: accessModes[0], description: 'Only through serving plans: with none, nobody (403). The default of createApi.' },
    OPEN: { value: accessModes[1], description: 'Open: the API’s own policies decide until a plan is published (v0.9; the default of REST-created APIs). Public APIs only: a private API without a serving plan is closed.' },
  } as const,
});
export const ApiReachabilityEnum = builder.enumType('ApiReachability', {
  description: 'How a request reaches the API now.',
  values: {
    OPEN: { value: reachabilities[0], description: 'Deployed, public, OPEN, no serving plan: anyone its own policies admit.' },
    PLANS: { value: reachabilities[1], description: 'Deployed with a PUBLISHED or DEPRECATED plan: only through its plans.' },
    CLOSED: { value: reachabilities[2], description: 'Deployed, no serving plan, PLANS or private: nobody (403 `No published plan admits traffic to this API.`).' },
    NOT_DEPLOYED: { value: reachabilities[3], description: 'Not deployed: no route (404).' },
  } as const,
});

interface Label {
  key: string;
  value: string;
}

const LabelRef = builder.objectRef<Label>('Label').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value') }),
});

const toLabels = (map: Record<string, string>): Label[] =>
  Object.entries(map)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => ({ key, value }));

export const PolicyAttachmentRef = builder.objectRef<PolicyAttachment>('PolicyAttachment').implement({
  description: 'A policy attached to an API or an operation (v0.9 `{name, version, executionCondition, params}`).',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'As given; may be a v0.9 alias.' }),
    canonicalName: t.string({ resolve: (p) => canonicalPolicyName(p.name) ?? p.name }),
    version: t.exposeString('version'),
    executionCondition: t.exposeString('executionCondition', { nullable: true }),
    params: t.field({ type: 'JSON', nullable: true, resolve: (p) => p.params }),
  }),
});

const UpstreamRef = builder.objectRef<Upstream>('Upstream').implement({
  fields: (t) => ({
    url: t.exposeString('url', { nullable: true }),
    ref: t.exposeString('ref', { nullable: true, description: 'Name of one of the API’s upstreamDefinitions.' }),
    hostRewrite: t.field({ type: HostRewriteEnum, nullable: true, resolve: (u) => u.hostRewrite }),
  }),
});

const ApiUpstreamsRef = builder.objectRef<Api['upstream']>('ApiUpstreams').implement({
  fields: (t) => ({
    main: t.field({ type: UpstreamRef, resolve: (u) => u.main }),
    sandbox: t.field({ type: UpstreamRef, nullable: true, resolve: (u) => u.sandbox }),
  }),
});

const UpstreamTargetRef = builder.objectRef<UpstreamTarget>('UpstreamTarget').implement({
  fields: (t) => ({
    url: t.exposeString('url'),
    weight: t.exposeInt('weight', { nullable: true, description: 'null = 100.' }),
  }),
});

const UpstreamDefinitionRef = builder.objectRef<UpstreamDefinition>('UpstreamDefinition').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    basePath: t.exposeString('basePath', { nullable: true }),
    connectTimeout: t.exposeString('connectTimeout', { nullable: true }),
    upstreams: t.field({ type: [UpstreamTargetRef], resolve: (d) => d.upstreams }),
  }),
});

const VhostsRef = builder.objectRef<NonNullable<Api['vhosts']>>('Vhosts').implement({
  fields: (t) => ({ main: t.exposeString('main'), sandbox: t.exposeString('sandbox', { nullable: true }) }),
});

const OperationRef = builder.objectRef<Operation>('Operation').implement({
  fields: (t) => ({
    method: t.field({ type: HttpMethodEnum, resolve: (o) => o.method }),
    path: t.exposeString('path'),
    policies: t.field({ type: [PolicyAttachmentRef], resolve: (o) => o.policies }),
    allowMethodOverride: t.exposeBoolean('allowMethodOverride', {
      description: 'The route keeps X-HTTP-Method-Override, X-Method-Override and X-HTTP-Method (docs/gateway.md).',
    }),
  }),
});

/** The Api node; other schema files extend it (`builder.objectField(ApiRef, 'plans', …)`). */
export const ApiRef = builder.loadableNode('Api', {
  description: 'A v0.9 RestApi with visibility.',
  ...nodeById('Api', loadApis),
  fields: (t) => ({
    handle: t.exposeString('handle', { description: 'v0.9 metadata.name; unique, never changes.' }),
    labels: t.field({ type: [LabelRef], resolve: (api) => toLabels(api.labels) }),
    annotations: t.field({ type: [LabelRef], resolve: (api) => toLabels(api.annotations) }),
    displayName: t.exposeString('displayName'),
    version: t.exposeString('version'),
    context: t.exposeString('context', { description: 'As given, possibly holding `$version`.' }),
    resolvedContext: t.string({ description: 'The context with `$version` substituted.', resolve: (api) => resolvedContext(api) }),
    upstream: t.field({ type: ApiUpstreamsRef, resolve: (api) => api.upstream }),
    upstreamDefinitions: t.field({ type: [UpstreamDefinitionRef], resolve: (api) => api.upstreamDefinitions }),
    vhosts: t.field({ type: VhostsRef, nullable: true, resolve: (api) => api.vhosts }),
    policies: t.field({ type: [PolicyAttachmentRef], resolve: (api) => api.policies }),
    operations: t.field({ type: [OperationRef], resolve: (api) => api.operations }),
    subscriptionPlans: t.stringList({ resolve: (api) => api.subscriptionPlans }),
    deploymentState: t.field({ type: DeploymentStateEnum, resolve: (api) => api.deploymentState }),
    deployedAt: t.expose('deployedAt', { type: 'DateTime', nullable: true }),
    visibility: t.field({ type: ApiVisibilityEnum, resolve: (api) => api.visibility }),
    accessMode: t.field({ type: ApiAccessModeEnum, resolve: (api) => api.accessMode }),
    upstreamResilience: t.field({ type: UpstreamResilienceRef, resolve: (api) => api.upstreamResilience }),
    reachability: t.loadable({
      type: ApiReachabilityEnum,
      description: 'Who can reach the API now, from its deployment state, access mode and plans (what the data planes are given).',
      load: (apis: Api[], ctx) => loadApiReachability(ctx.domain, apis),
      resolve: (api) => api,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

// ---- inputs: the v0.9 RestApi shape, so ValidationError paths (`spec.operations[0].path`) name input fields.

const LabelInput = builder.inputType('LabelInput', {
  fields: (t) => ({ key: t.string(), value: t.string() }),
});

const LabelFilterInput = builder.inputType('LabelFilterInput', {
  fields: (t) => ({ key: t.string(), value: t.string({ required: false, description: 'Absent: any value.' }) }),
});

/** A policy to attach, as input: `PolicyInput` on APIs and operations, `PlanPolicyInput` on plans. */
export const policyInputType = (name: string) =>
  builder.inputType(name, {
    fields: (t) => ({
      name: t.string(),
      version: t.string({ required: false, description: 'Major only, e.g. `v1`. Absent: the installed major, stored as such.' }),
      executionCondition: t.string({ required: false }),
      params: t.field({ type: 'JSON', required: false }),
    }),
  });

const PolicyInput = policyInputType('PolicyInput');

/** Params arrive as arbitrary JSON; the policy registry reports anything that is not an object. */
export const toPolicyInputs = (list: readonly (typeof PolicyInput.$inferInput)[] | null | undefined) =>
  list?.map((p) => ({ ...p, params: p.params as Record<string, unknown> | null | undefined }));

const UpstreamInput = builder.inputType('UpstreamInput', {
  fields: (t) => ({
    url: t.string({ required: false }),
    ref: t.string({ required: false }),
    hostRewrite: t.field({ type: HostRewriteEnum, required: false }),
  }),
});

const ApiUpstreamsInput = builder.inputType('ApiUpstreamsInput', {
  fields: (t) => ({ main: t.field({ type: UpstreamInput }), sandbox: t.field({ type: UpstreamInput, required: false }) }),
});

const UpstreamTargetInput = builder.inputType('UpstreamTargetInput', {
  fields: (t) => ({ url: t.string(), weight: t.int({ required: false }) }),
});

const UpstreamTimeoutInput = builder.inputType('UpstreamTimeoutInput', {
  fields: (t) => ({ connect: t.string({ required: false, description: 'Duration, e.g. `5s`, `500ms`.' }) }),
});

const UpstreamDefinitionInput = builder.inputType('UpstreamDefinitionInput', {
  fields: (t) => ({
    name: t.string(),
    basePath: t.string({ required: false }),
    timeout: t.field({ type: UpstreamTimeoutInput, required: false }),
    upstreams: t.field({ type: [UpstreamTargetInput] }),
  }),
});

const VhostsInput = builder.inputType('VhostsInput', {
  fields: (t) => ({ main: t.string(), sandbox: t.string({ required: false }) }),
});

const OperationInput = builder.inputType('OperationInput', {
  fields: (t) => ({
    method: t.field({ type: HttpMethodEnum }),
    path: t.string(),
    policies: t.field({ type: [PolicyInput], required: false }),
    allowMethodOverride: t.boolean({
      required: false,
      description: 'Keep X-HTTP-Method-Override, X-Method-Override and X-HTTP-Method on this route (the data planes remove them otherwise). Default false.',
    }),
  }),
});

const ApiSpecInputRef = builder.inputType('ApiSpecInput', {
  fields: (t) => ({
    displayName: t.string(),
    version: t.string(),
    context: t.string(),
    upstream: t.field({ type: ApiUpstreamsInput }),
    upstreamDefinitions: t.field({ type: [UpstreamDefinitionInput], required: false }),
    vhosts: t.field({ type: VhostsInput, required: false }),
    policies: t.field({ type: [PolicyInput], required: false }),
    operations: t.field({ type: [OperationInput] }),
    subscriptionPlans: t.stringList({ required: false }),
    deploymentState: t.field({ type: DeploymentStateEnum, required: false, description: 'Default deployed.' }),
  }),
});

const ApiMetadataInput = builder.inputType('ApiMetadataInput', {
  fields: (t) => ({
    name: t.string({ description: 'The handle: unique, no whitespace or `/`.' }),
    labels: t.field({ type: [LabelInput], required: false }),
    annotations: t.field({ type: [LabelInput], required: false }),
  }),
});

const UpdateApiMetadataInput = builder.inputType('UpdateApiMetadataInput', {
  fields: (t) => ({
    name: t.string({ required: false, description: 'When given, must equal the handle.' }),
    labels: t.field({ type: [LabelInput], required: false }),
    annotations: t.field({ type: [LabelInput], required: false }),
  }),
});

const fromLabels = (labels: readonly Label[] | null | undefined): Record<string, string> | null =>
  labels ? Object.fromEntries(labels.map((l) => [l.key, l.value])) : null;

type SpecArg = typeof ApiSpecInputRef.$inferInput;

/** GraphQL input -> domain input; shapes are the same but JSON params arrive as `unknown`. */
function toSpec(spec: SpecArg): ApiSpecInput {
  return {
    ...spec,
    policies: toPolicyInputs(spec.policies),
    operations: spec.operations.map((op) => ({ ...op, policies: toPolicyInputs(op.policies) })),
  };
}

nodeQueryField('api', ApiRef, getApi);

builder.queryField('apiByHandle', (t) =>
  t.field({
    type: ApiRef,
    nullable: true,
    args: { handle: t.arg.string({ required: true }) },
    resolve: (_root, { handle }, ctx) => getApiByHandle(ctx.domain, handle).catch(nullOnNotFound),
  }),
);

function nullOnNotFound(error: unknown): null {
  if (error instanceof NotFoundError) return null;
  throw error;
}

connectionQueryField('apis', ApiRef, {
  description: 'APIs the caller may read, oldest first.',
  args: (arg) => ({
    displayName: arg.string({ required: false }),
    version: arg.string({ required: false }),
    context: arg.string({ required: false, description: 'As given or with `$version` substituted.' }),
    deploymentState: arg({ type: DeploymentStateEnum, required: false }),
    visibility: arg({ type: ApiVisibilityEnum, required: false }),
    labels: arg({ type: [LabelFilterInput], required: false, description: 'All must match.' }),
  }),
  list: (ctx, args, page) =>
    listApis(
      ctx,
      {
        displayName: args.displayName ?? undefined,
        version: args.version ?? undefined,
        context: args.context ?? undefined,
        deploymentState: args.deploymentState ?? undefined,
        visibility: args.visibility ?? undefined,
        labels: args.labels ?? undefined,
      },
      page,
    ),
});

const CreateApiPayload = nodePayload('CreateApiPayload', 'api', ApiRef);
const UpdateApiPayload = nodePayload('UpdateApiPayload', 'api', ApiRef);
const DeployApiPayload = nodePayload('DeployApiPayload', 'api', ApiRef);
const UndeployApiPayload = nodePayload('UndeployApiPayload', 'api', ApiRef);
const DeleteApiPayload = deletionPayload('DeleteApiPayload', 'api', 'Api', { field: 'handle', of: (api: Api) => api.handle });

builder.mutationField('createApi', (t) =>
  t.fieldWithInput({
    type: CreateApiPayload,
    authScopes: { manager: true },
    errors: { types: [ValidationError, ConflictError, ForbiddenError] },
    input: {
      metadata: t.input.field({ type: ApiMetadataInput }),
      spec: t.input.field({ type: ApiSpecInputRef }),
      visibility: t.input.field({ type: ApiVisibilityEnum, required: false, description: 'Default public.' }),
      accessMode: t.input.field({ type: ApiAccessModeEnum, required: false, description: 'Default PLANS: nobody passes until a plan is published.' }),
      upstreamResilience: t.input.field({ type: UpstreamResilienceInputRef, required: false, description: 'Default none.' }),
    },
    resolve: async (_root, { input }, ctx) => ({
      api: await createApi(ctx.domain, {
        metadata: { name: input.metadata.name, labels: fromLabels(input.metadata.labels), annotations: fromLabels(input.metadata.annotations) },
        spec: toSpec(input.spec),
        visibility: input.visibility,
        accessMode: input.accessMode ?? 'PLANS',
        upstreamResilience: toUpstreamResilienceInput(input.upstreamResilience),
      }),
    }),
  }),
);

builder.mutationField('updateApi', (t) =>
  t.fieldWithInput({
    type: UpdateApiPayload,
    authScopes: { manager: true },
    errors: { types: [ValidationError, NotFoundError, ConflictError, ForbiddenError] },
    input: {
      id: t.input.globalID(),
      metadata: t.input.field({ type: UpdateApiMetadataInput, required: false }),
      spec: t.input.field({ type: ApiSpecInputRef }),
      visibility: t.input.field({ type: ApiVisibilityEnum, required: false, description: 'Absent: unchanged.' }),
      accessMode: t.input.field({ type: ApiAccessModeEnum, required: false, description: 'Absent: unchanged.' }),
      upstreamResilience: t.input.field({ type: UpstreamResilienceInputRef, required: false, description: 'Absent: unchanged; null: none.' }),
    },
    resolve: async (_root, { input }, ctx) => ({
      api: await updateApi(ctx.domain, apiId(input.id), {
        metadata: input.metadata
          ? { name: input.metadata.name, labels: fromLabels(input.metadata.labels), annotations: fromLabels(input.metadata.annotations) }
          : null,
        spec: toSpec(input.spec),
        visibility: input.visibility,
        accessMode: input.accessMode,
        upstreamResilience: toUpstreamResilienceInput(input.upstreamResilience),
      }),
    }),
  }),
);

idMutationField('deleteApi', DeleteApiPayload, {
  manager: true,
  description: 'Deletes the API with its plans, subscriptions and keys.',
  errors: [NotFoundError, ForbiddenError],
  run: async (ctx, id) => ({ api: await deleteApi(ctx, apiId(id)) }),
});

idMutationField('deployApi', DeployApiPayload, {
  manager: true,
  errors: [NotFoundError, ConflictError, ForbiddenError],
  run: async (ctx, id) => ({ api: await deployApi(ctx, apiId(id)) }),
});

idMutationField('undeployApi', UndeployApiPayload, {
  manager: true,
  errors: [NotFoundError, ForbiddenError],
  run: async (ctx, id) => ({ api: await undeployApi(ctx, apiId(id)) }),
});
